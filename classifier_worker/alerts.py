"""Deliver one alert to ALERT_WEBHOOK_URL: the alert worker's job (the outbox side is `shared.alerts`).

An attempt is claimed in the database before the POST (attempts + 1, `next_attempt_at` pushed past the
request's timeout), so a duplicate task arriving meanwhile finds it taken and skips; the row lock is
not held over the network. A 2xx delivers it; a connection error, a timeout or a status that says "later"
(408, 425, 429, 500, 502, 503, 504) is tried again, backing off up to 5 minutes (a `Retry-After` is
honoured within that) until ALERT_MAX_ATTEMPTS; any other answer (the receiver refused this alert: a bad
URL, a rejected signature, 501) fails it at once, with the reason kept in `last_error` for `GET /api/alerts`.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from datetime import timedelta

import httpx
from sqlalchemy import or_, update
from sqlalchemy.orm import Session, sessionmaker

from shared.alerts import signature
from shared.celery import retry_countdown
from shared.config import Settings
from shared.db import session_scope
from shared.models import Alert, utcnow

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
    alert_id: str,
    *,
    settings: Settings,
    factory: sessionmaker[Session] | None = None,
) -> Outcome:
    """One delivery attempt of `alert_id`, recorded on its row."""
    with session_scope(factory) as session:
        claimed = _claim(session, alert_id, lease_s=settings.alert_timeout_s + 30)
        if claimed is None:
            return Outcome("skipped")
        attempt, body = claimed
        if not settings.alert_webhook_url:
            _finish(session, alert_id, failed=True, error="ALERT_WEBHOOK_URL is not set")
            return Outcome("failed", error="ALERT_WEBHOOK_URL is not set")

    error, retry_after = _post(settings, alert_id, body)
    with session_scope(factory) as session:
        if error is None:
            _finish(session, alert_id)
            log.info("alert %s delivered (attempt %d)", alert_id, attempt)
            return Outcome("delivered")
        if retry_after is None or attempt >= settings.alert_max_attempts:
            _finish(session, alert_id, failed=True, error=error)
            log.warning("alert %s failed after %d attempt(s): %s", alert_id, attempt, error)
            return Outcome("failed", error=error)
        countdown = max(retry_countdown(attempt - 1, maximum=MAX_BACKOFF_S), min(retry_after, MAX_BACKOFF_S))
        session.execute(
            update(Alert)
            .where(Alert.alert_id == alert_id)
            .values(next_attempt_at=utcnow() + timedelta(seconds=countdown), last_error=error[:500])
        )
        log.warning("alert %s attempt %d: %s; next in %.0f s", alert_id, attempt, error, countdown)
        return Outcome("retry", countdown=countdown, error=error)


def _claim(session: Session, alert_id: str, *, lease_s: float) -> tuple[int, bytes] | None:
    """Take the next attempt of an undelivered alert whose attempt is due: (its number, the body), or None."""
    now = utcnow()
    taken = session.execute(
        update(Alert)
        .where(
            Alert.alert_id == alert_id,
            Alert.pending(),
            or_(Alert.next_attempt_at.is_(None), Alert.next_attempt_at <= now),
        )
        .values(attempts=Alert.attempts + 1, next_attempt_at=now + timedelta(seconds=lease_s))
        .execution_options(synchronize_session=False)
    )
    if taken.rowcount != 1:  # type: ignore[attr-defined]
        return None
    alert = session.get(Alert, alert_id)  # not loaded before in this session: read as the update left it
    assert alert is not None
    body = json.dumps(alert.payload, separators=(",", ":"), ensure_ascii=False).encode()
    return alert.attempts, body


def _post(settings: Settings, alert_id: str, body: bytes) -> tuple[str | None, float | None]:
    """POST the body; (None, None) on 2xx, else (the error, seconds to wait before a retry, or None when the
    receiver refused it for good)."""
    headers = {"content-type": "application/json", "user-agent": "support-copilot", "x-copilot-alert-id": alert_id}
    if settings.alert_webhook_secret is not None:
        secret = settings.alert_webhook_secret.get_secret_value()
        headers["x-copilot-signature"] = signature(secret, int(time.time()), body)
    try:
        response = httpx.post(
            settings.alert_webhook_url or "", content=body, headers=headers, timeout=settings.alert_timeout_s
        )
    except httpx.HTTPError as exc:
        detail = str(exc)
        return (f"{type(exc).__name__}: {detail}" if detail else type(exc).__name__), 0.0
    if response.is_success:
        return None, None
    error = f"HTTP {response.status_code}: {response.text[:200]}"
    if response.status_code in RETRYABLE_STATUS:
        return error, _retry_after(response)
    return error, None


def _retry_after(response: httpx.Response) -> float:
    """A `Retry-After` given in seconds, else 0 (the backoff alone decides)."""
    try:
        return max(float(response.headers.get("retry-after", "0")), 0.0)
    except ValueError:
        return 0.0


def _finish(session: Session, alert_id: str, *, failed: bool = False, error: str | None = None) -> None:
    now = utcnow()
    values = {"failed_at": now, "last_error": (error or "")[:500]} if failed else {"delivered_at": now}
    session.execute(update(Alert).where(Alert.alert_id == alert_id).values(next_attempt_at=None, **values))
