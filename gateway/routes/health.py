"""Liveness and readiness probes."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from gateway.services.health import check_database, check_redis
from shared.schemas import HealthRead

router = APIRouter(tags=["health"])


@router.get("/health", response_model=HealthRead)
def health() -> HealthRead:
    """The process is up."""
    return HealthRead(status="ok")


@router.get("/ready", response_model=HealthRead, responses={503: {"model": HealthRead}})
async def ready(request: Request) -> JSONResponse:
    """200 when both the database and Redis answer, else 503 naming what is down."""
    checks = {
        "database": await run_in_threadpool(check_database, request.app.state.sessionmaker),
        "redis": await check_redis(request.app.state.redis),
    }
    ok = all(v == "ok" for v in checks.values())
    body = HealthRead(status="ok" if ok else "unavailable", checks=checks)
    return JSONResponse(status_code=200 if ok else 503, content=body.model_dump())
