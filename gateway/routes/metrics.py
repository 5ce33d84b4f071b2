"""`GET /metrics`: the queue's state for Prometheus (gateway.services.metrics)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request, Response

from gateway.services.metrics import scrape
from shared.fastapi_auth import RequireMetricsReader
from shared.fastapi_metrics import RESPONSES

router = APIRouter(tags=["health"])


@router.get(
    "/metrics",
    dependencies=[Depends(RequireMetricsReader())],
    response_class=Response,
    responses=RESPONSES,
)
async def metrics(request: Request) -> Response:
    """Ticket counts by status and AI state, the unresolved queue and what is past its targets, undelivered
    webhooks, and each Celery queue's length, read from the database and Redis at each scrape; and the HTTP
    requests answered, by route and status. Any key may read them (a `monitor` key may read nothing else),
    or METRICS_TOKEN."""
    state = request.app.state
    body, content_type = await scrape(
        state.sessionmaker, state.redis, state.settings.targets, request.headers.get("accept")
    )
    return Response(body, media_type=content_type)
