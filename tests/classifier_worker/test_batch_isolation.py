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


@pytest.fixture
def poisoned(local_model) -> FailsOn:  # type: ignore[no-untyped-def]
    """The real classifier, failing (not transiently) on any batch that holds the poison ticket."""
    return FailsOn(TicketClassifier(Settings(groq_api_key=None), local_model), "POISON", ValueError("bad input"))


def _queue(session_factory, prefix: str, count: int) -> list[str]:  # type: ignore[no-untyped-def]
    """`count` more ordinary tickets, queued after the fixture's two."""
    with session_factory() as session:
        return [
            create_ticket(
                session,
                TicketCreate(customer_email=f"{prefix}{i}@example.com", subject="Late", description=f"Order #{i} late"),
            ).ticket_id
            for i in range(count)
        ]


def test_a_batch_that_fails_is_split_until_the_poison_ticket_stands_alone(poisoned, session_factory, tickets) -> None:  # type: ignore[no-untyped-def]
    good, poison = tickets

    assert classify_ticket(good, classifier=poisoned, factory=session_factory) == "classified"

    assert poisoned.calls == [2, 1, 1]  # the batch with the poison ticket, then its halves
    with session_factory() as session:
        assert session.get(Ticket, good).processing_state == "classified"
        rejected = session.get(Ticket, poison)
        assert rejected.processing_state == "failed"  # recorded where it failed alone
        assert rejected.processing_error == "ValueError: bad input"
    _queue(session_factory, "n", 1)
    with pytest.raises(ValueError, match="bad input"):  # its own task tries it alone, and fails too
        classify_ticket(poison, classifier=poisoned, factory=session_factory)
    assert poisoned.calls[3:] == [1]  # not batched with the new ticket: no second split


def test_a_large_batch_is_halved_not_taken_apart(poisoned, session_factory, tickets) -> None:  # type: ignore[no-untyped-def]
    """Eight tickets, one poison: the halves without it are classified whole (7 calls, not 1 + 8)."""
    good, poison = tickets
    more = _queue(session_factory, "m", 6)

    assert classify_ticket(good, classifier=poisoned, factory=session_factory) == "classified"

    # [good, poison, m0, m1 | m2..m5] -> [good, poison | m0, m1] -> [good | poison]
    assert poisoned.calls == [8, 4, 2, 1, 1, 2, 4]
    with session_factory() as session:
        assert {session.get(Ticket, t).processing_state for t in [good, *more]} == {"classified"}
        assert session.get(Ticket, poison).processing_state == "failed"


def test_later_batches_no_longer_take_the_rejected_ticket(poisoned, session_factory, tickets) -> None:  # type: ignore[no-untyped-def]
    """With a backlog, the oldest queued tickets join every batch: a poison ticket left queued would
    make every later batch fail once before its tickets were classified."""
    good, _ = tickets
    classify_ticket(good, classifier=poisoned, factory=session_factory)
    later = _queue(session_factory, "c", 3)
    poisoned.calls.clear()

    assert classify_ticket(later[0], classifier=poisoned, factory=session_factory) == "classified"

    assert poisoned.calls == [3]  # one batch of the three new tickets, the poison one not among them
    with session_factory() as session:
        assert {session.get(Ticket, t).processing_state for t in later} == {"classified"}


def test_the_tasks_own_poison_ticket_fails_after_the_others_are_stored(poisoned, session_factory, tickets) -> None:  # type: ignore[no-untyped-def]
    good, poison = tickets

    with pytest.raises(ValueError, match="bad input"):
        classify_ticket(poison, classifier=poisoned, factory=session_factory)

    assert poisoned.calls == [2, 1, 1]
    with session_factory() as session:
        assert session.get(Ticket, good).processing_state == "classified"  # stored before the raise
        # left for the task's wrapper to record (pipeline_task), as for any failing step
        assert session.get(Ticket, poison).processing_state == "queued"


def test_a_rejected_ticket_whose_own_task_moved_on_is_not_marked_failed(session_factory, tickets) -> None:  # type: ignore[no-untyped-def]
    """Only a ticket still `queued` is recorded failed by another ticket's task."""
    from shared.pipeline import record_failure
    from shared.schemas import ProcessingState

    _, poison = tickets
    with session_factory() as session:
        session.get(Ticket, poison).processing_state = "classified"
        session.commit()
        assert record_failure(poison, ValueError("x"), session, only_from=ProcessingState.queued) is False
        assert session.get(Ticket, poison).processing_state == "classified"
        assert record_failure(poison, ValueError("x"), session) is True


def test_a_transient_failure_of_the_batch_is_retried_whole(local_model, session_factory, tickets) -> None:  # type: ignore[no-untyped-def]
    """A timeout or a lost connection is nobody's fault: the task retries the whole batch later."""
    good, _ = tickets
    classifier = FailsOn(TicketClassifier(Settings(groq_api_key=None), local_model), "POISON", TransientError("x"))

    with pytest.raises(TransientError):
        classify_ticket(good, classifier=classifier, factory=session_factory)
    assert classifier.calls == [2]
