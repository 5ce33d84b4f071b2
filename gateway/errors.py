"""Every error the gateway returns is `{"detail": "<what is wrong>"}` with a 4xx, mapped here only."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.responses import JSONResponse, Response
from sqlalchemy.exc import DataError, IntegrityError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import compile_path
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.errors import CopilotError
from shared.fastapi_db import install_db_error_handlers
from shared.fastapi_errors import document_errors as shared_document_errors
from shared.fastapi_errors import install_validation_handler
from shared.fastapi_http import with_head

log = logging.getLogger(__name__)


def install_error_handlers(app: FastAPI) -> None:
    """Register the one mapping from exceptions to HTTP answers."""

    @app.exception_handler(CopilotError)
    async def _domain(_: Request, exc: CopilotError) -> JSONResponse:
        content: dict[str, Any] = {"detail": str(exc)}
        if exc.status_code == 422:  # the same shape as a schema validation error
            content["errors"] = [{"loc": [], "msg": str(exc), "type": "value_error"}]
        return JSONResponse(status_code=exc.status_code, content=content)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code == 405:
            # Starlette's Allow lists only the first route object matching the path; GET and DELETE of
            # one path are separate routes here, so answer from the documented operations instead.
            allowed = _allowed_methods(app, request.url.path)
            if allowed:
                return JSONResponse(
                    status_code=405,
                    content={"detail": f"method {request.method} not allowed here; allowed: {', '.join(allowed)}"},
                    headers={"Allow": ", ".join(allowed)},
                )
        return await http_exception_handler(request, exc)

    @app.exception_handler(IntegrityError)
    async def _integrity(_: Request, exc: IntegrityError) -> JSONResponse:
        log.info("integrity error: %s", exc.orig)
        return JSONResponse(status_code=409, content={"detail": "conflicts with an existing record"})

    @app.exception_handler(DataError)
    async def _unstorable(_: Request, exc: DataError) -> JSONResponse:
        # A value the database refuses (e.g. NUL in text on PostgreSQL) is the client's input, not a 500.
        reason = str(exc.orig).splitlines()[0] if exc.orig else "value out of range"
        detail = f"a value in the request cannot be stored: {reason}"
        errors = [{"loc": [], "msg": detail, "type": "value_error"}]
        return JSONResponse(status_code=422, content={"detail": detail, "errors": errors})

    install_validation_handler(app)
    install_db_error_handlers(app)


class PathGuard:
    """Answers 404 for a path no resource can have, which would otherwise be answered by the wrong code:
    one containing NUL (%00), which PostgreSQL cannot even compare, so the lookup would fail instead of
    finding nothing; and one ending in a line feed (%0A), which Starlette's route patterns (Python's `$`
    matches before a final newline) route to the path without it: `GET /api/tickets/%0A` listed tickets
    where one ticket was asked for (a fuzz finding). Relayed forecast paths are the forecast service's to
    answer (its path parameters are numbers: 422)."""

    def __init__(self, app: ASGIApp, relayed_prefix: str) -> None:
        self.app, self.relayed_prefix = app, relayed_prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] == "http" and not path.startswith(self.relayed_prefix) and (reason := _unroutable(path)):
            answer = JSONResponse(status_code=404, content={"detail": f"not found: the path {reason}"})
            await answer(scope, receive, send)
            return
        await self.app(scope, receive, send)


def _unroutable(path: str) -> str | None:
    if "\x00" in path:
        return "contains a NUL character"
    if path.endswith("\n"):
        return "ends with a line feed (%0A)"
    return None


def document_errors(app: FastAPI) -> None:
    """The shared error documentation, plus the gateway's own: 404 for a resource by id, and 400/413
    for any operation with a body. Routes add their own 409s."""

    def gateway_codes(path: str, operation: dict[str, Any]) -> dict[str, str]:
        codes: dict[str, str] = {}
        if "{" in path:
            codes["404"] = "No such resource (the message names the id)"
        if "requestBody" in operation:
            codes["400"] = "The body could not be read (not UTF-8 or not decodable)"
            codes["413"] = "The body is larger than MAX_BODY_BYTES"
        return codes

    shared_document_errors(app, gateway_codes)


def _allowed_methods(app: FastAPI, path: str) -> list[str]:
    """Methods the OpenAPI document lists for the operations whose path template matches `path`, HEAD beside GET."""
    table = getattr(app.state, "allowed_methods_table", None)
    if table is None:
        table = [
            (template, compile_path(template)[0], [m.upper() for m in operations])
            for template, operations in app.openapi().get("paths", {}).items()
        ]
        app.state.allowed_methods_table = table
    matches = [(template, methods) for template, regex, methods in table if regex.match(path)]
    # A literal path wins over a template that happens to match it (/api/tickets/create is not a ticket id).
    literal = [methods for template, methods in matches if "{" not in template]
    return with_head([m for methods in (literal or [methods for _, methods in matches]) for m in methods])


class BodySizeLimit:
    """413 for a request body over `limit` bytes, before the app reads it.

    FastAPI reads a whole body into memory before validating it: a 100 MB post cost 210 MB of
    gateway RSS only to be refused. The largest valid body (20,000 characters, every one escaped)
    is far below the default 1 MiB. Webhook routes are skipped, because they read their own body,
    bounded by WEBHOOK_MAX_BODY_BYTES.
    """

    def __init__(self, app: ASGIApp, limit: int, skip_prefix: str = "/api/tickets/webhook/") -> None:
        self.app, self.limit, self.skip_prefix = app, limit, skip_prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(self.skip_prefix):
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        declared = headers.get(b"content-length")
        if declared is not None:  # the server delivers no more than it declares
            if declared.isdigit() and int(declared) > self.limit:
                await self._refuse(scope, receive, send)
            else:
                await self.app(scope, receive, send)
            return
        if b"transfer-encoding" not in headers:  # neither header: no body (GETs, long polls) to read here
            await self.app(scope, receive, send)
            return
        # Chunked: read it here, up to the limit, then hand the app what was read.
        messages: list[Message] = []
        size = 0
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                break
            size += len(message.get("body", b""))
            if size > self.limit:
                await self._refuse(scope, receive, send)
                return
            if not message.get("more_body"):
                break

        async def replay() -> Message:
            return messages.pop(0) if messages else await receive()

        await self.app(scope, replay, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        detail = f"request body exceeds {self.limit} bytes (MAX_BODY_BYTES)"
        await JSONResponse(status_code=413, content={"detail": detail})(scope, receive, send)
