"""The deliveries to webhooks, alerts (ALERT_WEBHOOK_URL) and agents' replies (REPLY_WEBHOOK_URL): listed
for whoever watches them, counted for the overview, and a failed one sent again."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from shared.db import claim_row
from shared.errors import Conflict, NotFound
from shared.models import Alert, Delivery, utcnow
from shared.outbox import ALERTS, Outbox, send
from shared.schemas import AlertFilters, DeliveryCounts, DeliveryFilters, DeliveryState


def list_deliveries(
    session: Session, outbox: Outbox, filters: DeliveryFilters, *where: ColumnElement[bool]
) -> Sequence[Any]:
    """Newest first, narrowed by state, ticket and `where`."""
    model = outbox.model
    query = select(model).where(*where)
    if filters.ticket_id is not None:
        query = query.where(model.ticket_id == filters.ticket_id)
    if filters.state == DeliveryState.delivered:
        query = query.where(model.delivered_at.is_not(None))
    elif filters.state == DeliveryState.failed:  # never delivered, as the undelivered index holds
        query = query.where(model.failed_at.is_not(None), model.delivered_at.is_(None))
    elif filters.state == DeliveryState.pending:
        query = query.where(model.pending())
    query = query.order_by(model.created_at.desc(), outbox.key).limit(filters.limit).offset(filters.offset)
    return session.scalars(query).all()


def list_alerts(session: Session, filters: AlertFilters) -> Sequence[Alert]:
    """The alerts, narrowed by event and route too."""
    where = [Alert.event == filters.event.value] if filters.event is not None else []
    if filters.route is not None:
        where.append(Alert.route == filters.route.value)
    return list_deliveries(session, ALERTS, filters, *where)


def delivery_counts(session: Session, outbox: Outbox) -> DeliveryCounts:
    """The undelivered rows, pending and failed, for the overview, from the index of the undelivered."""
    model = outbox.model
    pending = model.failed_at.is_(None)
    counts = session.execute(
        select(
            func.count().filter(pending), func.count().filter(~pending), func.min(model.created_at).filter(pending)
        ).where(model.delivered_at.is_(None))
    ).one()
    return DeliveryCounts(pending=counts[0], failed=counts[1], oldest_pending_since=counts[2])


def retry_delivery(session: Session, outbox: Outbox, key: str | int) -> Delivery:
    """Send a failed delivery again with a fresh set of attempts, once the webhook is fixed; committed before
    it is sent, so a broker that is down leaves it to the sweeper."""
    row = outbox.get(session, key)
    if row is None:
        raise NotFound(f"{outbox.name} {key} not found")
    if row.failed_at is None or not claim_row(session, outbox.model, key, failed_at=row.failed_at):
        session.refresh(row)
        state = "was delivered" if row.delivered_at else "is still being delivered"
        raise Conflict(f"{outbox.name} {key} {state}; only a failed {outbox.name} is sent again")
    row.failed_at = None
    row.attempts = 0
    row.next_attempt_at = utcnow()
    session.commit()
    send(outbox, key)
    return row
