"""Targets by priority, to resolve a ticket (SLA_*_HOURS), to answer it (FIRST_RESPONSE_*_HOURS) and to answer
its customer again (NEXT_REPLY_*_HOURS): which unresolved tickets are past theirs, how fast tickets were
resolved, and how long customers waited for an agent's first reply and, when they wrote again, for the next.

The resolution clock runs from a ticket's arrival (`created_at`) to its `resolved_at`, through every
unresolved status, `pending` included: a target a team reports against is simplest to check when nothing
pauses it. With SLA_PAUSE_IN_PENDING (`Targets.pause_in_pending`) it stands still while the ticket waits on
its customer: it counts from `resolution_counted_from`, the arrival moved later by each stay in `pending`
(`resume_clock`, as a ticket leaves it), and a pending ticket has no due time and is never overdue. The reply
clocks never pause. A ticket with no priority yet (not classified) has no target, so it is never overdue.

With BUSINESS_HOURS (`Targets.calendar`) every clock counts business time only: "past its target at `now`"
becomes "started before the calendar's `cutoff(now, target)`", one instant per priority, so the tests keep
their shape and indexes; a due time is the calendar's `add`; sorts and measured times use the database's
business seconds (`BusinessCalendar.sql_seconds`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, SupportsFloat

from sqlalchemy import ColumnElement, Float, Numeric, and_, case, cast, false, func, not_, or_, select, true
from sqlalchemy.orm import InstrumentedAttribute, Session

from shared.business_hours import BusinessCalendar
from shared.config import Targets, get_settings
from shared.models import Ticket, TicketMessage
from shared.schemas import (
    FirstResponseTimes,
    NextReplyTimes,
    Priority,
    ReopenCounts,
    ResolutionTimes,
    ReviewTimes,
    Status,
)

UNRESOLVED = (Status.new, Status.open, Status.in_progress, Status.pending)


def started_before(now: datetime, span: timedelta, calendar: BusinessCalendar | None) -> datetime:
    """The instant a clock must have started before to have run longer than `span` at `now`: `now - span`, or
    in business time the calendar's cutoff."""
    return calendar.cutoff(now, span) if calendar is not None else now - span


def past_target(
    targets: Mapping[str, timedelta],
    now: datetime,
    start: InstrumentedAttribute[Any] = Ticket.created_at,
    calendar: BusinessCalendar | None = None,
) -> ColumnElement[bool]:
    """True for a ticket whose clock started (arrival unless `start` says) longer ago than its priority's
    target (in `calendar`'s business time when given); false, never NULL, without a priority."""
    return case(
        *((Ticket.priority == p, start < started_before(now, t, calendar)) for p, t in targets.items()), else_=false()
    )


def resolution_start(targets: Targets) -> InstrumentedAttribute[Any]:
    """Where the resolution clock counts from: the arrival, or under SLA_PAUSE_IN_PENDING the arrival moved
    later by the ticket's stays in `pending`."""
    return Ticket.resolution_counted_from if targets.pause_in_pending else Ticket.created_at


def resolution_late(targets: Targets, now: datetime) -> ColumnElement[bool]:
    """Past its priority's resolution target at `now` (not `UNRESOLVED`-checked); never while pending under
    SLA_PAUSE_IN_PENDING, the clock standing still there."""
    late = past_target(targets.resolution, now, resolution_start(targets), targets.calendar)
    return and_(Ticket.status != Status.pending.value, late) if targets.pause_in_pending else late


def resume_clock(ticket: Ticket, now: datetime) -> None:
    """Before a ticket leaves `pending`: move its resolution clock's start later by the stay (from
    `pending_since`; under BUSINESS_HOURS by the stay's business time, so the clock loses only that). Kept
    whatever SLA_PAUSE_IN_PENDING says now, so turning it on counts every stay since.

    The calendar is the process's (every service reads one environment): a status move, a customer's message
    and an automatic solve reach here from many callers that carry no targets."""
    if ticket.status == Status.pending.value and ticket.pending_since is not None:
        start = ticket.resolution_counted_from or ticket.created_at
        calendar = get_settings().business_calendar
        if calendar is not None:
            # a stay of no business time (a weekend) leaves the start as it is: `add` would move it back to
            # the last closing, which counts the same but would read as a new start
            stay = calendar.between(ticket.pending_since, now)
            if stay > timedelta(0):
                ticket.resolution_counted_from = calendar.add(start, stay)
        else:
            ticket.resolution_counted_from = start + max(now - ticket.pending_since, timedelta(0))


def due_at(
    priority: str | None,
    created_at: datetime,
    targets: Mapping[str, timedelta],
    calendar: BusinessCalendar | None = None,
) -> datetime | None:
    """When a ticket's target runs out (`created_at` plus its priority's, in `calendar`'s business time when
    given): what an agent's view counts down to (None without a priority)."""
    target = targets.get(priority) if priority is not None else None
    if target is None:
        return None
    return calendar.add(created_at, target) if calendar is not None else created_at + target


def resolution_due_at(ticket: Ticket, targets: Targets) -> datetime | None:
    """When the ticket's resolution target runs out (`due_at`): None without a priority, and while pending
    under SLA_PAUSE_IN_PENDING (the clock stands still; it runs out that much later once the ticket moves on)."""
    if targets.pause_in_pending and ticket.status == Status.pending.value:
        return None
    start = getattr(ticket, resolution_start(targets).key) or ticket.created_at  # NULL: an older replica's row
    return due_at(ticket.priority, start, targets.resolution, targets.calendar)


def resolution_due_order(session: Session, targets: Targets) -> ColumnElement[float | None]:
    """`due_order` for the resolution target, from its clock's start; pending tickets last under
    SLA_PAUSE_IN_PENDING, as they have no due time there."""
    key = due_order(session, targets.resolution, resolution_start(targets), targets.calendar)
    return case((Ticket.status == Status.pending.value, None), else_=key) if targets.pause_in_pending else key


def due_order(
    session: Session,
    targets: Mapping[str, timedelta],
    start: InstrumentedAttribute[Any] = Ticket.created_at,
    calendar: BusinessCalendar | None = None,
) -> ColumnElement[float | None]:
    """A sort key that orders tickets by `due_at` (NULL without a priority), computed by the database.

    Seconds on a dialect's own scale (the epoch on PostgreSQL, julianday on SQLite; business seconds under
    BUSINESS_HOURS), so only its order means anything. The queue sorted by it shows what runs out next, the
    furthest past its target first; arrival order does not, since a critical ticket runs out 20 hours before a
    high one of the same age.
    """
    started = _epoch(session, start, calendar)
    return case(*((Ticket.priority == p, started + t.total_seconds()) for p, t in targets.items()), else_=None)


def _epoch(
    session: Session, column: InstrumentedAttribute[Any], calendar: BusinessCalendar | None = None
) -> ColumnElement[float]:
    """A time column as seconds on the dialect's own scale (or the calendar's business seconds), for sorting
    only (NULL stays NULL)."""
    dialect = session.get_bind().dialect.name
    if calendar is not None:
        return calendar.sql_seconds(dialect, column)
    if dialect == "postgresql":
        return cast(func.extract("epoch", column), Float)
    return func.julianday(column) * 86400


def overdue(targets: Targets, now: datetime) -> ColumnElement[bool]:
    """Unresolved and past its priority's resolution target: the tickets a shift lead chases first."""
    return and_(Ticket.status.in_([s.value for s in UNRESOLVED]), resolution_late(targets, now))


def unanswered(
    targets: Mapping[str, timedelta], now: datetime, calendar: BusinessCalendar | None = None
) -> ColumnElement[bool]:
    """No public agent reply yet and past its priority's first response target (not yet `UNRESOLVED`-checked).

    The reply time is tested through `coalesce` so that SQLite's planner does not read the tickets through
    `idx_tickets_first_response`: most tickets were never answered (closed without a reply, or not yet), and
    walking its NULLs read 120,000 of 200,000 rows to sort the unresolved ones by due time (184 ms); through
    the status index it reads only the unresolved ones, as `overdue` does.
    """
    return and_(
        func.coalesce(Ticket.first_response_at, None).is_(None),
        past_target(targets, now, calendar=calendar),
    )


def unanswered_overdue(
    targets: Mapping[str, timedelta], now: datetime, calendar: BusinessCalendar | None = None
) -> ColumnElement[bool]:
    """Unresolved, never answered, and past its priority's first response target: a customer still waiting
    for anyone to write back. A ticket resolved or closed without a reply (spam, a duplicate) is not counted."""
    return and_(Ticket.status.in_([s.value for s in UNRESOLVED]), unanswered(targets, now, calendar))


def first_response_due_at(
    priority: str | None,
    created_at: datetime,
    first_response_at: datetime | None,
    targets: Mapping[str, timedelta],
    calendar: BusinessCalendar | None = None,
) -> datetime | None:
    """When a ticket's first response target runs out; None once answered, or without a priority."""
    return None if first_response_at is not None else due_at(priority, created_at, targets, calendar)


def reply_due_at(
    priority: str | None,
    awaiting_since: datetime | None,
    first_response_at: datetime | None,
    targets: Targets,
) -> datetime | None:
    """When the customer's current wait for a reply runs past its target: from `awaiting_reply_since`, by the
    first response target until the ticket has been answered, then by the next reply target. None while
    nobody is waiting (answered, resolved or closed), or without a priority."""
    if awaiting_since is None:
        return None
    stage = targets.first_response if first_response_at is None else targets.next_reply
    return due_at(priority, awaiting_since, stage, targets.calendar)


def _reply_stages(targets: Targets) -> list[tuple[ColumnElement[bool], timedelta]]:
    """Which target a wait counts against, by priority and by whether the ticket was ever answered."""
    answered = Ticket.first_response_at.is_not(None)
    return [(and_(Ticket.priority == p, ~answered), t) for p, t in targets.first_response.items()] + [
        (and_(Ticket.priority == p, answered), t) for p, t in targets.next_reply.items()
    ]


def reply_late(targets: Targets, now: datetime) -> ColumnElement[bool]:
    """The customer has waited for a reply longer than `reply_due_at` allows (not yet `UNRESOLVED`-checked;
    resolving or closing a ticket ends the wait anyway). False, never NULL, without a priority or a wait."""
    since = Ticket.awaiting_reply_since
    late = case(
        *((stage, since < started_before(now, t, targets.calendar)) for stage, t in _reply_stages(targets)),
        else_=false(),
    )
    return and_(since.is_not(None), late)


def reply_due_order(session: Session, targets: Targets) -> ColumnElement[float | None]:
    """A sort key that orders tickets by `reply_due_at` (NULL while nobody waits), as `due_order` does."""
    since = _epoch(session, Ticket.awaiting_reply_since, targets.calendar)
    return case(*((stage, since + t.total_seconds()) for stage, t in _reply_stages(targets)), else_=None)


def reply_overdue(targets: Targets, now: datetime) -> ColumnElement[bool]:
    """Unresolved and past `reply_due_at`: every customer, answered before or not, kept waiting too long."""
    return and_(Ticket.status.in_([s.value for s in UNRESOLVED]), reply_late(targets, now))


@dataclass(frozen=True)
class Clock:
    """One target a ticket can run out of: where its clock starts, the `Targets` it counts against, the SQL test
    of "past it at a time", the sort key of its due time, and one ticket's due time with the target's name."""

    start: Callable[[Targets], InstrumentedAttribute[Any]]
    kinds: tuple[str, ...]
    late: Callable[[Targets, datetime], ColumnElement[bool]]
    order: Callable[[Session, Targets], ColumnElement[float | None]]
    due: Callable[[Ticket, Targets], tuple[datetime | None, str]]

    def runs_out_between(
        self, targets: Targets, since: datetime, horizon: datetime, priorities: Sequence[str] | None = None
    ) -> ColumnElement[bool]:
        """Not past the target at `since`, past it at `horizon` (not `UNRESOLVED`-checked). The clock's start
        is bounded by the shortest and longest target of `priorities` (default all) too: a range of its index,
        which the exact test by priority then narrows (without it, SQLite read every unresolved ticket, or half
        the table through the priority index)."""
        chosen = [p.value for p in Priority] if priorities is None else priorities
        spans = [getattr(targets, kind)[p] for kind in self.kinds for p in chosen]
        start = self.start(targets)
        return and_(
            start >= started_before(since, max(spans), targets.calendar),
            start < started_before(horizon, min(spans), targets.calendar),
            self.late(targets, horizon),
            not_(self.late(targets, since)),
        )


def _reply_due(ticket: Ticket, targets: Targets) -> tuple[datetime | None, str]:
    target = "first_response" if ticket.first_response_at is None else "next_reply"
    return reply_due_at(ticket.priority, ticket.awaiting_reply_since, ticket.first_response_at, targets), target


def _resolution_due(ticket: Ticket, targets: Targets) -> tuple[datetime | None, str]:
    return resolution_due_at(ticket, targets), "resolution"


# The customer's wait for a reply (`reply_due_at`), and the ticket's resolution (`due_at`).
REPLY = Clock(
    lambda targets: Ticket.awaiting_reply_since,
    ("first_response", "next_reply"),
    reply_late,
    reply_due_order,
    _reply_due,
)
RESOLUTION = Clock(resolution_start, ("resolution",), resolution_late, resolution_due_order, _resolution_due)


def due_soon(targets: Targets, now: datetime, horizon: datetime) -> ColumnElement[bool]:
    """Unresolved, and its reply target or its resolution target runs out after `now` and before `horizon`:
    a ticket still in time, about to be late (what `?due_within_minutes=` lists)."""
    soon = or_(*(clock.runs_out_between(targets, now, horizon) for clock in (REPLY, RESOLUTION)))
    return and_(Ticket.status.in_([s.value for s in UNRESOLVED]), soon)


def _seconds(
    session: Session,
    end: InstrumentedAttribute[Any],
    start: InstrumentedAttribute[Any] = Ticket.created_at,
    calendar: BusinessCalendar | None = None,
) -> ColumnElement[float]:
    """Seconds from `start` (arrival unless given) to `end`, computed by the database (business seconds under
    BUSINESS_HOURS).

    PostgreSQL's exact interval, as a float (sorting its numeric epoch took twice as long); on SQLite,
    rounded to the millisecond, or julianday's floating point would put a ticket resolved exactly on its
    target a few microseconds past it (business seconds are rounded alike, on both).
    """
    dialect = session.get_bind().dialect.name
    if calendar is not None:
        return func.round(cast(calendar.sql_seconds(dialect, end) - calendar.sql_seconds(dialect, start), Numeric), 3)
    if dialect == "postgresql":
        return cast(func.extract("epoch", end - start), Float)
    return func.round((func.julianday(end) - func.julianday(start)) * 86400, 3)


def _percentile_hours(
    session: Session, seconds: ColumnElement[float], window: ColumnElement[bool], n: int, q: int
) -> float | None:
    """The nearest-rank q-th percentile of `seconds` over the `n` tickets in `window`, in hours: a duration
    that really occurred, read by one ordered query."""
    if not n:
        return None
    value = session.scalar(select(seconds).where(window).order_by(seconds).limit(1).offset(_rank(q, n) - 1))
    return _hours_of(value)


def _rank(q: int, n: int) -> int:
    """The nearest rank of the q-th percentile among `n` sorted values: ceil(q% of n), 1-based."""
    return -(-q * n // 100)


def _hours_of(seconds: SupportsFloat | None) -> float:
    """A measured duration in seconds (a float, a Decimal or NULL) as the figures' hours, never negative."""
    return round(max(float(seconds or 0), 0.0) / 3600, 3)


def _within(seconds: ColumnElement[float], targets: Mapping[str, timedelta]) -> ColumnElement[bool]:
    """`seconds` no more than the ticket's priority's target (false without a priority)."""
    return or_(*(and_(Ticket.priority == p, seconds <= t.total_seconds()) for p, t in targets.items()))


def _summary(
    session: Session,
    seconds: ColumnElement[float],
    window: ColumnElement[bool],
    targets: Mapping[str, timedelta],
    *also: ColumnElement[bool],
    replies: bool = False,
    in_python: bool = False,
) -> tuple[int, dict[str, float | None], list[int]]:
    """How many rows `window` holds, their p50/p90 `seconds` in hours and the share within their priority's
    target (null when none had one) as the time models' fields, and how many of them match each of `also`.

    One counting query and two ordered ones. With `replies`, the rows are messages, counted with their
    ticket's priority. With `in_python` (business seconds, a function call per time per row) one query reads
    each row's seconds, priority and `also`, and the rest is counted here: the three passes cost three times
    the calls (a week of resolutions, 3,600 rows, 182 -> 41 ms on SQLite).
    """
    if in_python:
        return _summary_read(session, seconds, window, targets, *also, replies=replies)
    counts = select(
        func.count(),
        func.count().filter(Ticket.priority.in_(list(targets))),
        func.count().filter(_within(seconds, targets)),
        *(func.count().filter(condition) for condition in also),
    )
    if replies:
        counts = counts.select_from(TicketMessage).join(Ticket, Ticket.ticket_id == TicketMessage.ticket_id)
    n, targeted, in_time, *more = session.execute(counts.where(window)).one()
    return (
        n,
        {
            "p50_hours": _percentile_hours(session, seconds, window, n, 50),
            "p90_hours": _percentile_hours(session, seconds, window, n, 90),
            "within_target": share(in_time, targeted),
        },
        more,
    )


def _summary_read(
    session: Session,
    seconds: ColumnElement[float],
    window: ColumnElement[bool],
    targets: Mapping[str, timedelta],
    *also: ColumnElement[bool],
    replies: bool = False,
) -> tuple[int, dict[str, float | None], list[int]]:
    """`_summary` from one read of the rows: the same nearest-rank percentiles, share and counts."""
    query = select(seconds, Ticket.priority, *also)
    if replies:
        query = query.select_from(TicketMessage).join(Ticket, Ticket.ticket_id == TicketMessage.ticket_id)
    rows = session.execute(query.where(window)).all()
    timed = [(row[0], row[1]) for row in rows]
    return len(rows), summarize(timed, targets), [sum(bool(row[2 + i]) for row in rows) for i in range(len(also))]


def summarize(
    rows: Sequence[tuple[SupportsFloat, str | None]], targets: Mapping[str, timedelta]
) -> dict[str, float | None]:
    """p50/p90 hours and the share within target of (seconds, priority) rows, as `_summary` computes them in SQL:
    nearest-rank percentiles, the share over the rows whose priority has a target (None when none has)."""
    values = sorted(float(seconds) for seconds, _ in rows)
    targeted = [(float(seconds), target) for seconds, p in rows if (target := targets.get(p or "")) is not None]
    in_time = sum(value <= target.total_seconds() for value, target in targeted)

    def percentile(q: int) -> float | None:
        return _hours_of(values[_rank(q, len(values)) - 1]) if values else None

    return {
        "p50_hours": percentile(50),
        "p90_hours": percentile(90),
        "within_target": share(in_time, len(targeted)),
    }


def share(part: int, whole: int) -> float | None:
    """`part` of `whole` to four places, as every rate in the overview reports it; None when `whole` is 0."""
    return round(part / whole, 4) if whole else None


def reopen_counts(
    session: Session, since: datetime, resolved: int, scope: ColumnElement[bool] = true()
) -> ReopenCounts:
    """The tickets reopened since `since` (of those `scope` admits), counted through `idx_tickets_reopened`, and
    their share beside the `resolved` the window left resolved."""
    reopened = session.scalar(select(func.count()).select_from(Ticket).where(Ticket.reopened_at >= since, scope)) or 0
    return _reopen_share(reopened, resolved)


def _reopen_share(reopened: int, resolved: int) -> ReopenCounts:
    """`reopened` beside the `resolved` that held: the share of the two that did not hold (None when both are 0)."""
    seen = reopened + resolved
    return ReopenCounts(reopened=reopened, rate=share(reopened, seen))


def resolution_times(
    session: Session, targets: Targets, since: datetime, recent: datetime, scope: ColumnElement[bool] = true()
) -> tuple[ResolutionTimes, int]:
    """Resolution times of the tickets resolved since `since` (of those `scope` admits: one agent's), and how
    many of them were resolved since `recent`.

    Computed in the database over `idx_tickets_resolved` (an index-only scan on PostgreSQL), so the cost
    does not grow with Python's per-row work: at 3,600 tickets a week, loading them to compute this in
    Python took 15-18 ms on PostgreSQL, these three queries 9-11 ms. Under SLA_PAUSE_IN_PENDING the hours and
    the share count from the clock's start, the stays in `pending` left out (read from the table: the index
    does not hold that column). A reopened ticket lost its
    `resolved_at`, and one closed without being resolved never had one.
    """
    seconds = _seconds(session, Ticket.resolved_at, resolution_start(targets), targets.calendar)
    resolved, times, (lately,) = _summary(
        session,
        seconds,
        and_(Ticket.resolved_at >= since, scope),
        targets.resolution,
        Ticket.resolved_at >= recent,
        in_python=targets.calendar is not None,
    )
    return ResolutionTimes(resolved=resolved, **times), lately


def first_response_times(
    session: Session,
    targets: Mapping[str, timedelta],
    since: datetime,
    scope: ColumnElement[bool] = true(),
    calendar: BusinessCalendar | None = None,
) -> FirstResponseTimes:
    """How long the tickets first answered since `since` (of those `scope` admits) waited for that answer, and
    the share answered within their priority's target (`targets`), over `idx_tickets_first_response`."""
    seconds = _seconds(session, Ticket.first_response_at, calendar=calendar)
    window = and_(Ticket.first_response_at >= since, scope)
    answered, times, _ = _summary(session, seconds, window, targets, in_python=calendar is not None)
    return FirstResponseTimes(answered=answered, **times)


def next_reply_times(
    session: Session,
    targets: Mapping[str, timedelta],
    since: datetime,
    scope: ColumnElement[bool] = true(),
    calendar: BusinessCalendar | None = None,
) -> NextReplyTimes:
    """How long the customers answered again since `since` (by the replies `scope` admits) waited for that
    answer, from their first message after the previous public agent reply (`waited_since`), and the share
    answered within their ticket's priority's next reply target (`targets`), over
    `idx_ticket_messages_next_reply`."""
    seconds = _seconds(session, TicketMessage.created_at, TicketMessage.waited_since, calendar)
    window = and_(TicketMessage.created_at >= since, TicketMessage.waited_since.is_not(None), scope)
    replies, times, _ = _summary(session, seconds, window, targets, replies=True, in_python=calendar is not None)
    return NextReplyTimes(replies=replies, **times)


def review_times(session: Session, since: datetime) -> ReviewTimes:
    """How long the flags agents cleared since `since` had stood, from `review_flagged_at` to `reviewed_at`,
    over `idx_tickets_reviewed`. A ticket keeps only its latest review, so it counts once; no target."""
    seconds = _seconds(session, Ticket.reviewed_at, Ticket.review_flagged_at)
    window = and_(Ticket.reviewed_at >= since, Ticket.review_flagged_at.is_not(None))
    n = session.scalar(select(func.count()).select_from(Ticket).where(window)) or 0
    return ReviewTimes(
        reviews=n,
        p50_hours=_percentile_hours(session, seconds, window, n, 50),
        p90_hours=_percentile_hours(session, seconds, window, n, 90),
    )


# --------------------------------------------------------------------------- by agent, in one pass


def current_assignee() -> ColumnElement[Any]:
    """The ticket's assignee now, through `coalesce`: so SQLite reads a window's range of that window's own index
    rather than every ticket of the agent through idx_tickets_assigned_created (a week's resolves at 200,000
    tickets: 19.6 -> 7.2 ms; the ratings grouped by it: 408 -> 1.5 ms)."""
    return func.coalesce(Ticket.assigned_to, None)


def _by_agent(
    rows: Sequence[Any], agents: Sequence[str], targets: Mapping[str, timedelta]
) -> dict[str, tuple[int, dict[str, float | None]]]:
    """(agent, seconds, priority) rows as each of `agents`' count and `summarize` figures (0 and none without rows)."""
    grouped: dict[str, list[tuple[SupportsFloat, str | None]]] = {agent: [] for agent in agents}
    for agent_id, seconds, priority in rows:
        grouped[agent_id].append((seconds, priority))
    return {agent: (len(mine), summarize(mine, targets)) for agent, mine in grouped.items()}


def resolution_times_by_agent(
    session: Session, targets: Targets, since: datetime, agents: Sequence[str]
) -> dict[str, ResolutionTimes]:
    """`resolution_times` for each of `agents` (the tickets assigned to them now), from one read of the window's
    resolutions: the team's table, where one query set per agent cost ten queries an agent."""
    assignee = current_assignee()
    seconds = _seconds(session, Ticket.resolved_at, resolution_start(targets), targets.calendar)
    rows = session.execute(
        select(assignee, seconds, Ticket.priority).where(Ticket.resolved_at >= since, assignee.in_(agents))
    ).all()
    return {
        agent: ResolutionTimes(resolved=n, **times)
        for agent, (n, times) in _by_agent(rows, agents, targets.resolution).items()
    }


def first_response_times_by_agent(
    session: Session,
    targets: Mapping[str, timedelta],
    since: datetime,
    agents: Sequence[str],
    calendar: BusinessCalendar | None = None,
) -> dict[str, FirstResponseTimes]:
    """`first_response_times` for each of `agents` (the tickets whose first response in the window was their
    reply: the reply stands at the ticket's `first_response_at`), from one read of their replies' tickets."""
    seconds = _seconds(session, Ticket.first_response_at, calendar=calendar)
    first = (
        select(TicketMessage.agent_id, Ticket.ticket_id, seconds, Ticket.priority)
        .select_from(TicketMessage)
        .join(
            Ticket,
            and_(Ticket.ticket_id == TicketMessage.ticket_id, Ticket.first_response_at == TicketMessage.created_at),
        )
        .where(TicketMessage.agent_id.in_(agents), TicketMessage.created_at >= since, Ticket.first_response_at >= since)
        .distinct()  # one ticket once per agent, as `IN` counts it
    )
    rows = [(agent, s, priority) for agent, _, s, priority in session.execute(first)]
    return {
        agent: FirstResponseTimes(answered=n, **times) for agent, (n, times) in _by_agent(rows, agents, targets).items()
    }


def next_reply_times_by_agent(
    session: Session,
    targets: Mapping[str, timedelta],
    since: datetime,
    agents: Sequence[str],
    calendar: BusinessCalendar | None = None,
) -> dict[str, NextReplyTimes]:
    """`next_reply_times` for each of `agents` (their replies), from one read of the window's answering replies."""
    seconds = _seconds(session, TicketMessage.created_at, TicketMessage.waited_since, calendar)
    rows = session.execute(
        select(TicketMessage.agent_id, seconds, Ticket.priority)
        .select_from(TicketMessage)
        .join(Ticket, Ticket.ticket_id == TicketMessage.ticket_id)
        .where(
            TicketMessage.created_at >= since,
            TicketMessage.waited_since.is_not(None),
            TicketMessage.agent_id.in_(agents),
        )
    ).all()
    return {agent: NextReplyTimes(replies=n, **times) for agent, (n, times) in _by_agent(rows, agents, targets).items()}


def reopen_counts_by_agent(session: Session, since: datetime, resolved: Mapping[str, int]) -> dict[str, ReopenCounts]:
    """`reopen_counts` for each agent of `resolved` (the tickets assigned to them now), in one grouped count."""
    assignee = current_assignee()
    counted: dict[str, int] = dict(
        session.execute(
            select(assignee, func.count())
            .where(Ticket.reopened_at >= since, assignee.in_(list(resolved)))
            .group_by(assignee)
        ).all()
    )
    return {agent: _reopen_share(int(counted.get(agent, 0)), n) for agent, n in resolved.items()}
