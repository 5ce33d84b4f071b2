"""The classify step hands a new ticket to the rotation (`shared.routing`) on SQLite and PostgreSQL, with the
served artifact: assigned as soon as its first classification is stored, by the category it found; left to
wait when nobody in the rotation takes it; never routed again by a later round."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from classifier_worker.classifier import TicketClassifier
from classifier_worker.service import classify_ticket
from gateway.services.agents import create_agent
from gateway.services.replies import add_message
from gateway.services.tickets import assign_ticket, create_ticket
from shared.config import Settings
from shared.models import AuditLog, Ticket
from shared.routing import ACTOR
from shared.schemas import AgentCreate, MessageCreate, TicketCreate
from tests.conftest import _truncate, wait_until

REFUND = TicketCreate(
    customer_email="r@example.com",
    subject="Refund",
    description="I returned the blue jacket last week. When will I get my refund?",
)


@pytest.fixture(scope="module")
def classifier(local_model) -> TicketClassifier:  # type: ignore[no-untyped-def]
    return TicketClassifier(Settings(groq_api_key=None), local_model)


def _classified(session_factory, classifier, data: TicketCreate = REFUND) -> Ticket:  # type: ignore[no-untyped-def]
    with session_factory() as session:
        ticket_id = create_ticket(session, data).ticket_id
    assert classify_ticket(ticket_id, classifier=classifier, factory=session_factory) == "classified"
    with session_factory() as session:
        ticket = session.get(Ticket, ticket_id)
        assert ticket is not None
        session.expunge(ticket)
        return ticket


def test_a_new_ticket_goes_to_the_agent_who_takes_its_category(session_factory, redis_client, classifier):  # type: ignore[no-untyped-def]
    with session_factory() as session:
        create_agent(session, AgentCreate(agent_id="AG-SHIP", name="Sam", auto_assign=True, categories=["shipping"]))
        create_agent(session, AgentCreate(agent_id="AG-MONEY", name="Mo", auto_assign=True, categories=["refund"]))
    ticket = _classified(session_factory, classifier)
    assert ticket.category == "refund"
    assert (ticket.assigned_to, ticket.routing_requested_at) == ("AG-MONEY", None)
    with session_factory() as session:
        query = select(AuditLog.new_value, AuditLog.actor).where(
            AuditLog.ticket_id == ticket.ticket_id, AuditLog.field == "assigned_to"
        )
        assert session.execute(query).all() == [("AG-MONEY", ACTOR)]

    # a later round (the customer writes again) does not route it again, even once unassigned
    with session_factory() as session:
        assign_ticket(session, ticket.ticket_id, None)
        ticket_row = session.get(Ticket, ticket.ticket_id)
        ticket_row.processing_state = "done"  # drafted, as the draft step would leave it
        session.commit()
        add_message(session, ticket.ticket_id, MessageCreate(body="Any news?"), author_type="customer", author="web")
    assert classify_ticket(ticket.ticket_id, classifier=classifier, factory=session_factory) == "classified"
    with session_factory() as session:
        again = session.get(Ticket, ticket.ticket_id)
        assert (again.assigned_to, again.routing_requested_at) == (None, None)


def test_a_ticket_nobody_takes_waits_and_none_waits_without_a_rotation(session_factory, redis_client, classifier):  # type: ignore[no-untyped-def]
    alone = _classified(session_factory, classifier)
    assert (alone.assigned_to, alone.routing_requested_at) == (None, None)  # nobody in the rotation: no wait
    with session_factory() as session:
        create_agent(session, AgentCreate(agent_id="AG-SHIP", name="Sam", auto_assign=True, categories=["shipping"]))
    waiting = _classified(session_factory, classifier)
    assert waiting.assigned_to is None
    assert waiting.routing_requested_at is not None
    assert waiting.routing_requested_at >= waiting.created_at


@pytest.mark.slow
def test_the_agent_hears_of_a_ticket_the_rotation_gave_them(client_for, start_worker, pg_url, redis_client, receiver):  # type: ignore[no-untyped-def]
    """Through the workers: the classifier routes the new ticket and writes its `ticket.assigned` alert in the same
    transaction; the alert worker delivers it to the team's webhook, naming the agent."""
    _truncate(pg_url)
    env = {"ALERT_WEBHOOK_URL": receiver.url, "ALERT_ON_AUTO_ASSIGN": "true"}
    start_worker("classifier_worker", pg_url, queues="classify", **env)
    start_worker("classifier_worker", pg_url, queues="alerts", app="alert_worker", **env)
    api = client_for(pg_url)
    agent = {"agent_id": "AG-MONEY", "name": "Mo", "email": "mo@example.com", "auto_assign": True}
    assert api.post("/api/agents", json=agent).status_code == 201

    ticket_id = api.post("/api/tickets/create", json=REFUND.model_dump()).json()["ticket"]["ticket_id"]
    wait_until(lambda: receiver.received, timeout=90)
    body = json.loads(receiver.received[0].body)
    assert (body["event"], body["ticket"]["ticket_id"], body["ticket"]["assigned_to"]) == (
        "ticket.assigned",
        ticket_id,
        "AG-MONEY",
    )
    assert body["agent"] == {"agent_id": "AG-MONEY", "name": "Mo", "email": "mo@example.com"}
    assert body["text"].startswith("Assigned to Mo: ") and ticket_id in body["text"]
