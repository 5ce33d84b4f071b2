"""How the HTTP services answer when the database fails them: a 503 saying why, never a 500.

Shared by the gateway and the forecast service, which both read the database on every request
(keys, tickets, arrivals history).
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError, OperationalError, ProgrammingError

from shared.db import MIGRATE_HINT, is_missing_schema

log = logging.getLogger(__name__)


def install_db_error_handlers(app: FastAPI) -> None:
    """Database down: 503 "retry shortly". Database without this code's migrations: 503 naming the fix."""

    @app.exception_handler(OperationalError)
    async def _db_down(_: Request, exc: OperationalError) -> JSONResponse:
        if is_missing_schema(exc):
            return _unmigrated(exc)
        log.error("database unavailable: %s", exc.orig)
        return JSONResponse(status_code=503, content={"detail": "database unavailable, retry shortly"})

    @app.exception_handler(ProgrammingError)
    async def _programming(_: Request, exc: ProgrammingError) -> JSONResponse:
        if is_missing_schema(exc):
            return _unmigrated(exc)
        raise exc  # any other: a defect of ours, left to the server's 500 and traceback


def _unmigrated(exc: DBAPIError) -> JSONResponse:
    """A deployment that skipped its migrations: the operator's to fix, so 503 saying how, not a 500."""
    log.error("database schema is missing what this code needs (%s); %s", exc.orig, MIGRATE_HINT)
    detail = f"database schema is not migrated to this version: {MIGRATE_HINT}"
    return JSONResponse(status_code=503, content={"detail": detail})
