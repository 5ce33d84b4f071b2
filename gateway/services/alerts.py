"""The alerts sent to ALERT_WEBHOOK_URL: listed for whoever watches them, and a failed one sent again."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from shared.alerts import send_alert
from shared.db import claim_row
from shared.errors import Conflict, NotFound
from shared.models import Alert, utcnow
from shared.schemas import AlertCounts, AlertFilters, AlertState


def list_alerts(session: Session, filters: AlertFilters) -> Sequence[Alert]:
    """Newest first, narrowed by state, event and ticket."""
    query = select(Alert)
    if filters.ticket_id is not None:
        query = query.where(Alert.ticket_id == filters.ticket_id)
    if filters.event is not None:
        query = query.where(Alert.event == filters.event.value)
    if filters.state == AlertState.delivered:
        query = query.where(Alert.delivered_at.is_not(None))
    elif filters.state == AlertState.failed:  # never delivered, as the undelivered index holds
        query = query.where(Alert.failed_at.is_not(None), Alert.delivered_at.is_(None))
    elif filters.state == AlertState.pending:
        query = query.where(Alert.pending())
    query = query.order_by(Alert.created_at.desc(), Alert.alert_id).limit(filters.limit).offset(filters.offset)
    return session.scalars(query).all()


def alert_counts(session: Session) -> AlertCounts:
    """The undelivered alerts, pending and failed, for the overview, from the index of the undelivered."""
    pending = Alert.failed_at.is_(None)
    counts = session.execute(
        select(
            func.count().filter(pending), func.count().filter(~pending), func.min(Alert.created_at).filter(pending)
        ).where(Alert.delivered_at.is_(None))
    ).one()
    return AlertCounts(pending=counts[0], failed=counts[1], oldest_pending_since=counts[2])


def retry_alert(session: Session, alert_id: str) -> Alert:
    """Send a failed alert again with a fresh set of attempts, once the webhook is fixed; committed before it
    is sent, so a broker that is down leaves it to the sweeper."""
    alert = session.get(Alert, alert_id)
    if alert is None:
        raise NotFound(f"alert {alert_id} not found")
    if alert.failed_at is None or not claim_row(session, Alert, alert_id, failed_at=alert.failed_at):
        session.refresh(alert)
        state = "was delivered" if alert.delivered_at else "is still being delivered"
        raise Conflict(f"alert {alert_id} {state}; only a failed alert is sent again")
    alert.failed_at = None
    alert.attempts = 0
    alert.next_attempt_at = utcnow()
    session.commit()
    send_alert(alert_id)
    return alert
