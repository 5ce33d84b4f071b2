"""The gateway app: `uvicorn gateway.main:app`. Build one per settings with `create_app`."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import redis.asyncio as aioredis
from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from sqlalchemy.orm import sessionmaker

from gateway.errors import BodySizeLimit, PathGuard, document_errors, install_error_handlers
from gateway.routes import (
    access,
    agents,
    bulk_jobs,
    corrections,
    customer_pages,
    customers,
    deliveries,
    forecast,
    health,
    kb,
    macros,
    metrics,
    overview,
    tags,
    tickets,
    views,
    webhooks,
)
from gateway.sweeper import sweep_forever
from shared.config import Settings, get_settings
from shared.db import make_engine
from shared.fastapi_http import HeadAsGet
from shared.fastapi_metrics import RequestMetrics


def create_app(settings: Settings | None = None, *, sweeper: bool = True) -> FastAPI:
    """A gateway bound to `settings` (database, Redis, CORS); the sweeper runs in its lifespan."""
    settings = settings or get_settings()
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = make_engine(settings.database_url, pool_size=settings.db_pool_size)
        app.state.settings = settings
        app.state.engine = engine
        app.state.sessionmaker = sessionmaker(bind=engine, expire_on_commit=False)
        app.state.redis = aioredis.Redis.from_url(settings.redis_url, socket_connect_timeout=2)
        app.state.forecast_http = httpx.AsyncClient(
            base_url=settings.forecast_base_url,
            timeout=httpx.Timeout(settings.forecast_timeout_s, connect=min(5.0, settings.forecast_timeout_s)),
        )
        task = (
            asyncio.create_task(sweep_forever(app.state.sessionmaker, app.state.redis, settings)) if sweeper else None
        )
        try:
            yield
        finally:
            if task:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await app.state.redis.aclose()
            await app.state.forecast_http.aclose()
            engine.dispose()

    app = FastAPI(
        title="Support Copilot gateway",
        version="0.1.0",
        description=(
            "Ticket intake and query API. AI results arrive asynchronously; poll with `?wait=N`. "
            "`/api/forecast/*` is relayed to the forecast service (FORECAST_URL), which answers those paths."
        ),
        lifespan=lifespan,
    )
    app.add_middleware(
        CORSMiddleware,
        allow_origins=settings.cors_origins,
        allow_methods=["*"],
        allow_headers=["*"],
    )
    app.add_middleware(PathGuard, relayed_prefix=f"{forecast.router.prefix}/")
    app.add_middleware(BodySizeLimit, limit=settings.max_body_bytes)
    app.add_middleware(RequestMetrics, service="gateway")  # outside all but HeadAsGet: it sees every answer
    app.add_middleware(HeadAsGet)
    install_error_handlers(app)
    document_errors(app)
    forecast.document_relayed(app)
    app.include_router(health.router)
    app.include_router(metrics.router)
    app.include_router(tickets.router)
    app.include_router(overview.router)
    app.include_router(agents.router)
    app.include_router(agents.activity_router)
    app.include_router(webhooks.router)
    app.include_router(access.tickets_router)
    app.include_router(access.keys_router)
    app.include_router(access.me_router)
    app.include_router(kb.router)
    app.include_router(corrections.router)
    app.include_router(forecast.router)
    app.include_router(deliveries.router)
    app.include_router(deliveries.replies_router)
    app.include_router(deliveries.statuses_router)
    app.include_router(customers.router)
    app.include_router(tags.router)
    app.include_router(macros.router)
    app.include_router(macros.tickets_router)
    app.include_router(views.router)
    app.include_router(bulk_jobs.router)
    app.include_router(customer_pages.requests_router)
    app.include_router(customer_pages.rating_router)
    app.include_router(customer_pages.tickets_router)
    return app


app = create_app()
