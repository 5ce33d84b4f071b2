"""One error shape for both HTTP services: `{"detail": "<what is wrong>"}`, and on a 422 also `errors`.

The gateway relays `/api/forecast/*`, so a client meets the forecast service's errors at the same
address as the gateway's: they must read the same, and their OpenAPI documents must say so.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

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
_SECURED = {
    "401": "Missing, invalid or revoked API key",
    "403": "The key's role does not allow this route",
    "429": "Rate limit exceeded; see Retry-After",
}
_UNAVAILABLE = "A dependency (database, broker or worker) is unavailable, or the database lacks migrations; retry"


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


def jsonable_errors(errors: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Pydantic's error list without the parts that are not JSON (ctx may hold exceptions)."""
    return [{"loc": list(e.get("loc", ())), "msg": str(e.get("msg", "")), "type": e.get("type")} for e in errors]


def install_validation_handler(app: FastAPI) -> None:
    """422 as `{"detail": "field: reason; ...", "errors": [...]}` instead of FastAPI's bare list."""

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = list(exc.errors())
        content = {"detail": describe_validation_errors(errors), "errors": jsonable_errors(errors)}
        return JSONResponse(status_code=422, content=content)


def document_errors(
    app: FastAPI, extra: Callable[[str, dict[str, Any]], dict[str, str]] = lambda path, operation: {}
) -> None:
    """Make the OpenAPI document say what the handlers really answer.

    FastAPI documents only 422, and with its own shape; here every secured operation also lists
    401/403/429, every one but `/health` 503 (database down or unmigrated), `extra(path, operation)`
    adds the app's own codes, and every error body is `{"detail": str}` (422 adds `errors`).
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
                codes: dict[str, str] = {}
                if operation.get("security"):
                    codes.update(_SECURED)
                if path != "/health":
                    codes["503"] = _UNAVAILABLE
                codes.update(extra(path, operation))
                for code, description in codes.items():
                    responses.setdefault(code, {"description": description})
                for code, response in responses.items():
                    if code.startswith(("4", "5")) and code != "422" and "content" not in response:
                        response["content"] = error_ref
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
