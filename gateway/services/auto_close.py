"""Resolved tickets closed once their customer has had AUTO_CLOSE_AFTER_HOURS to write back (the sweeper's pass).

A resolved ticket is not finished: the customer's next message reopens it. Left resolved for ever, every
solved ticket of the last year could still reopen, and the queue's `resolved` count only grows. Zendesk
closes a solved ticket four days after it was solved; this does the same (96 h by default), through the
move an agent's close makes (`move_claimed`): the history names the actor `system:auto-close`, the ticket's
wait and its status are set as for an agent's close, and a web or API ticket's backend hears of it when
`closed` is one of REPLY_WEBHOOK_STATUSES, marked `"automatic": true`.

The resolution's own time is what counts, so a ticket reopened by its customer and resolved again starts
over. Each ticket is claimed at the status and resolution time the pass read: a customer's message or an
agent's reopen committed in between wins, and the ticket is left as they left it.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from gateway.services.tickets import move_claimed
from shared.config import Settings
from shared.db import claim_row
from shared.models import Ticket, audit_actor, utcnow
from shared.schemas import Status

ACTOR = "system:auto-close"
PER_PASS = 200  # the longest resolved first; a backlog (the setting just turned on) drains over a few passes


def close_resolved(
    session: Session, settings: Settings, *, now: datetime | None = None, limit: int = PER_PASS
) -> list[str]:
    """Close up to `limit` tickets resolved at least AUTO_CLOSE_AFTER_HOURS before `now`, each in its own
    transaction; returns their ids, in the order closed. Off when the setting is empty."""
    hours = settings.auto_close_after_hours
    if hours is None:
        return []
    cutoff = (now or utcnow()) - timedelta(hours=hours)
    due = session.execute(
        select(Ticket.ticket_id, Ticket.resolved_at)
        .where(Ticket.status == Status.resolved.value, Ticket.resolved_at <= cutoff)
        .order_by(Ticket.resolved_at, Ticket.ticket_id)
        .limit(limit)
    ).all()
    session.rollback()  # end the read: each close is its own transaction
    sent = settings.sent_statuses
    token = audit_actor.set(ACTOR)
    try:
        return [ticket_id for ticket_id, resolved_at in due if close(session, ticket_id, resolved_at, sent)]
    finally:
        audit_actor.reset(token)


def close(session: Session, ticket_id: str, resolved_at: datetime | None, sent: Collection[Status]) -> bool:
    """Close the ticket if it is still resolved since `resolved_at`, as read; False (nothing written) when it
    was reopened, closed or resolved again meanwhile."""
    if not claim_row(session, Ticket, ticket_id, status=Status.resolved.value, resolved_at=resolved_at):
        session.rollback()
        return False
    ticket = session.get(Ticket, ticket_id, populate_existing=True)
    assert ticket is not None  # claimed: the row is there and held
    move_claimed(session, ticket, Status.closed, sent, automatic=True)
    return True
