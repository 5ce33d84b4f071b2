"""HTTP request figures for Prometheus, shared by the gateway and the forecast service.

Each request is counted by its route's template (`/api/tickets/{ticket_id}`, never the path itself, so ids
and scanners' paths cannot grow the series; a path no route takes is `unmatched`) and status, and timed.
These live in the process that answered. Under several worker processes (compose's `uvicorn --workers 2`)
a scrape reaches one of them, so with PROMETHEUS_MULTIPROC_DIR set, as compose sets it, prometheus_client
keeps every process's values in files there and a scrape sums them: its documented multiprocess mode. The
folder must be emptied before the processes start (compose's command does), or an earlier run's counts are
added in. `make run`'s single process keeps them in memory.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, disable_created_metrics
from prometheus_client.core import Metric
from prometheus_client.exposition import choose_encoder
from prometheus_client.multiprocess import MultiProcessCollector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

PREFIX = "support_copilot_"  # every family's name, in both services
MULTIPROCESS_ENV = "PROMETHEUS_MULTIPROC_DIR"
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
UNMATCHED = "unmatched"

disable_created_metrics()  # no `_created` series beside each counter: the text format's noise, nothing reads it
_REGISTRY = CollectorRegistry()
REQUESTS = Counter(
    PREFIX + "http_requests",
    "HTTP requests answered, by service, method, route template and status",
    ["service", "method", "route", "status"],
    registry=_REGISTRY,
)
DURATION = Histogram(
    PREFIX + "http_request_duration_seconds",
    "Time from a request's arrival to the end of its answer, by service, method and route template",
    ["service", "method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
    registry=_REGISTRY,
)


# How both services' `GET /metrics` document their answer.
RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "Prometheus's text format, or OpenMetrics when the `Accept` header asks for it",
        "content": {"text/plain": {"example": f"# HELP {PREFIX}http_requests_total HTTP requests answered, ...\n"}},
    }
}


def encode(families: Iterable[Metric], accept: str | None) -> tuple[bytes, str]:
    """`families` and the HTTP requests' in the format the scraper's `Accept` asks for (OpenMetrics, or
    Prometheus's text format), as prometheus_client negotiates it: the body and its content type."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Families([*families, *request_families()]))
    encoder, content_type = choose_encoder(accept or "")
    return encoder(registry), content_type


class _Families:
    """A collector of families already built: one scrape's snapshot, never kept."""

    def __init__(self, families: list[Metric]) -> None:
        self.families = families

    def collect(self) -> Iterable[Metric]:
        return self.families


def request_families() -> Iterable[Metric]:
    """Every process's request figures in multiprocess mode, else this process's."""
    if os.environ.get(MULTIPROCESS_ENV):
        summed = CollectorRegistry()
        MultiProcessCollector(summed)
        return summed.collect()
    return _REGISTRY.collect()


class RequestMetrics:
    """ASGI middleware counting and timing each HTTP request. Outside every middleware but `HeadAsGet`, so it
    sees every answer (the 413 of an oversized body, the 404 of a path no route takes, a 500) with the route
    the router matched, if any; a HEAD is counted as the GET it runs."""

    def __init__(self, app: ASGIApp, service: str) -> None:
        self.app = app
        self.service = service

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500  # an exception that escapes the app is answered 500 by the server's outer layer

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            route = getattr(scope.get("route"), "path", None) or UNMATCHED
            method = scope["method"] if scope["method"] in METHODS else "other"
            REQUESTS.labels(self.service, method, route, str(status)).inc()
            DURATION.labels(self.service, method, route).observe(time.perf_counter() - start)
