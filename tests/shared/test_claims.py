"""Claiming a row before writing what was decided from reading it (SQLite and PostgreSQL)."""

from __future__ import annotations

import pytest

from gateway.services.tickets import create_ticket
from shared.db import claim_row
from shared.models import Ticket
from shared.pipeline import record_failure, set_state
from shared.schemas import ProcessingState, TicketCreate
from tests.interleave import WriteBetween

NEW = TicketCreate(customer_email="claim@example.com", subject="Login", description="I cannot log in to my account.")


@pytest.fixture
def ticket_id(session_factory, redis_client) -> str:  # type: ignore[no-untyped-def]
    with session_factory() as session:
        return create_ticket(session, NEW).ticket_id


def test_a_claim_matches_only_the_values_read(session_factory, ticket_id) -> None:  # type: ignore[no-untyped-def]
    with session_factory() as session:
        assert claim_row(session, Ticket, ticket_id, category=None, processing_state="queued")  # None is NULL
        session.commit()
        assert not claim_row(session, Ticket, ticket_id, category="billing")
        assert not claim_row(session, Ticket, "TKT-missing", category=None)
        with pytest.raises(ValueError, match="at least one column"):
            claim_row(session, Ticket, ticket_id)


def test_a_failure_is_not_recorded_over_a_draft_another_delivery_stored_meanwhile(session_factory, ticket_id) -> None:  # type: ignore[no-untyped-def]
    """A task gives up on a ticket as a duplicate delivery stores its draft: the ticket stays done."""

    def other_delivery_finishes(session):  # type: ignore[no-untyped-def]
        set_state(session, session.get(Ticket, ticket_id), ProcessingState.done)
        session.commit()

    between = WriteBetween(session_factory, ticket_id, other_delivery_finishes)
    between.armed = True
    with between.listening(), session_factory() as session:
        record_failure(ticket_id, TimeoutError("LLM did not answer"), session)
    assert between.fired
    with session_factory() as session:
        ticket = session.get(Ticket, ticket_id)
        assert (ticket.processing_state, ticket.processing_error) == ("done", None)
