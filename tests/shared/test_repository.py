"""The repository layer (gateway services over SQLAlchemy) behaves the same on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select, update

from gateway.services import agents as agent_service
from gateway.services import tickets as service
from shared.config import Targets
from shared.errors import Conflict, NotFound
from shared.models import Customer, Ticket, utcnow
from shared.pipeline import sweep_stale
from shared.schemas import AgentCreate, Priority, ProcessingState, Status, TicketCreate, TicketFilters


def _data(**overrides: object) -> TicketCreate:
    values = {
        "customer_email": "Jane.Doe@Example.com",
        "customer_name": "Jane",
        "subject": "Where is my order?",
        "description": "Order #2021 has not arrived after a week.",
        "order_id": "2021",
    }
    values.update(overrides)
    return TicketCreate(**values)  # type: ignore[arg-type]


def test_create_stores_ticket_customer_and_metadata(session_factory, redis_client):
    with session_factory() as session:
        ticket = service.create_ticket(session, _data())
        ticket_id = ticket.ticket_id
    assert ticket_id.startswith("TKT-") and len(ticket_id) == len("TKT-YYYYMMDD-XXXXXXXX")
    with session_factory() as session:
        stored = service.get_ticket(session, ticket_id)
        targets = Targets(resolution={"high": timedelta(hours=1)}, first_response={}, next_reply={})
        view = service.to_read(stored, targets)
    assert view.status == "new" and view.processing_state == "queued"
    assert view.priority is None and view.due_at is None  # no priority before classification: no target
    assert view.first_response_due_at is None
    assert view.customer_email == "jane.doe@example.com"
    assert view.metadata == {"order_id": "2021"}
    assert view.created_at.tzinfo is not None
    assert redis_client.llen("classify") == 1


def test_customer_upsert_is_stable_and_keeps_one_row(session_factory, redis_client):
    with session_factory() as session:
        a = service.create_ticket(session, _data(customer_name=None))
        b = service.create_ticket(session, _data(customer_email="jane.doe@example.com", customer_name="Jane D."))
        assert a.customer_id == b.customer_id
        customers = session.scalars(select(Customer)).all()
    assert len(customers) == 1 and customers[0].name == "Jane D."


def test_list_filters_orders_newest_first_and_pages(session_factory, redis_client):
    with session_factory() as session:
        ids = [service.create_ticket(session, _data(subject=f"t{i}")).ticket_id for i in range(5)]
        base = utcnow()
        for offset, ticket_id in enumerate(ids):  # make the order unambiguous
            session.execute(
                update(Ticket)
                .where(Ticket.ticket_id == ticket_id)
                .values(created_at=base + timedelta(seconds=offset), priority="high" if offset % 2 else "low")
            )
        session.commit()
        newest = service.list_tickets(session, TicketFilters(limit=2))
        assert [t.ticket_id for t in newest] == [ids[4], ids[3]]
        older = service.list_tickets(session, TicketFilters(limit=2, offset=2))
        assert [t.ticket_id for t in older] == [ids[2], ids[1]]
        high = service.list_tickets(session, TicketFilters(priority=Priority.high))
        assert {t.ticket_id for t in high} == {ids[1], ids[3]}
        assert service.list_tickets(session, TicketFilters(status=Status.closed)) == []


def test_status_transitions_are_enforced(session_factory, redis_client):
    with session_factory() as session:
        ticket_id = service.create_ticket(session, _data()).ticket_id
        resolved = service.change_status(session, ticket_id, Status.resolved)
        assert resolved.resolved_at is not None
        with pytest.raises(Conflict, match="from 'resolved' to 'in_progress'"):
            service.change_status(session, ticket_id, Status.in_progress)
        reopened = service.change_status(session, ticket_id, Status.open)
        assert reopened.resolved_at is None
        service.change_status(session, ticket_id, Status.closed)
        with pytest.raises(Conflict, match="final state"):
            service.change_status(session, ticket_id, Status.open)


def test_assign_requires_an_existing_active_agent(session_factory, redis_client):
    with session_factory() as session:
        ticket_id = service.create_ticket(session, _data()).ticket_id
        with pytest.raises(NotFound, match="agent 'AG-X' not found"):
            service.assign_ticket(session, ticket_id, "AG-X")
        agent_service.create_agent(session, AgentCreate(agent_id="AG-1", name="Ann"))
        agent_service.create_agent(session, AgentCreate(agent_id="AG-2", name="Bob", active=False))
        with pytest.raises(Conflict, match="inactive"):
            service.assign_ticket(session, ticket_id, "AG-2")
        assert service.assign_ticket(session, ticket_id, "AG-1").assigned_to == "AG-1"
        with pytest.raises(Conflict):
            agent_service.create_agent(session, AgentCreate(agent_id="AG-1", name="Dup"))
        assert [t.ticket_id for t in service.list_tickets(session, TicketFilters(assigned_to="AG-1"))] == [ticket_id]


def test_unknown_ticket_is_not_found(session_factory):
    with session_factory() as session, pytest.raises(NotFound, match="ticket 'TKT-nope' not found"):
        service.get_ticket(session, "TKT-nope")


def test_sweeper_reenqueues_only_stale_waiting_tickets(session_factory, redis_client):
    with session_factory() as session:
        stale_queued = service.create_ticket(session, _data(subject="a")).ticket_id
        stale_classified = service.create_ticket(session, _data(subject="b")).ticket_id
        fresh = service.create_ticket(session, _data(subject="c")).ticket_id
        done = service.create_ticket(session, _data(subject="d")).ticket_id
        old = utcnow() - timedelta(minutes=10)
        for ticket_id, state in (
            (stale_queued, "queued"),
            (stale_classified, "classified"),
            (done, "done"),
        ):
            session.execute(
                update(Ticket)
                .where(Ticket.ticket_id == ticket_id)
                .values(processing_state=state, processing_updated_at=old)
            )
        session.commit()
        redis_client.flushdb()  # the broker lost every message

        sent = sweep_stale(session, older_than_s=60)
        assert set(sent) == {stale_queued, stale_classified}
        assert fresh not in sent
        assert redis_client.llen("classify") == 1 and redis_client.llen("draft") == 1
        # bumped: an immediate second pass sends nothing again
        assert sweep_stale(session, older_than_s=60) == []
        state = session.scalar(select(Ticket.processing_state).where(Ticket.ticket_id == stale_queued))
        assert state == ProcessingState.queued.value
