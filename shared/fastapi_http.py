"""HTTP behaviour both FastAPI apps share and FastAPI leaves out."""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send


def with_head(methods: list[str]) -> list[str]:
    """The methods a path serves, sorted, with HEAD wherever GET is (what `HeadAsGet` makes true)."""
    return sorted({*methods, "HEAD"} if "GET" in methods else set(methods))


class HeadAsGet:
    """Answer `HEAD` wherever `GET` is served: the same status and headers, no body.

    FastAPI routes serve no HEAD (Starlette's own routes do), so uptime monitors and load balancers
    that probe with HEAD saw 405 and counted the service down. The app runs the GET, so auth, rate
    limits and errors are GET's; a 405 lists HEAD wherever it lists GET.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        head = scope["method"] == "HEAD"

        async def answer(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] == 405:
                headers = MutableHeaders(scope=message)
                allowed = [m.strip() for m in headers.get("allow", "").split(",") if m.strip()]
                if "GET" in allowed and "HEAD" not in allowed:
                    headers["allow"] = ", ".join(with_head(allowed))
            elif head and message["type"] == "http.response.body":
                if message.get("more_body", False):
                    return
                message = {"type": "http.response.body", "body": b"", "more_body": False}
            await send(message)

        await self.app({**scope, "method": "GET"} if head else scope, receive, answer)
