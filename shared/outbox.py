"""Webhook deliveries written as outbox rows: alerts to the team's webhook, and agents' replies and status
moves to a web or API ticket's channel. The row is written in the transaction that stores what it is about,
then its task is sent (`send`); the alert worker POSTs it (`classifier_worker.delivery`). A crash between the
two, a broker outage or a Redis restart leaves the row undelivered, and the sweeper sends it again
(`resend_due`). Delivery is at least once: each body carries its id for the receiver to drop a repeat.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pydantic import SecretStr
from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from shared.celery import ALERT_TASK, ALERTS_QUEUE, REPLIES_QUEUE, REPLY_TASK, STATUS_TASK, send_quietly
from shared.config import Settings
from shared.models import Alert, ReplyDelivery, StatusDelivery, utcnow

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Outbox:
    """One kind of delivery: its rows and their key, its task and queue, and the settings naming its webhook."""

    name: str  # in logs and errors: "alert", "reply", "status change"
    model: type[Alert | ReplyDelivery | StatusDelivery]
    key: Any  # the rows' primary key column, the task's one argument
    task: str
    queue: str
    id_header: str  # the header carrying the key, beside the body's `id`
    url_setting: str
    secret_setting: str

    def get(self, session: Session, key: str | int) -> Alert | ReplyDelivery | StatusDelivery | None:
        return session.get(self.model, key)  # type: ignore[return-value]  # the union's members, not their base

    def url(self, settings: Settings, route: str | None = None) -> str | None:
        """Where a row goes: an alert's route's webhook (ALERT_ROUTES; a route since removed falls back), else
        the outbox's URL setting."""
        if route is not None and (routed := settings.alert_routes.get(route)):
            return routed
        return getattr(settings, self.url_setting)  # type: ignore[no-any-return]

    def secret(self, settings: Settings) -> SecretStr | None:
        return getattr(settings, self.secret_setting)  # type: ignore[no-any-return]


ALERTS = Outbox(
    "alert", Alert, Alert.alert_id, ALERT_TASK, ALERTS_QUEUE, "x-copilot-alert-id",
    "alert_webhook_url", "alert_webhook_secret",
)  # fmt: skip
REPLIES = Outbox(
    "reply", ReplyDelivery, ReplyDelivery.message_id, REPLY_TASK, REPLIES_QUEUE, "x-copilot-message-id",
    "reply_webhook_url", "reply_webhook_secret",
)  # fmt: skip
STATUSES = Outbox(  # the replies' backend, queue and settings: the channel hears of both
    "status change", StatusDelivery, StatusDelivery.delivery_id, STATUS_TASK, REPLIES_QUEUE, "x-copilot-event-id",
    "reply_webhook_url", "reply_webhook_secret",
)  # fmt: skip


def send(outbox: Outbox, key: str | int, *, countdown: float | None = None) -> bool:
    """Send the delivery task of a committed row, to start after `countdown` s; False (logged) leaves it to the
    sweeper."""
    return send_quietly(outbox.task, key, outbox.queue, countdown=countdown)


def resend_due(
    session: Session, outbox: Outbox, *, older_than_s: float, now: datetime | None = None, limit: int = 500
) -> list[Any]:
    """Send the delivery task again for undelivered rows whose next attempt is `older_than_s` overdue
    (never sent, lost with Redis, or its worker died mid-attempt); returns their keys.

    `next_attempt_at` moves to now, so a row whose task keeps getting lost is sent once per
    `older_than_s`, and a retry waiting out its countdown is left alone.
    """
    now = now or utcnow()
    cutoff = now - timedelta(seconds=older_than_s)
    model = outbox.model
    due = session.scalars(
        select(outbox.key)
        .where(
            model.pending(),
            or_(model.next_attempt_at.is_(None), model.next_attempt_at < cutoff),
            model.created_at < cutoff,
        )
        .order_by(model.created_at)
        .limit(limit)
    ).all()
    sent: list[Any] = []
    for key in due:
        if send(outbox, key):
            session.execute(update(model).where(outbox.key == key).values(next_attempt_at=now))
            sent.append(key)
    session.commit()
    if sent:
        log.info("sweeper re-sent %d undelivered %s(s)", len(sent), outbox.name)
    return sent


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """`X-Copilot-Signature`'s value: `t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>." + body>`. Signing the
    time with the body lets a receiver refuse a replayed delivery by its age (the scheme Stripe uses)."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def verify(secret: str, header: str, body: bytes, *, now: int, tolerance_s: int = 300) -> bool:
    """A receiver's check of `signature` (what the README shows; the tests use it): the MAC compared in
    constant time, the timestamp within `tolerance_s`."""
    parts = dict(part.split("=", 1) for part in header.split(",") if "=" in part)
    try:
        timestamp = int(parts["t"])
    except (KeyError, ValueError):
        return False
    expected = signature(secret, timestamp, body).split(",v1=", 1)[1]
    return abs(now - timestamp) <= tolerance_s and hmac.compare_digest(expected, parts.get("v1", ""))
