"""The ticket queue at a glance: counts a shift lead reads first and an alert rule watches.

Aggregates run in the database (GROUP BY, mostly over indexes), never over loaded rows, resolution times
included (gateway.services.sla): a fixed handful of queries whatever the history's size, about 80 ms on
SQLite and 50 ms on PostgreSQL at 200,000 tickets (benchmarks/queue_reads.py).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from gateway.services.deliveries import delivery_counts
from gateway.services.satisfaction import satisfaction_counts
from gateway.services.sla import (
    UNRESOLVED,
    first_response_times,
    next_reply_times,
    reopen_counts,
    reply_late,
    resolution_late,
    resolution_times,
    review_times,
    unanswered,
)
from shared.business_hours import BusinessCalendar
from shared.config import Targets
from shared.db import read_one_snapshot
from shared.models import Ticket, utcnow
from shared.outbox import ALERTS, REPLIES, STATUSES
from shared.routing import awaiting_assignment
from shared.schemas import (
    BusinessHoursRead,
    Category,
    Priority,
    ProcessingState,
    Status,
    TicketOverview,
    WaitingTicket,
)

WAITING = (ProcessingState.queued, ProcessingState.classified)
UNCLASSIFIED = "unclassified"


def _requested() -> ColumnElement[datetime]:
    """A round's start; a row written without one (by hand, or by a tool that predates migration 0016) counts
    from its arrival, as the migration's backfill does."""
    return func.coalesce(Ticket.processing_requested_at, Ticket.created_at)


def _every(keys: Iterable[str], counts: Mapping[str, int]) -> dict[str, int]:
    """Every key in order, zeros included, then any value the enum does not list (none in practice)."""
    keys = [str(k) for k in keys]
    return {k: counts.get(k, 0) for k in keys} | {k: n for k, n in counts.items() if k not in keys}


def _counted(session: Session, column: InstrumentedAttribute[str]) -> dict[str, int]:
    """`column`'s values and how many tickets hold each."""
    return {str(v): n for v, n in session.execute(select(column, func.count()).group_by(column)).tuples()}


def _oldest_waiting(session: Session, firsts: list[tuple[datetime, str]]) -> WaitingTicket | None:
    """The ticket behind the earliest of each waiting state's first `processing_requested_at`: the round of
    AI work asked for longest ago (arrival, a retry, a customer's message, a redraft), not the oldest ticket,
    which a customer's message on a month-old ticket would make look a month late.

    Looked up by that exact time through the state's index, every match read (one, in practice), with no
    `ORDER BY … LIMIT`: with them SQLite walked a whole index in that order, the creation index from the
    oldest ticket while this counted from arrival (386 ms at 200,000 tickets), the ticket ids once no index
    held the time (260 ms); now about 1 ms. Both reads are of one snapshot (`read_one_snapshot`); should
    the ticket not be found in its state all the same, the next state's is taken.
    """
    now = utcnow()
    for since, state in sorted(firsts):
        found = session.execute(
            select(Ticket.ticket_id, Ticket.created_at).where(Ticket.processing_state == state, _requested() == since)
        ).all()
        if found:
            ticket_id, created_at = min(found)
            return WaitingTicket(
                ticket_id=ticket_id,
                processing_state=state,
                created_at=created_at,
                waiting_since=since,
                age_s=round((now - since).total_seconds(), 3),
            )
    return None


def ticket_overview(session: Session, targets: Targets) -> TicketOverview:
    """Counts by status and processing state, the unresolved queue broken down (overdue against each
    priority's resolution target, unanswered past its first response target, and kept waiting for a reply
    past its first response or next reply target, and the oldest review flag, included), the oldest waiting
    ticket, the week's resolution, first response, next reply and review times and customers' ratings, and the
    undelivered alerts, replies and status changes."""
    read_one_snapshot(session)
    now = utcnow()
    by_status = _every(Status, _counted(session, Ticket.status))
    total = sum(by_status.values())
    # Nearly every ticket is `done`: count the few others through the index and take `done` as the rest,
    # rather than scanning the table a second time (80 -> 56 ms at 200,000 tickets on PostgreSQL).
    others = session.execute(
        select(Ticket.processing_state, func.count(), func.min(_requested()))
        .where(Ticket.processing_state.in_([*WAITING, ProcessingState.failed]))
        .group_by(Ticket.processing_state)
    ).all()
    done = max(0, total - sum(n for _, n, _ in others))
    processing = _every(ProcessingState, {state: n for state, n, _ in others} | {ProcessingState.done.value: done})

    priority, category, agents = Counter[str](), Counter[str](), Counter[str]()
    overdue, unanswered_late, replies_late = Counter[str](), Counter[str](), Counter[str]()
    unassigned = review = awaiting = 0
    awaiting_since: list[datetime] = []
    flagged_since: list[datetime] = []
    # Grouped by status first: grouped by priority first, SQLite walks the whole priority index to skip a
    # sort instead of reading the unresolved tickets through the status index (152 -> 61 ms at 200,000).
    columns = (Ticket.status, Ticket.priority, Ticket.category, Ticket.assigned_to, Ticket.needs_review)
    rows = session.execute(
        select(
            *columns,
            func.count(),
            func.count().filter(resolution_late(targets, now)),
            func.count().filter(unanswered(targets.first_response, now, targets.calendar)),
            func.count().filter(reply_late(targets, now)),
            func.count(Ticket.awaiting_reply_since),
            func.min(Ticket.awaiting_reply_since),
            func.min(Ticket.flagged_at),
        )
        .where(Ticket.status.in_([s.value for s in UNRESOLVED]))
        .group_by(*columns)
    )
    for _, prio, cat, agent, needs_review, n, late, waiting, kept_waiting, replies_due, since, flagged in rows:
        awaiting += replies_due
        if since is not None:
            awaiting_since.append(since)
        if flagged is not None:
            flagged_since.append(flagged)
        if prio is not None:  # only a ticket with a priority has a target
            overdue[prio] += late
            unanswered_late[prio] += waiting
            replies_late[prio] += kept_waiting
        priority[prio or UNCLASSIFIED] += n
        category[cat or UNCLASSIFIED] += n
        if agent is None:
            unassigned += n
        else:
            agents[agent] += n
        review += n if needs_review else 0

    oldest = _oldest_waiting(session, [(first, state) for state, _, first in others if state in WAITING])
    routing, routing_since = session.execute(
        select(func.count(), func.min(Ticket.routing_requested_at)).where(awaiting_assignment())
    ).one()
    day, hour = session.execute(
        select(func.count(), func.count().filter(Ticket.created_at >= now - timedelta(hours=1))).where(
            Ticket.created_at >= now - timedelta(hours=24)
        )
    ).one()
    week, resolved_last_24h = resolution_times(session, targets, now - timedelta(days=7), now - timedelta(hours=24))
    reopened = reopen_counts(session, now - timedelta(days=7), week.resolved)
    answered = first_response_times(session, targets.first_response, now - timedelta(days=7), calendar=targets.calendar)
    answered_again = next_reply_times(session, targets.next_reply, now - timedelta(days=7), calendar=targets.calendar)
    reviewed = review_times(session, now - timedelta(days=7))
    rated = satisfaction_counts(session, now - timedelta(days=7))

    return TicketOverview(
        as_of=now,
        total=total,
        by_status=by_status,
        unresolved=sum(by_status[s.value] for s in UNRESOLVED),
        unresolved_by_priority=_every([*Priority, UNCLASSIFIED], priority),
        unresolved_by_category=_every([*Category, UNCLASSIFIED], category),
        unresolved_unassigned=unassigned,
        awaiting_assignment=routing,
        oldest_awaiting_assignment_since=routing_since,
        unresolved_needs_review=review,
        oldest_needs_review_since=min(flagged_since, default=None),
        unresolved_by_agent=dict(sorted(agents.items())),
        processing=processing,
        oldest_waiting=oldest,
        created_last_hour=hour,
        created_last_24h=day,
        business_hours=business_hours(targets.calendar, now),
        resolution_targets_hours=_hours(targets.resolution),
        unresolved_overdue=sum(overdue.values()),
        unresolved_overdue_by_priority=_every(Priority, overdue),
        first_response_targets_hours=_hours(targets.first_response),
        unanswered_overdue=sum(unanswered_late.values()),
        unanswered_overdue_by_priority=_every(Priority, unanswered_late),
        awaiting_reply=awaiting,
        oldest_awaiting_reply_since=min(awaiting_since, default=None),
        next_reply_targets_hours=_hours(targets.next_reply),
        reply_overdue=sum(replies_late.values()),
        reply_overdue_by_priority=_every(Priority, replies_late),
        resolved_last_24h=resolved_last_24h,
        resolved_last_7d=week,
        reopened_last_7d=reopened,
        first_response_last_7d=answered,
        next_reply_last_7d=answered_again,
        reviews_last_7d=reviewed,
        satisfaction_last_7d=rated,
        alerts=delivery_counts(session, ALERTS),
        replies=delivery_counts(session, REPLIES),
        status_changes=delivery_counts(session, STATUSES),
    )


def business_hours(calendar: BusinessCalendar | None, now: datetime) -> BusinessHoursRead | None:
    """The calendar the targets count in, and whether it is open at `now`."""
    if calendar is None:
        return None
    return BusinessHoursRead(
        hours=calendar.hours, timezone=calendar.zone_name, holidays=calendar.holidays, open_now=calendar.is_open(now)
    )


def _hours(targets: Mapping[str, timedelta]) -> dict[str, float]:
    return {p: t.total_seconds() / 3600 for p, t in targets.items()}
