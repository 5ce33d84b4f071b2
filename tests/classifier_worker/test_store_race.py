"""The classifier storing a result while an agent corrects the ticket: neither write is lost or
recorded against values it did not see (SQLite and PostgreSQL)."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Sequence

import pytest
from sqlalchemy import select

from classifier_worker.classifier import TicketClassifier
from classifier_worker.service import classify_ticket
from gateway.services.corrections import correct_ticket
from gateway.services.erasure import erase_customer
from gateway.services.tickets import create_ticket
from shared import pipeline
from shared.config import Settings
from shared.models import Alert, AuditLog, Ticket, TicketCorrection, TicketReference
from shared.schemas import Classification, CustomerSelector, TicketContext, TicketCreate
from tests.interleave import WriteBetween

NEW = TicketCreate(
    customer_email="race@example.com",
    subject="Charged twice",
    description="I was charged twice for order #5521 this morning, please refund the duplicate charge.",
)


@pytest.fixture
def classifier(local_model) -> TicketClassifier:  # type: ignore[no-untyped-def]
    return TicketClassifier(Settings(groq_api_key=None), local_model)


@pytest.fixture
def ticket_id(session_factory, redis_client) -> str:  # type: ignore[no-untyped-def]
    with session_factory() as session:
        return create_ticket(session, NEW).ticket_id


class ArmsOnAnswer:
    """The real classifier; once it has answered, the interleaved write is armed."""

    def __init__(self, classifier: TicketClassifier, between: WriteBetween) -> None:
        self.classifier, self.between = classifier, between
        self.results: list[Classification] = []

    def classify_batch(self, tickets: Sequence[TicketContext]) -> list[Classification]:
        self.results = self.classifier.classify_batch(tickets)
        self.between.armed = True
        return self.results


def _other_than(category: str) -> str:
    return "general" if category != "general" else "account"


def _category_trail(session_factory, ticket_id: str) -> list[tuple[str | None, str | None]]:  # type: ignore[no-untyped-def]
    with session_factory() as session:
        query = select(AuditLog).where(AuditLog.ticket_id == ticket_id, AuditLog.field == "category")
        return [(row.old_value, row.new_value) for row in session.scalars(query.order_by(AuditLog.id))]


def test_an_agent_correction_committed_while_the_worker_stores_is_kept(session_factory, ticket_id, classifier) -> None:  # type: ignore[no-untyped-def]
    """The worker has read the ticket (no category yet) to store its result; the agent's correction
    commits before the worker writes. The worker must see it and leave the working category alone."""
    chosen: list[str] = []

    def agent_corrects(session):  # type: ignore[no-untyped-def]
        chosen.append(_other_than(model.results[0].category.value))
        return correct_ticket(session, ticket_id, field="category", value=chosen[0], actor="agent:ana")

    between = WriteBetween(session_factory, ticket_id, agent_corrects)
    model = ArmsOnAnswer(classifier, between)
    with between.listening():
        assert classify_ticket(ticket_id, classifier=model, factory=session_factory) == "classified"
    assert between.fired
    predicted_category = model.results[0].category.value
    with session_factory() as session:
        ticket = session.get(Ticket, ticket_id)
        assert ticket.processing_state == "classified"
        assert ticket.ai_suggested_category == predicted_category
        assert ticket.category == chosen[0] != predicted_category
    assert _category_trail(session_factory, ticket_id) == [(None, chosen[0])]


def test_a_correction_decided_before_the_classifier_stored_records_what_it_replaced(  # type: ignore[no-untyped-def]
    session_factory, ticket_id, classifier
) -> None:
    """The agent's request read the ticket before the classifier stored its result. The correction
    replaces the classifier's category, so that is what the record (which the classifier learns
    from) must say it replaced, and what the AI said."""
    with session_factory() as agent:
        seen = agent.get(Ticket, ticket_id)  # held, as a request holds it between its read and its write
        assert seen.category is None
        assert classify_ticket(ticket_id, classifier=classifier, factory=session_factory) == "classified"
        with session_factory() as session:
            predicted = session.get(Ticket, ticket_id).ai_suggested_category
        corrected = correct_ticket(agent, ticket_id, field="category", value=_other_than(predicted), actor="agent:ana")
        assert corrected.category == _other_than(predicted)
    with session_factory() as session:
        (record,) = session.scalars(select(TicketCorrection).where(TicketCorrection.ticket_id == ticket_id))
        assert (record.old_value, record.new_value, record.ai_value) == (predicted, _other_than(predicted), predicted)
    assert _category_trail(session_factory, ticket_id) == [(None, predicted), (predicted, _other_than(predicted))]


def test_a_correction_decided_before_a_later_round_records_the_ai_value_it_overrode(  # type: ignore[no-untyped-def]
    session_factory, ticket_id, classifier
) -> None:
    """The agent set the priority once; a later round (a customer's follow-up) stores a new AI priority and
    keeps the agent's. A second correction read before that round must record the AI priority the round
    stored, the one the classifier learns it overrode, not the one the agent's request read."""
    assert classify_ticket(ticket_id, classifier=classifier, factory=session_factory) == "classified"
    with session_factory() as session:
        first_ai = session.get(Ticket, ticket_id).ai_suggested_priority
    chosen = "medium" if first_ai != "medium" else "low"
    later_ai = "critical" if first_ai != "critical" else "high"
    with session_factory() as session:
        correct_ticket(session, ticket_id, field="priority", value=chosen, actor="agent:ana")
    with session_factory() as agent:
        seen = agent.get(Ticket, ticket_id)  # held, as a request holds it between its read and its write
        assert (seen.priority, seen.ai_suggested_priority) == (chosen, first_ai)
        with session_factory() as round_:
            round_.get(Ticket, ticket_id).ai_suggested_priority = later_ai  # the agent's priority kept
            round_.commit()
        correct_ticket(agent, ticket_id, field="priority", value="high", actor="agent:ana")
    with session_factory() as session:
        query = select(TicketCorrection).where(TicketCorrection.ticket_id == ticket_id).order_by(TicketCorrection.id)
        records = [(r.old_value, r.new_value, r.ai_value) for r in session.scalars(query)]
    assert records == [(first_ai, chosen, first_ai), (chosen, "high", later_ai)]


def test_workers_storing_overlapping_batches_store_each_ticket_once(
    session_factory, redis_client, classifier, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    """Each task also takes the other queued tickets, so concurrent tasks classify the same tickets;
    each ticket must be stored, announced and handed to the draft step once (and no deadlock)."""
    with session_factory() as session:
        ids = [
            create_ticket(session, NEW.model_copy(update={"subject": f"Charged twice ({n})"})).ticket_id
            for n in range(8)
        ]
    announced: Counter[str] = Counter()
    monkeypatch.setattr(pipeline, "announce", lambda ticket_id, _state: announced.update([ticket_id]))
    barrier = threading.Barrier(4)
    outcomes: list[str] = []

    def task(ticket_id: str) -> None:
        barrier.wait()
        outcomes.append(classify_ticket(ticket_id, classifier=classifier, factory=session_factory))

    threads = [threading.Thread(target=task, args=(ticket_id,)) for ticket_id in ids[:4]]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert len(outcomes) == 4
    assert announced == Counter(ids), announced
    with session_factory() as session:
        assert {session.get(Ticket, ticket_id).processing_state for ticket_id in ids} == {"classified"}


def test_an_erasure_committed_while_the_worker_stores_is_not_undone(  # type: ignore[no-untyped-def]
    session_factory, ticket_id, classifier, db_url, settings_for, monkeypatch
) -> None:
    """The worker read the customer's text and classified it; their erasure commits before the worker writes.
    Storing the result would bring back what was read out of the text (order ids, keywords, reasoning), and
    raise an alert carrying the subject: the worker must find the ticket moved on and store nothing."""
    monkeypatch.setattr(
        "classifier_worker.service.get_settings",
        lambda: settings_for(db_url, alert_webhook_url="http://127.0.0.1:9/hook", alert_min_priority="low"),
    )

    def customer_erased(session):  # type: ignore[no-untyped-def]
        return erase_customer(session, CustomerSelector(email=NEW.customer_email))

    between = WriteBetween(session_factory, ticket_id, customer_erased)
    model = ArmsOnAnswer(classifier, between)
    with between.listening():
        assert classify_ticket(ticket_id, classifier=model, factory=session_factory) == "skipped"
    assert between.fired and between.result.tickets == [ticket_id]
    assert model.results[0].extracted_metadata.get("order_ids") == ["5521"]  # what it would have stored
    with session_factory() as session:
        ticket = session.get(Ticket, ticket_id)
        assert (ticket.processing_state, ticket.subject, ticket.description) == ("done", "[erased]", "[erased]")
        assert (ticket.ai_suggested_category, ticket.ai_reasoning, ticket.extracted_metadata) == (None, None, {})
        assert session.scalars(select(TicketReference)).all() == []
        assert session.scalars(select(Alert)).all() == []
