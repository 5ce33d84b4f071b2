"""Two deliveries of one draft task store the draft once; an article saved again while it was being
indexed is not marked indexed with the old version (SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Any

import pytest

from gateway.services.erasure import erase_customer
from gateway.services.replies import add_message
from gateway.services.tickets import create_ticket
from rag_worker.drafting import load_drafter
from rag_worker.kb import Article, read_articles
from rag_worker.knowledge import index_article, upsert_rows
from rag_worker.service import Drafter, draft_reply
from shared.config import Settings
from shared.models import KBArticle, Ticket, utcnow
from shared.pipeline import set_state
from shared.schemas import CustomerSelector, Draft, KBHit, MessageCreate, ProcessingState, TicketContext, TicketCreate
from tests.interleave import WriteBetween

NEW = TicketCreate(
    customer_email="race@example.com",
    subject="Where is my parcel?",
    description="Order #7781 was due on Monday and the tracking has not moved since. When will it arrive?",
)


@cache
def local() -> Drafter:
    """The real local drafter (loaded once, when a test first drafts)."""
    return load_drafter(Settings(groq_api_key=None))


class ArmsOnDraft:
    """The real local drafter; once it has drafted, the interleaved write is armed."""

    def __init__(self, between: WriteBetween) -> None:
        self.between = between

    def draft(self, ticket: TicketContext, hits: list[KBHit]) -> Draft:
        draft = local().draft(ticket, hits)
        self.between.armed = True
        return draft


def _draft_with_a_write_between(
    factory: Any, ticket_id: str, retriever: Any, write: Callable[[Any], str]
) -> tuple[str, WriteBetween]:
    """Run the draft step once, with `write` committed after it drafted and before it stores."""
    between = WriteBetween(factory, ticket_id, write)
    with between.listening():
        result = draft_reply(ticket_id, retriever=retriever, drafter=ArmsOnDraft(between), factory=factory)
    return result, between


@pytest.fixture
def classified_id(session_factory, redis_client, kb_dir) -> str:  # type: ignore[no-untyped-def]
    with session_factory() as session:
        upsert_rows(session, read_articles(kb_dir))  # the table the index was built from: drafts cite only its articles
        ticket_id = create_ticket(session, NEW).ticket_id
        ticket = session.get(Ticket, ticket_id)
        ticket.category = ticket.ai_suggested_category = "shipping"
        set_state(session, ticket, ProcessingState.classified)
        session.commit()
    return ticket_id


def test_a_draft_with_nothing_to_quote_flags_the_ticket_since_it_was_stored(
    session_factory, redis_client, retriever, kb_dir
) -> None:  # type: ignore[no-untyped-def]
    """Nothing in the KB answers it: nothing to cite, so the draft flags the ticket, from its store."""
    odd = TicketCreate(customer_email="odd@example.com", subject="Hi", description="Can you sing me a song?")
    with session_factory() as session:
        upsert_rows(session, read_articles(kb_dir))
        ticket_id = create_ticket(session, odd).ticket_id
        ticket = session.get(Ticket, ticket_id)
        ticket.category = ticket.ai_suggested_category = "shipping"
        set_state(session, ticket, ProcessingState.classified)
        session.commit()
    before = utcnow()
    assert draft_reply(ticket_id, retriever=retriever, drafter=local(), factory=session_factory) == "done"
    with session_factory() as session:
        ticket = session.get(Ticket, ticket_id)
        assert (ticket.needs_review, ticket.kb_article_ids) == (True, [])
        assert before < ticket.flagged_at <= ticket.processing_updated_at


def test_a_draft_stored_by_another_delivery_meanwhile_is_not_stored_again(
    session_factory, classified_id, retriever
) -> None:  # type: ignore[no-untyped-def]
    """Delivery A has drafted and is about to store; delivery B stores its draft first. A must find
    the ticket done and skip, not store and announce a second time."""

    def other_delivery(_session: Any) -> str:
        return draft_reply(classified_id, retriever=retriever, drafter=local(), factory=session_factory)

    first, between = _draft_with_a_write_between(session_factory, classified_id, retriever, other_delivery)
    assert between.fired and between.result == "done"
    assert first == "skipped"
    with session_factory() as session:
        ticket = session.get(Ticket, classified_id)
        assert ticket.processing_state == "done"
        assert ticket.ai_suggested_reply and ticket.kb_article_ids


def test_a_draft_begun_before_the_customer_wrote_back_is_not_stored(
    session_factory, classified_id, retriever, redis_client
) -> None:  # type: ignore[no-untyped-def]
    """Delivery A drafted from the opening message; meanwhile the customer wrote back, the gateway sent the
    ticket back to be classified, and the classify step stored it `classified` again, all before A stores.
    A's draft answers the older message: it must not be stored, or announce `done` while the newer request
    is pending. The newer request's draft task drafts from the follow-up."""

    def customer_writes_and_is_classified(session: Any) -> str:
        body = MessageCreate(body="It came, thanks. But I was charged twice for it, can I get the extra charge back?")
        ticket = add_message(session, classified_id, body, author_type="customer", author="web").ticket
        sent_back = ticket.processing_state
        set_state(session, ticket, ProcessingState.classified)  # the classify step, quicker than A
        session.commit()
        return sent_back

    redis_client.delete("classify")  # the opening's task, sent when the ticket was created
    first, between = _draft_with_a_write_between(
        session_factory, classified_id, retriever, customer_writes_and_is_classified
    )
    assert between.fired and between.result == "queued"
    assert first == "skipped"
    with session_factory() as session:
        ticket = session.get(Ticket, classified_id)
        assert ticket.processing_state == "classified" and ticket.ai_suggested_reply is None
    assert redis_client.llen("classify") == 1  # the newer request's task

    assert draft_reply(classified_id, retriever=retriever, drafter=local(), factory=session_factory) == "done"
    with session_factory() as session:
        ticket = session.get(Ticket, classified_id)
        assert ticket.processing_state == "done"
        assert "getting back to us about order #7781" in ticket.ai_suggested_reply
        assert ticket.kb_article_ids[0]["article_id"] == "kb_005"  # the charge, not the parcel


def test_an_article_saved_again_while_it_was_indexed_stays_pending(session_factory, retriever) -> None:  # type: ignore[no-untyped-def]
    """The index task read version 1 and indexed it; an admin saved version 2 meanwhile. The row must
    stay `pending` (version 2's own task indexes it), not say `indexed` over text the index lacks."""
    with session_factory() as session:
        session.add(KBArticle(article_id="kb_race", title="Returns", content="Return items within 30 days."))
        session.commit()

    class AdminSavesMeanwhile:
        def index_article(self, article: Article) -> bool:
            changed = retriever.index_article(article)
            with session_factory() as admin:  # what the gateway's save does: new text, back to pending
                row = admin.get(KBArticle, "kb_race")
                row.content, row.index_state = "Return items within 60 days.", "pending"
                admin.commit()
            return changed

    with session_factory() as session:
        assert index_article(session, AdminSavesMeanwhile(), "kb_race") == "superseded"  # type: ignore[arg-type]
        session.commit()
    with session_factory() as session:
        assert session.get(KBArticle, "kb_race").index_state == "pending"
        assert index_article(session, retriever, "kb_race") == "indexed"  # version 2's own task
        session.commit()
    with session_factory() as session:
        assert session.get(KBArticle, "kb_race").index_state == "indexed"


def test_a_draft_begun_before_the_customer_was_erased_is_not_stored(session_factory, classified_id, retriever) -> None:  # type: ignore[no-untyped-def]
    """The draft quotes the customer's order number and greets them; their erasure commits before it is stored.
    It must not be: the erased ticket would carry their words again."""

    def customer_erased(session: Any) -> list[str]:
        return erase_customer(session, CustomerSelector(email=NEW.customer_email)).tickets

    first, between = _draft_with_a_write_between(session_factory, classified_id, retriever, customer_erased)
    assert between.fired and between.result == [classified_id]
    assert first == "skipped"
    with session_factory() as session:
        ticket = session.get(Ticket, classified_id)
        assert (ticket.processing_state, ticket.ai_suggested_reply, ticket.kb_article_ids) == ("done", None, [])
        assert ticket.description == "[erased]"
