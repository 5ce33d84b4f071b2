"""Tickets moved on by time, in the sweeper's pass: resolved ones closed after AUTO_CLOSE_AFTER_HOURS, and
(when AUTO_SOLVE_PENDING_AFTER_HOURS is set) ones pending on their customer resolved after that long.

A resolved ticket is not finished: the customer's next message reopens it. Left resolved for ever, every
solved ticket of the last year could still reopen, and the queue's `resolved` count only grows. Zendesk
closes a solved ticket four days after it was solved; this does the same (96 h by default). A ticket set
`pending` waits on its customer; many teams solve it when the customer never answers, which is off unless
set. Each move is the one an agent's makes (`move_claimed`): the history names the actor
(`system:auto-close`, `system:auto-solve`), the ticket's wait and times are set as for an agent's move, and
a web or API ticket's backend hears of it when the status is one of REPLY_WEBHOOK_STATUSES, marked
`"automatic": true`.

The clock is the status's own time (`resolved_at`, `pending_since`), so a ticket reopened and resolved or
set pending again starts over. Each ticket is claimed at the status and time the pass read: a customer's
message or an agent's move committed in between wins, and the ticket is left as they left it.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from sqlalchemy import select
from sqlalchemy.orm import InstrumentedAttribute, Session

from gateway.services.tickets import move_claimed
from shared.config import Settings
from shared.db import claim_row
from shared.models import Ticket, audit_actor, utcnow
from shared.schemas import Status

PER_PASS = 200  # per rule, the longest waiting first; a backlog (a setting just turned on) drains over passes


class Rule(NamedTuple):
    """Tickets in `status` since `since` at least the hours in Settings' `setting` are moved to `to`."""

    setting: str
    status: Status
    since: InstrumentedAttribute[Any]
    to: Status
    actor: str


CLOSE = Rule("auto_close_after_hours", Status.resolved, Ticket.resolved_at, Status.closed, "system:auto-close")
SOLVE = Rule(
    "auto_solve_pending_after_hours", Status.pending, Ticket.pending_since, Status.resolved, "system:auto-solve"
)


def close_resolved(
    session: Session, settings: Settings, *, now: datetime | None = None, limit: int = PER_PASS
) -> list[str]:
    """Close up to `limit` tickets resolved at least AUTO_CLOSE_AFTER_HOURS before `now`; their ids."""
    return move_due(session, settings, CLOSE, now=now, limit=limit)


def solve_pending(
    session: Session, settings: Settings, *, now: datetime | None = None, limit: int = PER_PASS
) -> list[str]:
    """Resolve up to `limit` tickets pending at least AUTO_SOLVE_PENDING_AFTER_HOURS before `now`; their ids."""
    return move_due(session, settings, SOLVE, now=now, limit=limit)


def move_due(
    session: Session, settings: Settings, rule: Rule, *, now: datetime | None = None, limit: int = PER_PASS
) -> list[str]:
    """Move up to `limit` tickets due under `rule`, each in its own transaction; their ids, in the order moved.
    Off when the rule's setting is empty."""
    hours = getattr(settings, rule.setting)
    if hours is None:
        return []
    cutoff = (now or utcnow()) - timedelta(hours=hours)
    due = session.execute(
        select(Ticket.ticket_id, rule.since)
        .where(Ticket.status == rule.status.value, rule.since <= cutoff)
        .order_by(rule.since, Ticket.ticket_id)
        .limit(limit)
    ).all()
    session.rollback()  # end the read: each move is its own transaction
    sent = settings.sent_statuses
    token = audit_actor.set(rule.actor)
    try:
        return [ticket_id for ticket_id, since in due if move(session, rule, ticket_id, since, sent)]
    finally:
        audit_actor.reset(token)


def move(session: Session, rule: Rule, ticket_id: str, since: datetime | None, sent: Collection[Status]) -> bool:
    """Move the ticket if it is still in the rule's status since `since`, as read; False (nothing written) when
    it was moved, or moved away and back, meanwhile."""
    if not claim_row(session, Ticket, ticket_id, status=rule.status.value, **{rule.since.key: since}):
        session.rollback()
        return False
    ticket = session.get(Ticket, ticket_id, populate_existing=True)
    assert ticket is not None  # claimed: the row is there and held
    move_claimed(session, ticket, rule.to, sent, automatic=True)
    return True
