"""Two deliveries of one draft task: the draft is stored once, by whichever finishes first (SQLite and PostgreSQL)."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.services.tickets import create_ticket
from rag_worker.drafting import load_drafter
from rag_worker.service import draft_reply
from shared.config import Settings
from shared.models import Ticket
from shared.pipeline import set_state
from shared.schemas import Draft, KBHit, ProcessingState, TicketContext, TicketCreate
from tests.interleave import WriteBetween

NEW = TicketCreate(
    customer_email="race@example.com",
    subject="Where is my parcel?",
    description="Order #7781 was due on Monday and the tracking has not moved since. When will it arrive?",
)


class ArmsOnDraft:
    """The real local drafter; once it has drafted, the interleaved write is armed."""

    def __init__(self, between: WriteBetween) -> None:
        self.drafter, self.between = load_drafter(Settings(groq_api_key=None)), between

    def draft(self, ticket: TicketContext, hits: list[KBHit]) -> Draft:
        draft = self.drafter.draft(ticket, hits)
        self.between.armed = True
        return draft


@pytest.fixture
def classified_id(session_factory, redis_client) -> str:  # type: ignore[no-untyped-def]
    with session_factory() as session:
        ticket_id = create_ticket(session, NEW).ticket_id
        ticket = session.get(Ticket, ticket_id)
        ticket.category = ticket.ai_suggested_category = "shipping"
        set_state(session, ticket, ProcessingState.classified)
        session.commit()
    return ticket_id


def test_a_draft_stored_by_another_delivery_meanwhile_is_not_stored_again(
    session_factory, classified_id, retriever
) -> None:  # type: ignore[no-untyped-def]
    """Delivery A has drafted and is about to store; delivery B stores its draft first. A must find
    the ticket done and skip, not store and announce a second time."""

    def other_delivery(_session: Any) -> str:
        return draft_reply(classified_id, retriever=retriever, drafter=drafter.drafter, factory=session_factory)

    between = WriteBetween(session_factory, classified_id, other_delivery)
    drafter = ArmsOnDraft(between)
    with between.listening():
        first = draft_reply(classified_id, retriever=retriever, drafter=drafter, factory=session_factory)
    assert between.fired and between.result == "done"
    assert first == "skipped"
    with session_factory() as session:
        ticket = session.get(Ticket, classified_id)
        assert ticket.processing_state == "done"
        assert ticket.ai_suggested_reply and ticket.kb_article_ids
