"""Alerts to the team's own webhook when the AI rates a ticket urgent: the outbox side.

A critical ticket must reach someone now, not when an agent next opens the queue. The classifier writes
an `Alert` row in the transaction that stores the priority it is about (`raise_alert`), then sends the
delivery task (`send_alert`); the alert worker POSTs it (`classifier_worker.alerts`). A crash between
the two, a broker outage or a Redis restart leaves the row undelivered, and the sweeper sends it again
(`resend_due_alerts`). Delivery is at least once: each alert carries its id for the receiver to drop
a repeat. Tickets about to miss a reply or resolution target are alerted through the same outbox
(`gateway.services.due_alerts`, raised by the sweeper).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import uuid
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from shared.celery import ALERT_TASK, ALERTS_QUEUE, send_quietly
from shared.config import Settings
from shared.models import Alert, Ticket, utcnow
from shared.schemas import PRIORITY_RANK, AlertEvent, Priority

log = logging.getLogger(__name__)

TEXT_CHARS = 400


def raise_alert(session: Session, ticket: Ticket, settings: Settings) -> str | None:
    """Add the alert `ticket`'s AI priority calls for, in the caller's transaction; returns its id, or None
    when none is due: alerts off, a priority below ALERT_MIN_PRIORITY, or this priority already alerted.

    The caller holds the ticket's row (the classifier's claim), so two rounds of one ticket cannot both add
    one; the unique (ticket, priority) constraint backs that up.
    """
    priority = ticket.ai_suggested_priority
    if not settings.alert_webhook_url or priority is None:
        return None
    if PRIORITY_RANK[Priority(priority)] < PRIORITY_RANK[settings.alert_min_priority]:
        return None
    seen = select(Alert.alert_id).where(
        Alert.ticket_id == ticket.ticket_id, Alert.event == AlertEvent.urgent.value, Alert.priority == priority
    )
    if session.scalar(seen) is not None:
        return None
    alert = Alert(
        alert_id=str(uuid.uuid4()),
        ticket_id=ticket.ticket_id,
        event=AlertEvent.urgent.value,
        priority=priority,
        counted_from=ticket.created_at,
        created_at=utcnow(),
    )
    alert.payload = payload(alert, ticket, settings.alert_ticket_url)
    session.add(alert)
    return alert.alert_id


def payload(alert: Alert, ticket: Ticket, link: str | None = None, *, line: str | None = None) -> dict[str, Any]:
    """What the webhook receives: the subject and the AI's assessment as it stood, but not the message itself
    nor the customer's address (a chat channel is no place for them; the id, or the `link` made from
    ALERT_TICKET_URL, finds the ticket), and a one-line `text` for chat tools, opening with `line` (by
    default the AI's rating: what an urgent alert is about)."""
    line = line or f"{alert.priority.upper()} {ticket.ai_suggested_category or 'general'} ticket {ticket.ticket_id}"
    text = f"{line}: {ticket.subject}. {ticket.ai_reasoning or ''}".strip()
    url = link.replace("{ticket_id}", quote(ticket.ticket_id, safe="")) if link else None
    if len(text) > TEXT_CHARS:
        text = text[: TEXT_CHARS - 1] + "…"
    return {
        "id": alert.alert_id,
        "event": alert.event,
        "created_at": alert.created_at.isoformat(),
        "text": f"{text} {url}" if url else text,
        "ticket": {
            "ticket_id": ticket.ticket_id,
            "url": url,
            "subject": ticket.subject,
            "source": ticket.source,
            "status": ticket.status,
            "created_at": ticket.created_at.isoformat(),
            "priority": ticket.ai_suggested_priority,  # the AI's (an urgent alert's own)
            "working_priority": ticket.priority,  # an agent's, when they chose another
            "assigned_to": ticket.assigned_to,  # the agent id, for a chat to mention the owner
            "category": ticket.ai_suggested_category,
            "sentiment": ticket.sentiment,
            "confidence": ticket.ai_confidence,
            "urgency_keywords": list(ticket.urgency_keywords or []),
            "reasoning": ticket.ai_reasoning,
            "needs_review": ticket.needs_review,
        },
    }


def send_alert(alert_id: str) -> bool:
    """Send the delivery task of a committed alert; False (logged) leaves it to the sweeper."""
    return send_quietly(ALERT_TASK, alert_id, ALERTS_QUEUE)


def resend_due_alerts(
    session: Session, *, older_than_s: float, now: datetime | None = None, limit: int = 500
) -> list[str]:
    """Send the delivery task again for undelivered alerts whose next attempt is `older_than_s` overdue
    (never sent, lost with Redis, or its worker died mid-attempt); returns their ids.

    `next_attempt_at` moves to now, so an alert whose task keeps getting lost is sent once per
    `older_than_s`, and a retry waiting out its countdown is left alone.
    """
    now = now or utcnow()
    cutoff = now - timedelta(seconds=older_than_s)
    due = session.scalars(
        select(Alert.alert_id)
        .where(
            Alert.pending(),
            or_(Alert.next_attempt_at.is_(None), Alert.next_attempt_at < cutoff),
            Alert.created_at < cutoff,
        )
        .order_by(Alert.created_at)
        .limit(limit)
    ).all()
    sent: list[str] = []
    for alert_id in due:
        if send_alert(alert_id):
            session.execute(update(Alert).where(Alert.alert_id == alert_id).values(next_attempt_at=now))
            sent.append(alert_id)
    session.commit()
    if sent:
        log.info("sweeper re-sent %d undelivered alert(s)", len(sent))
    return sent


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """`X-Copilot-Signature`'s value: `t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>." + body>`. Signing the
    time with the body lets a receiver refuse a replayed alert by its age (the scheme Stripe uses)."""
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
