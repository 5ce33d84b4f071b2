"""Every error the gateway returns is `{"detail": "<what is wrong>"}` with a 4xx, mapped here only."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from sqlalchemy.exc import DataError, IntegrityError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import compile_path
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.errors import CopilotError
from shared.fastapi_db import install_db_error_handlers

log = logging.getLogger(__name__)


def describe_validation_errors(errors: list[dict[str, Any]]) -> str:
    """Human-readable 'field: reason' list, e.g. `body.customer_email: value is not a valid email address`."""
    parts = []
    for err in errors:
        loc = ".".join(str(p) for p in err.get("loc", ()) if p != "body") or "body"
        if err.get("type") == "json_invalid":
            parts.append(f"request body is not valid JSON ({err.get('ctx', {}).get('error', 'parse error')})")
            continue
        if err.get("type") == "extra_forbidden":
            parts.append(f"{loc}: unknown field")
            continue
        parts.append(f"{loc}: {err.get('msg', 'invalid')}")
    return "; ".join(parts)


def install_error_handlers(app: FastAPI) -> None:
    """Register the one mapping from exceptions to HTTP answers."""

    @app.exception_handler(CopilotError)
    async def _domain(_: Request, exc: CopilotError) -> JSONResponse:
        content: dict[str, Any] = {"detail": str(exc)}
        if exc.status_code == 422:  # the same shape as a schema validation error
            content["errors"] = [{"loc": [], "msg": str(exc), "type": "value_error"}]
        return JSONResponse(status_code=exc.status_code, content=content)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = list(exc.errors())
        return JSONResponse(
            status_code=422,
            content={"detail": describe_validation_errors(errors), "errors": _jsonable(errors)},
        )

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

    install_db_error_handlers(app)


class NulPathGuard:
    """Answers 404 for a path containing NUL (%00): no id holds one, and PostgreSQL cannot even compare
    such a value, so the lookup would fail instead of finding nothing."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and "\x00" in scope["path"]:
            detail = "not found: the path contains a NUL character"
            await JSONResponse(status_code=404, content={"detail": detail})(scope, receive, send)
            return
        await self.app(scope, receive, send)


ERROR_SCHEMA: dict[str, Any] = {
    "title": "Error",
    "type": "object",
    "required": ["detail"],
    "properties": {"detail": {"type": "string", "description": "What is wrong, naming the field or id"}},
}
VALIDATION_ERROR_SCHEMA: dict[str, Any] = {
    "title": "HTTPValidationError",
    "type": "object",
    "required": ["detail", "errors"],
    "properties": {
        "detail": {"type": "string", "description": "'field: reason' for every invalid field, '; '-joined"},
        "errors": {"type": "array", "items": {"$ref": "#/components/schemas/ValidationError"}},
    },
}
_GENERIC = {
    "401": "Missing, invalid or revoked API key",
    "403": "The key's role does not allow this route",
    "429": "Rate limit exceeded; see Retry-After",
}
_UNAVAILABLE = "A dependency (database, broker or worker) is unavailable, or the database lacks migrations; retry"


def document_errors(app: FastAPI) -> None:
    """Make the OpenAPI document say what the handlers above really answer.

    FastAPI documents only 422, and with its own shape; here every operation also lists 401/403/429
    when it is secured, 404 when it addresses a resource by id, 503 (database or broker down), and
    every error body is `{"detail": str}` (422 adds `errors`). Routes add their own 409s.
    """
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = build()
        schemas = schema.setdefault("components", {}).setdefault("schemas", {})
        schemas["HTTPValidationError"] = VALIDATION_ERROR_SCHEMA
        schemas["Error"] = ERROR_SCHEMA
        error_ref = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
        for path, operations in schema.get("paths", {}).items():
            for operation in operations.values():
                responses = operation.setdefault("responses", {})
                extra: dict[str, str] = {}
                if operation.get("security"):
                    extra.update(_GENERIC)
                if "{" in path:
                    extra["404"] = "No such resource (the message names the id)"
                if path not in ("/health",):
                    extra["503"] = _UNAVAILABLE
                if "requestBody" in operation:
                    extra["400"] = "The body could not be read (not UTF-8 or not decodable)"
                    extra["413"] = "The body is larger than MAX_BODY_BYTES"
                for code, description in extra.items():
                    responses.setdefault(code, {"description": description})
                for code, response in responses.items():
                    if code.startswith(("4", "5")) and code != "422" and "content" not in response:
                        response["content"] = error_ref
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def _allowed_methods(app: FastAPI, path: str) -> list[str]:
    """Methods the OpenAPI document lists for every operation whose path template matches `path`."""
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
    return sorted({m for methods in (literal or [methods for _, methods in matches]) for m in methods})


def _jsonable(errors: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"loc": list(e.get("loc", ())), "msg": str(e.get("msg", "")), "type": e.get("type")} for e in errors]


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
