"""The forecast service app: `uvicorn forecast_service.main:app --port 8001`.

The model loads once in the lifespan (never at import) and a daily retrain runs in the
same process at FORECAST_RETRAIN_HOUR (UTC).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import FastAPI

from forecast_service.metrics import router as metrics_router
from forecast_service.routes import admin_router, router
from forecast_service.service import ForecastService
from shared.auth import Role
from shared.config import Settings, get_settings
from shared.db import get_engine, make_engine
from shared.fastapi_auth import require
from shared.fastapi_db import install_db_error_handlers
from shared.fastapi_errors import document_errors, install_validation_handler
from shared.fastapi_http import HeadAsGet
from shared.fastapi_metrics import RequestMetrics

logger = logging.getLogger(__name__)


def seconds_until(hour: int, now: datetime) -> float:
    """Seconds from `now` to the next `hour`:00 UTC."""
    target = now.replace(hour=hour, minute=0, second=0, microsecond=0)
    if target <= now:
        target += timedelta(days=1)
    return (target - now).total_seconds()


async def daily_retrain(service: ForecastService, hour: int) -> None:
    """Retrain every day at `hour` UTC; failures are logged and the loop goes on."""
    while True:
        await asyncio.sleep(seconds_until(hour, datetime.now(UTC)))
        try:
            result = await asyncio.to_thread(service.retrain)
            logger.info("daily forecast retrain: %s", result)
        except Exception:
            logger.exception("daily forecast retrain failed")


def create_app(settings: Settings | None = None) -> FastAPI:
    """The FastAPI app; `settings` overrides the environment (tests)."""
    explicit = settings is not None
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = make_engine(settings.database_url) if explicit else get_engine()
        service = await asyncio.to_thread(ForecastService, settings=settings, engine=engine)
        app.state.forecast = service
        app.state.background_tasks = set()
        schedule = None
        if settings.forecast_retrain_hour is not None:
            schedule = asyncio.create_task(daily_retrain(service, settings.forecast_retrain_hour))
        try:
            yield
        finally:
            tasks: set[asyncio.Task[Any]] = set(app.state.background_tasks)
            if schedule is not None:
                tasks.add(schedule)
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            if explicit:
                engine.dispose()

    app = FastAPI(title="Support Copilot forecast service", version="0.1.0", lifespan=lifespan)
    app.state.settings = settings  # the auth dependency reads AUTH_DISABLED, the DB and Redis from it
    app.add_middleware(RequestMetrics, service="forecast")
    app.add_middleware(HeadAsGet)
    install_validation_handler(app)
    install_db_error_handlers(app)
    document_errors(app)
    app.include_router(router, dependencies=[require(Role.manager)])
    app.include_router(admin_router, dependencies=[require(Role.admin)])  # retraining costs minutes of CPU
    app.include_router(metrics_router)  # any key, or METRICS_TOKEN

    @app.get("/health", include_in_schema=False)
    def health() -> dict[str, str]:
        return {"status": "ok"}

    return app


app = create_app()
