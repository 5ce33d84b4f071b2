"""The automatic assignment: each new web or API ticket goes to an agent in the rotation who takes its category,
the one with the fewest open tickets first, then the one who has gone longest without one.

An agent joins the rotation with `auto_assign` (`PATCH /api/agents/{id}`), optionally limited to some
categories and to `max_open` tickets new, open or in progress at a time. An agent `away` (`PUT /api/me/away`)
stays in it but is passed by: tickets wait for someone else, or for them to come back. The classifier marks a ticket
(`routing_requested_at`) in the transaction that stores its first classification, when it is unassigned and
someone is in the rotation, then routes it at once; a ticket nobody can take now (everyone full, nobody for
its category) stays marked, and the sweeper routes the marked ones each pass, the most urgent first, so it is
assigned as soon as an agent has room. Any assignment clears the mark, so an agent's own choice is never
overridden, and a ticket resolved or closed meanwhile is dropped from the wait.

Each assignment is its own transaction, which holds the agent's row before counting their load (a row lock on
PostgreSQL, the write lock on SQLite) and then claims the ticket as read: two workers routing at once cannot
take an agent past `max_open`, nor assign a ticket an agent assigned meanwhile.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import Enum, auto

from sqlalchemy import ColumnElement, Row, ScalarSelect, and_, case, func, select, text
from sqlalchemy.orm import InstrumentedAttribute, Session

from shared.alerts import raise_assignment_alert, send_alert
from shared.config import Settings, get_settings
from shared.db import claim_row, in_chunks
from shared.models import OPEN_WORK, OPEN_WORK_STATUSES, VENDOR_SOURCES, Agent, Ticket, audit_actor, utcnow
from shared.schemas import PRIORITY_RANK

log = logging.getLogger(__name__)
ACTOR = "system:auto-assign"  # the history's actor of the assignments made here
PER_PASS = 200  # tickets a pass looks at, the most urgent first, then the longest waiting
_NEVER = datetime.min.replace(tzinfo=UTC)  # the last assignment of an agent never assigned by the rotation


def open_tickets(agent_id: InstrumentedAttribute[str] | ColumnElement[str] | str) -> ScalarSelect[int]:
    """An agent's load as a scalar subquery (`agent_id` a column or a value): their tickets in the working
    statuses, counted from `idx_tickets_assigned_open` (its predicate is written out so SQLite uses it)."""
    return (
        select(func.count())
        .select_from(Ticket)
        .where(Ticket.assigned_to == agent_id, text(OPEN_WORK))
        .scalar_subquery()
    )


def awaiting_assignment() -> ColumnElement[bool]:
    """The tickets waiting for the rotation: marked, and still unassigned open work (a mark a pass has yet to
    drop is not counted); read through `idx_tickets_to_route`."""
    return and_(
        Ticket.routing_requested_at.is_not(None),
        Ticket.assigned_to.is_(None),
        Ticket.status.in_(OPEN_WORK_STATUSES),
    )


def in_rotation(session: Session) -> bool:
    """Whether any active agent takes automatic assignments."""
    query = select(Agent.agent_id).where(Agent.active.is_(True), Agent.auto_assign.is_(True)).limit(1)
    return session.scalar(query) is not None


def routable(ticket: Ticket) -> bool:
    """A ticket the rotation may take: unassigned, open work, from the web form or the API, not erased.
    Zendesk and Intercom tickets are assigned in the vendor's tool, where their replies are written."""
    return (
        ticket.assigned_to is None
        and ticket.status in OPEN_WORK_STATUSES
        and ticket.source not in VENDOR_SOURCES
        and ticket.erased_at is None
    )


def request_routing(session: Session, tickets: list[Ticket], now: datetime | None = None) -> list[str]:
    """Mark the tickets whose first classification is being stored as waiting for the rotation, those routable
    and not waiting already, when anyone is in it (otherwise nothing waits, and turning a rotation on later
    routes only newer tickets); one look at the rotation for a whole batch. The caller holds the tickets' rows
    and commits; returns the ids marked."""
    candidates = [t for t in tickets if t.routing_requested_at is None and routable(t)]
    if not candidates or not in_rotation(session):
        return []
    at = now or utcnow()
    for ticket in candidates:
        ticket.routing_requested_at = at
    return [ticket.ticket_id for ticket in candidates]


@dataclass
class _Candidate:
    agent_id: str
    categories: list[str] | None
    max_open: int | None
    load: int
    last_routed_at: datetime | None

    def takes(self, category: str | None) -> bool:
        return self.categories is None or category in self.categories

    def has_room(self) -> bool:
        return self.max_open is None or self.load < self.max_open

    def rank(self) -> tuple[int, datetime, str]:
        """Fewest open tickets first, then the longest without an assignment from the rotation."""
        return (self.load, self.last_routed_at or _NEVER, self.agent_id)


class _Outcome(Enum):
    assigned = auto()
    rerank = auto()  # the agent, read again once held, has no room or no longer takes the category
    gone = auto()  # the agent left the rotation, was deactivated or went away, since read
    ticket_changed = auto()  # the ticket was assigned, moved, recategorised or routed meanwhile: the next pass reads it


def route_waiting(
    session: Session,
    *,
    ticket_ids: list[str] | None = None,
    now: datetime | None = None,
    limit: int = PER_PASS,
    settings: Settings | None = None,
) -> list[tuple[str, str]]:
    """Assign the tickets waiting for the rotation (only `ticket_ids` of them, when given), the highest priority
    first and, within one, the longest waiting (as Zendesk's routing orders them: a critical ticket takes the
    first slot freed, whatever waits before it), each in its own transaction; returns (ticket id, agent id) for
    each assigned. A waiting ticket that is no longer routable (assigned, pending, resolved, closed) stops
    waiting. The waiting set is small (`idx_tickets_to_route` holds only it), so sorting it is cheap. With
    ALERT_ON_AUTO_ASSIGN (`settings`, the process's by default), each assignment writes its alert too."""
    urgency = case(
        *((Ticket.priority == p.value, -rank) for p, rank in PRIORITY_RANK.items()), else_=1
    )  # critical first, a ticket without a priority last
    query = (
        select(Ticket.ticket_id, Ticket.routing_requested_at, Ticket.category, Ticket.status, Ticket.assigned_to)
        .where(Ticket.routing_requested_at.is_not(None))
        .order_by(urgency, Ticket.routing_requested_at, Ticket.ticket_id)
        .limit(limit)
    )
    waiting: list[Row[str, datetime | None, str | None, str, str | None]] = []
    if ticket_ids is None:
        waiting = list(session.execute(query).all())
    else:
        for chunk in in_chunks(ticket_ids):
            waiting += session.execute(query.where(Ticket.ticket_id.in_(chunk))).all()
    if not waiting:
        session.rollback()
        return []
    candidates = _candidates(session)
    session.rollback()  # end the read: each assignment is its own transaction
    assigned: list[tuple[str, str]] = []
    route = _Route(session, candidates, settings or get_settings(), now)
    token = audit_actor.set(ACTOR)
    try:
        for ticket_id, since, category, status, assigned_to in waiting:
            if assigned_to is not None or status not in OPEN_WORK_STATUSES:
                _stop_waiting(session, ticket_id, since)
            elif (agent_id := route.one(ticket_id, (since, category, status))) is not None:
                assigned.append((ticket_id, agent_id))
    finally:
        audit_actor.reset(token)
    if assigned:
        log.info("auto-assigned %d ticket(s)", len(assigned))
    return assigned


def _candidates(session: Session) -> list[_Candidate]:
    query = select(
        Agent.agent_id, Agent.categories, Agent.max_open, open_tickets(Agent.agent_id), Agent.last_routed_at
    ).where(Agent.active.is_(True), Agent.auto_assign.is_(True), Agent.away.is_(False))
    return [_Candidate(*row) for row in session.execute(query)]


_Seen = tuple[datetime | None, str | None, str]  # a waiting ticket as read: waiting since, category, status


@dataclass
class _Route:
    """One pass's assignments: the candidates as read, kept up to date as the pass assigns."""

    session: Session
    candidates: list[_Candidate]
    settings: Settings
    now: datetime | None

    def one(self, ticket_id: str, seen: _Seen) -> str | None:
        """Try the agents who take the category and have room, best ranked first; the agent assigned, or None."""
        category = seen[1]
        candidates = self.candidates
        while ranked := sorted((c for c in candidates if c.takes(category) and c.has_room()), key=_Candidate.rank):
            best = ranked[0]
            outcome = self.assign(best, ticket_id, seen, self.now or utcnow())
            if outcome is _Outcome.assigned:
                return best.agent_id
            if outcome is _Outcome.gone:
                candidates.remove(best)
            elif outcome is _Outcome.ticket_changed:
                return None
            # rerank: `assign` refreshed the agent's categories, limit and load, which now rank it out
        return None

    def assign(self, candidate: _Candidate, ticket_id: str, seen: _Seen, now: datetime) -> _Outcome:
        """Hold the agent, read their rotation settings and count their load, then claim the ticket as read
        (`seen`: waiting since, category, status), assign it, and write its alert when those are on."""
        session = self.session
        since, category, status = seen
        try:
            if not claim_row(session, Agent, candidate.agent_id, active=True, auto_assign=True, away=False):
                return _Outcome.gone
            agent = session.get(Agent, candidate.agent_id, populate_existing=True)
            assert agent is not None  # claimed: the row is there and held
            candidate.categories, candidate.max_open = agent.categories, agent.max_open
            candidate.load = session.scalar(select(open_tickets(candidate.agent_id))) or 0
            if not (candidate.has_room() and candidate.takes(category)):
                return _Outcome.rerank
            seen_row = {"routing_requested_at": since, "category": category, "status": status, "assigned_to": None}
            if not claim_row(session, Ticket, ticket_id, **seen_row):
                return _Outcome.ticket_changed
            ticket = session.get(Ticket, ticket_id, populate_existing=True)
            assert ticket is not None
            ticket.assigned_to = candidate.agent_id  # through the ORM: the history records it, as ACTOR
            ticket.routing_requested_at = None
            ticket.updated_at = now
            agent.last_routed_at = now
            alert_id = raise_assignment_alert(session, ticket, agent, self.settings, at=now)
            session.commit()
        finally:
            session.rollback()  # a no-op after the commit; ends the transaction on every other way out
        if alert_id is not None:
            send_alert(alert_id)
        candidate.load += 1
        candidate.last_routed_at = now
        return _Outcome.assigned


def _stop_waiting(session: Session, ticket_id: str, since: datetime | None) -> None:
    """Drop a ticket assigned, set pending, resolved or closed while it waited from the wait (if it still waits
    since `since`)."""
    if claim_row(session, Ticket, ticket_id, routing_requested_at=since):
        ticket = session.get(Ticket, ticket_id, populate_existing=True)
        assert ticket is not None
        ticket.routing_requested_at = None
        session.commit()
    session.rollback()
