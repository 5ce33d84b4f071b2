"""Deliver one outbox row to its webhook: an alert to ALERT_WEBHOOK_URL (or to its category's, ALERT_ROUTES), an
agent's reply or status move to REPLY_WEBHOOK_URL. The alert worker's job; the outbox side is `shared.outbox`.

An attempt is claimed in the database before the POST (attempts + 1, `next_attempt_at` pushed past the
request's timeout), so a duplicate task arriving meanwhile finds it taken and skips; the row lock is
not held over the network. A 2xx delivers it; a connection error, a timeout or a status that says "later"
(408, 425, 429, 500, 502, 503, 504) is tried again, backing off up to 5 minutes (a `Retry-After` is
honoured within that) until ALERT_MAX_ATTEMPTS; any other answer (the receiver refused this one: a bad
URL, a rejected signature, 501) fails it at once, with the reason kept in `last_error` (`GET /api/alerts`,
a reply's `delivery` in the ticket's messages, `GET /api/status-changes`).
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from datetime import timedelta
from functools import cache
from typing import Any

import httpx
from sqlalchemy import or_, update
from sqlalchemy.orm import Session, sessionmaker

from shared.alerts import slack_message
from shared.celery import retry_countdown
from shared.config import Settings
from shared.db import session_scope
from shared.models import utcnow
from shared.outbox import ALERTS, Outbox, signature

log = logging.getLogger(__name__)
MAX_BACKOFF_S = 300.0
RETRYABLE_STATUS = {408, 425, 429, 500, 502, 503, 504}


@dataclass(frozen=True)
class Outcome:
    """What an attempt came to: `delivered`, `retry` (after `countdown` s), `failed`, or `skipped` (already
    delivered or failed, taken by another attempt, or gone)."""

    status: str
    countdown: float = 0.0
    error: str | None = None


def deliver(
    key: str | int,
    *,
    settings: Settings,
    factory: sessionmaker[Session] | None = None,
    outbox: Outbox = ALERTS,
) -> Outcome:
    """One delivery attempt of the row `key` of `outbox`, recorded on it."""
    what = f"{outbox.name} {key}"
    with session_scope(factory) as session:
        claimed = _claim(session, outbox, key, lease_s=settings.alert_timeout_s + 30)
        if claimed is None:
            return Outcome("skipped")
        attempt, payload, route = claimed
        url = outbox.url(settings, route)
        if not url:
            unset = f"{outbox.url_setting.upper()} is not set" + (f" and ALERT_ROUTES has no {route}" if route else "")
            _finish(session, outbox, key, failed=True, error=unset)
            return Outcome("failed", error=unset)

    slack = outbox is ALERTS and settings.alert_format == "slack"  # ALERT_FORMAT: Slack's message, not ours
    body = json.dumps(slack_message(payload) if slack else payload, separators=(",", ":"), ensure_ascii=False)
    error, retry_after = _post(settings, outbox, url, key, body.encode())
    with session_scope(factory) as session:
        if error is None:
            _finish(session, outbox, key)
            log.info("%s delivered (attempt %d)", what, attempt)
            return Outcome("delivered")
        if retry_after is None or attempt >= settings.alert_max_attempts:
            _finish(session, outbox, key, failed=True, error=error)
            log.warning("%s failed after %d attempt(s): %s", what, attempt, error)
            return Outcome("failed", error=error)
        countdown = max(retry_countdown(attempt - 1, maximum=MAX_BACKOFF_S), min(retry_after, MAX_BACKOFF_S))
        session.execute(
            update(outbox.model)
            .where(outbox.key == key)
            .values(next_attempt_at=utcnow() + timedelta(seconds=countdown), last_error=error[:500])
        )
        log.warning("%s attempt %d: %s; next in %.0f s", what, attempt, error, countdown)
        return Outcome("retry", countdown=countdown, error=error)


def _claim(
    session: Session, outbox: Outbox, key: str | int, *, lease_s: float
) -> tuple[int, dict[str, Any], str | None] | None:
    """Take the next attempt of an undelivered row whose attempt is due: (its number, the body to send, an
    alert's route), or None."""
    now, model = utcnow(), outbox.model
    taken = session.execute(
        update(model)
        .where(
            outbox.key == key,
            model.pending(),
            or_(model.next_attempt_at.is_(None), model.next_attempt_at <= now),
        )
        .values(attempts=model.attempts + 1, next_attempt_at=now + timedelta(seconds=lease_s))
        .execution_options(synchronize_session=False)
    )
    if taken.rowcount != 1:  # type: ignore[attr-defined]
        return None
    row = outbox.get(session, key)  # not loaded before in this session: read as the update left it
    assert row is not None
    return row.attempts, row.payload, getattr(row, "route", None)


def _post(settings: Settings, outbox: Outbox, url: str, key: str | int, body: bytes) -> tuple[str | None, float | None]:
    """POST the body; (None, None) on 2xx, else (the error, seconds to wait before a retry, or None when the
    receiver refused it for good)."""
    headers = {"content-type": "application/json", "user-agent": "support-copilot", outbox.id_header: str(key)}
    if (secret := outbox.secret(settings)) is not None:
        headers["x-copilot-signature"] = signature(secret.get_secret_value(), int(time.time()), body)
    try:
        response = _http().post(url, content=body, headers=headers, timeout=settings.alert_timeout_s)
    except httpx.HTTPError as exc:
        detail = str(exc)
        return (f"{type(exc).__name__}: {detail}" if detail else type(exc).__name__), 0.0
    if response.is_success:
        return None, None
    error = f"HTTP {response.status_code}: {response.text[:200]}"
    if response.status_code in RETRYABLE_STATUS:
        return error, _retry_after(response)
    return error, None


@cache
def _http() -> httpx.Client:
    """One client per worker process (made in the pool's child, on its first delivery): a bare `httpx.post`
    builds a client, TLS context included, per request, and opens a new connection each time."""
    return httpx.Client()


def _retry_after(response: httpx.Response) -> float:
    """A `Retry-After` given in seconds, else 0 (the backoff alone decides)."""
    try:
        return max(float(response.headers.get("retry-after", "0")), 0.0)
    except ValueError:
        return 0.0


def _finish(
    session: Session, outbox: Outbox, key: str | int, *, failed: bool = False, error: str | None = None
) -> None:
    now = utcnow()
    values = {"failed_at": now, "last_error": (error or "")[:500]} if failed else {"delivered_at": now}
    session.execute(update(outbox.model).where(outbox.key == key).values(next_attempt_at=None, **values))
