"""Forwarding `/api/forecast/*` to the forecast service, so clients need one base URL (the seed's :8000).

The forecast service checks the API key and rate limit itself (the same keys table), so the gateway
passes the credentials through untouched instead of checking, and counting, each request twice.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import httpx

from shared.errors import CopilotError, NotFound, Unavailable

log = logging.getLogger(__name__)

# Request headers the forecast service reads; anything else (cookies, hop-by-hop) stays here.
FORWARDED_REQUEST_HEADERS = ("authorization", "x-api-key", "accept", "content-type", "x-request-id")
# Response headers that describe the connection, not the answer, or that httpx already undid.
HOP_BY_HOP = frozenset(
    {
        "connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer",
        "transfer-encoding", "upgrade", "content-length", "content-encoding", "date", "server",
    }
)  # fmt: skip


class ForecastTimeout(CopilotError):
    """The forecast service took the connection but did not answer in FORECAST_TIMEOUT_S."""

    status_code = 504


class ForecastBadAnswer(CopilotError):
    """The forecast service broke the HTTP exchange (closed mid-answer, spoke something else)."""

    status_code = 502


@dataclass(frozen=True)
class Relayed:
    status_code: int
    content: bytes
    headers: dict[str, str]


def upstream_target(raw_path: bytes, query_string: bytes) -> str:
    """The path and query to ask the forecast service, byte for byte as the client sent them.

    Dot segments are refused rather than normalised: `/api/forecast/../x` must not reach any other
    route of the forecast service.
    """
    path = raw_path.decode("latin-1")
    segments = path.split("/")
    if any(s in (".", "..") or s.lower() in ("%2e", "%2e%2e", ".%2e", "%2e.") for s in segments):
        raise NotFound(f"not found: {path} (dot segments are not forwarded)")
    return path + ("?" + query_string.decode("latin-1") if query_string else "")


async def relay(
    client: httpx.AsyncClient, *, method: str, target: str, headers: dict[str, str], body: bytes
) -> Relayed:
    """Ask the forecast service and hand back its answer as it is: status, body and headers."""
    sent = {name: value for name, value in headers.items() if name.lower() in FORWARDED_REQUEST_HEADERS}
    try:
        response = await client.request(method, target, headers=sent, content=body or None)
    except httpx.HTTPError as exc:
        error = _failure(exc, client)
        log.warning("relaying %s %s: %s", method, target, error)
        raise error from exc
    kept = {name: value for name, value in response.headers.items() if name.lower() not in HOP_BY_HOP}
    return Relayed(response.status_code, response.content, kept)


def _failure(exc: httpx.HTTPError, client: httpx.AsyncClient) -> CopilotError:
    """503 when nothing answers at FORECAST_URL, 504 when it does not answer in time, else 502."""
    reason = str(exc) or type(exc).__name__
    if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout):
        return Unavailable(f"forecast service unavailable at {client.base_url} ({reason}); retry shortly")
    if isinstance(exc, httpx.TimeoutException):
        waited = client.timeout.read
        return ForecastTimeout(
            f"forecast service at {client.base_url} did not answer within {waited:g} s (FORECAST_TIMEOUT_S)"
        )
    return ForecastBadAnswer(f"forecast service at {client.base_url} broke off its answer ({reason})")
