"""Every error the gateway returns is `{"detail": "<what is wrong>"}` with a 4xx, mapped here only."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import IntegrityError, OperationalError

from shared.errors import CopilotError

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
        return JSONResponse(status_code=exc.status_code, content={"detail": str(exc)})

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = list(exc.errors())
        return JSONResponse(
            status_code=422,
            content={"detail": describe_validation_errors(errors), "errors": _jsonable(errors)},
        )

    @app.exception_handler(IntegrityError)
    async def _integrity(_: Request, exc: IntegrityError) -> JSONResponse:
        log.info("integrity error: %s", exc.orig)
        return JSONResponse(status_code=409, content={"detail": "conflicts with an existing record"})

    @app.exception_handler(OperationalError)
    async def _db_down(_: Request, exc: OperationalError) -> JSONResponse:
        log.error("database unavailable: %s", exc.orig)
        return JSONResponse(status_code=503, content={"detail": "database unavailable, retry shortly"})


def _jsonable(errors: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"loc": list(e.get("loc", ())), "msg": str(e.get("msg", "")), "type": e.get("type")} for e in errors]
