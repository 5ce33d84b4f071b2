"""One ticket the model cannot take does not fail the tickets batched with it (SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from classifier_worker.classifier import TicketClassifier
from classifier_worker.service import classify_ticket
from gateway.services.tickets import create_ticket
from shared.config import Settings
from shared.errors import TransientError
from shared.models import Ticket
from shared.schemas import Classification, TicketContext, TicketCreate


class FailsOn:
    """The real classifier, except that any batch holding a ticket whose text contains `marker` raises."""

    def __init__(self, classifier: TicketClassifier, marker: str, error: Exception) -> None:
        self.classifier, self.marker, self.error = classifier, marker, error
        self.calls: list[int] = []

    def classify_batch(self, tickets: Sequence[TicketContext]) -> list[Classification]:
        self.calls.append(len(tickets))
        if any(self.marker in t.description for t in tickets):
            raise self.error
        return self.classifier.classify_batch(tickets)


@pytest.fixture
def tickets(session_factory, redis_client) -> tuple[str, str]:  # type: ignore[no-untyped-def]
    """A good ticket, and a poison one queued after it."""
    with session_factory() as session:
        good = create_ticket(
            session,
            TicketCreate(customer_email="g@example.com", subject="Refund", description="Please refund order #4410."),
        ).ticket_id
        poison = create_ticket(
            session,
            TicketCreate(customer_email="p@example.com", subject="Odd", description="POISON text the model rejects"),
        ).ticket_id
    return good, poison


def test_a_batch_that_fails_is_retried_with_the_tasks_own_ticket_alone(local_model, session_factory, tickets) -> None:  # type: ignore[no-untyped-def]
    good, poison = tickets
    classifier = FailsOn(TicketClassifier(Settings(groq_api_key=None), local_model), "POISON", ValueError("bad input"))

    assert classify_ticket(good, classifier=classifier, factory=session_factory) == "classified"
    assert classifier.calls == [2, 1]  # the batch with the poison ticket, then the good one alone
    with pytest.raises(ValueError, match="bad input"):  # the poison ticket's own task fails (and records it)
        classify_ticket(poison, classifier=classifier, factory=session_factory)
    with session_factory() as session:
        assert session.get(Ticket, good).processing_state == "classified"
        assert session.get(Ticket, poison).processing_state == "queued"


def test_a_transient_failure_of_the_batch_is_retried_whole(local_model, session_factory, tickets) -> None:  # type: ignore[no-untyped-def]
    """A timeout or a lost connection is nobody's fault: the task retries the whole batch later."""
    good, _ = tickets
    classifier = FailsOn(TicketClassifier(Settings(groq_api_key=None), local_model), "POISON", TransientError("x"))

    with pytest.raises(TransientError):
        classify_ticket(good, classifier=classifier, factory=session_factory)
    assert classifier.calls == [2]
