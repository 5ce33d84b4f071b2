"""Alerts for tickets about to miss a target: a customer's wait for a reply (the first response target, then
the next reply target) or the ticket's resolution target runs out within ALERT_DUE_WITHIN_MINUTES.

An urgent alert says a ticket is serious; nothing said one was about to be late, short of someone watching
the queue sorted by `?sort=reply_due`. The sweeper's pass raises these through the urgent alerts' outbox, so
their delivery, retries, signing and failed list are the same.

Once per clock: per wait for a reply (a customer writing again after a public reply starts a new wait) and
per ticket for its resolution, at the working priority whose target it is (a priority changed by an agent
or the AI moves the target, and the new one is alerted too). A target that ran out more than LOOKBACK ago
is not alerted: a backlog already that late (found when alerts are first turned on, or after the gateway was
down for a day) is the queue's `?reply_overdue=true`, not a burst of hundreds of POSTs.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, lazyload

from gateway.services.sla import REPLY, RESOLUTION, UNRESOLVED, Clock
from shared.alerts import new_alert, payload, send_alert
from shared.config import Settings
from shared.models import Alert, Ticket, utcnow
from shared.schemas import PRIORITY_RANK, AlertEvent, Priority

log = logging.getLogger(__name__)

LOOKBACK = timedelta(hours=24)
PER_PASS = 100  # per clock; the most overdue first, the rest at the next pass


# What each clock's alert is called.
CLOCKS = ((AlertEvent.reply_due, REPLY), (AlertEvent.resolution_due, RESOLUTION))


def alert_due_tickets(
    session: Session, settings: Settings, *, now: datetime | None = None, limit: int = PER_PASS
) -> list[str]:
    """Add the due alerts owed now, commit them, then send their delivery tasks; returns their ids.

    Off without a webhook (ALERT_WEBHOOK_URL or ALERT_ROUTES) or with ALERT_DUE_WITHIN_MINUTES empty. Only
    unresolved tickets at ALERT_DUE_MIN_PRIORITY or above, and with routes alone only the routed categories
    (in the query, so tickets nobody hears of cannot fill a pass). The tickets are read under a shared row
    lock, so a reply or a resolution committing meanwhile either comes first (and the ticket is no longer
    found) or waits for this commit; a ticket locked by another writer is left for the next pass.
    """
    minutes = settings.alert_due_within_minutes
    if not settings.alerts_on or minutes is None:
        return []
    routed = [] if settings.alert_webhook_url else [Ticket.category.in_(list(settings.alert_routes))]
    now = now or utcnow()
    horizon = now + timedelta(minutes=minutes)
    targets = settings.targets
    floor = PRIORITY_RANK[settings.alert_due_min_priority]
    priorities = [p.value for p in Priority if PRIORITY_RANK[p] >= floor]
    raised: list[str] = []
    for event, clock in CLOCKS:
        alerted = (
            select(Alert.alert_id)
            .where(
                Alert.ticket_id == Ticket.ticket_id,
                Alert.event == event.value,
                Alert.priority == Ticket.priority,
                Alert.counted_from == clock.start(targets),
            )
            .exists()
        )
        tickets = session.scalars(
            select(Ticket)
            .options(lazyload(Ticket.customer))
            .where(
                Ticket.status.in_([s.value for s in UNRESOLVED]),
                # Through coalesce, so that SQLite reads the clock's index range rather than idx_tickets_priority
                func.coalesce(Ticket.priority, None).in_(priorities),
                clock.runs_out_between(targets, now - LOOKBACK, horizon, priorities),
                ~alerted,
                *routed,
            )
            .order_by(clock.order(session, targets), Ticket.ticket_id)
            .limit(limit)
            .with_for_update(read=True, skip_locked=True, of=Ticket)
        ).all()
        raised += [alert_id for ticket in tickets if (alert_id := _add(session, event, clock, ticket, settings, now))]
    session.commit()
    for alert_id in raised:
        send_alert(alert_id)
    if raised:
        log.info("raised %d due alert(s)", len(raised))
    return raised


def _add(
    session: Session, event: AlertEvent, clock: Clock, ticket: Ticket, settings: Settings, now: datetime
) -> str | None:
    """Insert one due alert; None if another pass inserted it first (the unique key)."""
    deadline, target = clock.due(ticket, settings.targets)
    assert deadline is not None and ticket.priority is not None  # the query found it past a target
    counted_from = getattr(ticket, clock.start(settings.targets).key)
    alert = new_alert(ticket, event, ticket.priority, settings, counted_from=counted_from, now=now)
    body = payload(alert, ticket, settings.alert_ticket_url, line=_line(alert, ticket, target, deadline, now))
    body["due"] = {"target": target, "due_at": deadline.isoformat(), "since": alert.counted_from.isoformat()}
    keys = ("alert_id", "ticket_id", "event", "priority", "counted_from", "created_at", "route")
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    stmt = (
        insert(Alert)
        .values({**{key: getattr(alert, key) for key in keys}, "payload": body, "attempts": 0})
        .on_conflict_do_nothing(index_elements=["ticket_id", "event", "priority", "counted_from"])
        .returning(Alert.alert_id)
    )
    return session.scalar(stmt)


def _line(alert: Alert, ticket: Ticket, target: str, deadline: datetime, now: datetime) -> str:
    """`HIGH ticket TKT-1: first response due in 25 min, unassigned` / `... resolution overdue by 1 h 5 min,
    assigned to AG-7`: who is on it is the first thing a lead reading the channel asks."""
    left = deadline - now
    when = f"due in {_span(left)}" if left > timedelta(0) else f"overdue by {_span(-left)}"
    owner = f"assigned to {ticket.assigned_to}" if ticket.assigned_to else "unassigned"
    return f"{alert.priority.upper()} ticket {ticket.ticket_id}: {target.replace('_', ' ')} {when}, {owner}"


def _span(delta: timedelta) -> str:
    minutes = max(int(delta.total_seconds() // 60), 0)
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min" if hours else f"{minutes} min"
