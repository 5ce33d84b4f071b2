"""Two agents moving one ticket at once: the workflow and the audit trail hold; a ticket that keeps changing
is refused, not written over; an agent deactivated while a ticket is being assigned to it gets none (SQLite
and PostgreSQL)."""

from __future__ import annotations

import threading
from itertools import pairwise

import pytest
from sqlalchemy import select

from gateway.services import tickets
from gateway.services.agents import create_agent, update_agent
from gateway.services.tickets import CLAIM_ATTEMPTS, assign_ticket, change_status, create_ticket
from shared.errors import Conflict
from shared.models import Agent, AuditLog, Ticket
from shared.schemas import STATUS_TRANSITIONS, AgentCreate, AgentUpdate, Status, TicketCreate
from tests.interleave import WriteBetween

NEW = TicketCreate(customer_email="race@example.com", subject="Refund", description="Please refund order 12.")


@pytest.fixture
def ticket_id(session_factory, redis_client) -> str:  # type: ignore[no-untyped-def]
    with session_factory() as session:
        ticket_id = create_ticket(session, NEW).ticket_id
        change_status(session, ticket_id, Status.open)
    return ticket_id


def _trail(session_factory, ticket_id: str) -> list[tuple[str | None, str | None]]:  # type: ignore[no-untyped-def]
    with session_factory() as session:
        query = select(AuditLog).where(AuditLog.ticket_id == ticket_id, AuditLog.field == "status")
        return [(row.old_value, row.new_value) for row in session.scalars(query.order_by(AuditLog.id))]


def test_a_change_decided_on_a_status_another_agent_just_changed_is_checked_again(session_factory, ticket_id) -> None:  # type: ignore[no-untyped-def]
    """Agent A read the ticket as `open`; before A writes, agent B closes it. Closed is final, so A's
    move to `pending` must be refused, not written over B's close."""
    with session_factory() as first, session_factory() as second:
        seen = first.get(Ticket, ticket_id)  # A has read it (held, as a request holds it between check and write)
        assert seen.status == "open"
        change_status(second, ticket_id, Status.closed)  # B closes it and commits
        with pytest.raises(Conflict, match="from 'closed' to 'pending'; allowed: none"):
            change_status(first, ticket_id, Status.pending)
    with session_factory() as session:
        assert session.get(Ticket, ticket_id).status == "closed"
    assert _trail(session_factory, ticket_id) == [("new", "open"), ("open", "closed")]


def test_resolving_and_parking_at_once_never_leave_pending_with_a_resolved_at(session_factory, ticket_id) -> None:  # type: ignore[no-untyped-def]
    with session_factory() as first, session_factory() as second:
        seen = first.get(Ticket, ticket_id)
        assert seen.status == "open"
        change_status(second, ticket_id, Status.resolved)
        # resolved -> pending is not a move the workflow has: refused, the resolution stands.
        with pytest.raises(Conflict, match="from 'resolved' to 'pending'"):
            change_status(first, ticket_id, Status.pending)
        # resolved -> open is: it is applied on the status the check saw, and clears resolved_at.
        reopened = change_status(first, ticket_id, Status.open)
        assert reopened.status == "open" and reopened.resolved_at is None
    assert _trail(session_factory, ticket_id) == [("new", "open"), ("open", "resolved"), ("resolved", "open")]


def test_concurrent_changes_leave_a_consistent_ticket_and_an_unbroken_trail(session_factory, ticket_id) -> None:  # type: ignore[no-untyped-def]
    """Threads race moves out of `open`; each is applied to the status it was checked against, so every
    audit entry starts where the previous one ended, and resolved_at is set exactly when resolved."""
    targets = [Status.in_progress, Status.pending, Status.resolved, Status.closed, Status.open] * 4
    barrier = threading.Barrier(len(targets))
    outcomes: list[str] = []

    def move(target: Status) -> None:
        with session_factory() as session:
            barrier.wait()
            try:
                change_status(session, ticket_id, target)
                outcomes.append("applied")
            except Conflict:
                outcomes.append("refused")

    threads = [threading.Thread(target=move, args=(t,)) for t in targets]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert len(outcomes) == len(targets)
    trail = _trail(session_factory, ticket_id)
    for (_, previous_new), (old, _) in pairwise(trail):
        assert old == previous_new, trail
    resolved = False  # what resolved_at should be after replaying the trail
    for old, new in trail[1:]:
        assert Status(new) in STATUS_TRANSITIONS[Status(old)], trail
        resolved = new == "resolved" or (resolved and new == "closed")
    with session_factory() as session:
        ticket = session.get(Ticket, ticket_id)
        assert ticket.status == trail[-1][1]
        assert (ticket.resolved_at is not None) == resolved, (trail, ticket.resolved_at)


def test_a_ticket_that_changes_before_every_write_is_refused_after_the_last_read(
    session_factory, ticket_id, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    """Each time this request has read and checked the ticket, another agent moves it (open <-> in_progress)
    before the claim. Every read allows `pending` and every claim loses: after CLAIM_ATTEMPTS reads the answer
    is 409, and only the other agent's moves are in the trail."""
    claim_row = tickets.claim_row
    lost = []

    with session_factory() as request:

        def other_agent_moves_first(session, entity, key, **seen):  # type: ignore[no-untyped-def]
            if session is request:  # the other agent's own claim goes straight through
                with session_factory() as other:
                    moved = Status.in_progress if other.get(Ticket, ticket_id).status == "open" else Status.open
                    change_status(other, ticket_id, moved)
                lost.append(seen)
            return claim_row(session, entity, key, **seen)

        monkeypatch.setattr(tickets, "claim_row", other_agent_moves_first)
        with pytest.raises(Conflict, match=f"ticket '{ticket_id}' kept changing while this status change was applied"):
            change_status(request, ticket_id, Status.pending)
    statuses = ["open", "in_progress"] * CLAIM_ATTEMPTS  # as each read saw it, then the other agent's move
    assert lost == [{"status": status} for status in statuses[:CLAIM_ATTEMPTS]]
    assert _trail(session_factory, ticket_id) == [("new", "open"), *pairwise(statuses[: CLAIM_ATTEMPTS + 1])]
    with session_factory() as session:
        assert session.get(Ticket, ticket_id).status == statuses[CLAIM_ATTEMPTS]  # the other agent's last move


def test_an_assignment_decided_on_an_agent_deactivated_meanwhile_is_refused(session_factory, ticket_id) -> None:  # type: ignore[no-untyped-def]
    """The assigning request has read the agent as active; an admin's deactivation commits before
    it writes. The assignment must be refused, not land on an inactive agent."""
    with session_factory() as admin:
        create_agent(admin, AgentCreate(agent_id="AG-LEAVING", name="Lee"))
    between = WriteBetween(
        session_factory, "AG-LEAVING", lambda s: update_agent(s, "AG-LEAVING", AgentUpdate(active=False)), entity=Agent
    )
    between.armed = True
    with between.listening(), session_factory() as session, pytest.raises(Conflict, match="inactive"):
        assign_ticket(session, ticket_id, "AG-LEAVING")
    assert between.fired
    with session_factory() as session:
        assert session.get(Ticket, ticket_id).assigned_to is None
        assert session.get(Agent, "AG-LEAVING").active is False
