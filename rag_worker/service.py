"""Load a classified ticket, retrieve, draft, persist; idempotent on the ticket's processing state."""

from __future__ import annotations

import logging
from functools import partial
from typing import Protocol

from sqlalchemy.orm import Session, sessionmaker

from rag_worker.drafting import grounding
from rag_worker.knowledge import live_search
from rag_worker.retrieval import Retriever
from shared.db import session_scope
from shared.models import Ticket
from shared.pipeline import announce, claim_ticket, last_customer_message, set_state, ticket_context
from shared.schemas import Draft, KBHit, ProcessingState, TicketContext

log = logging.getLogger(__name__)


class Drafter(Protocol):
    def draft(self, ticket: TicketContext, hits: list[KBHit]) -> Draft: ...


def _classified(ticket: Ticket) -> bool:
    return ticket.processing_state == ProcessingState.classified.value


def draft_reply(
    ticket_id: str, *, retriever: Retriever, drafter: Drafter, factory: sessionmaker[Session] | None = None
) -> str:
    """Returns what happened: `done`, `skipped` (not waiting for a draft) or `missing`."""
    with session_scope(factory) as session:
        ticket = session.get(Ticket, ticket_id)
        if ticket is None:
            log.warning("draft: no ticket %s", ticket_id)
            return "missing"
        if not _classified(ticket):
            return "skipped"
        answering = last_customer_message(session, ticket_id)
        context = ticket_context(session, ticket)

    with session_scope(factory) as session:  # an article deleted while its delete task was lost is not cited
        hits = grounding(partial(live_search, session, retriever), context)
    draft = drafter.draft(context, hits)

    with session_scope(factory) as session:

        def still_wanted(ticket: Ticket) -> bool:
            """Not drafted by a duplicate delivery meanwhile, and no customer message newer than the ones
            drafted from: that message sent the ticket back to be classified and drafted (`request_rework`)."""
            return _classified(ticket) and last_customer_message(session, ticket_id) == answering

        # Claimed at `processing_updated_at` too: a message committed between the check and the claim moved
        # it (`request_rework`), so the claim fails and the check runs again and sees the message.
        ticket = claim_ticket(session, ticket_id, still_wanted, fields=("processing_state", "processing_updated_at"))
        if ticket is None:
            return "skipped"
        ticket.ai_suggested_reply = draft.reply
        ticket.kb_article_ids = list(draft.articles)
        ticket.set_needs_review(bool(ticket.needs_review or draft.needs_review))
        set_state(session, ticket, ProcessingState.done)
    announce(ticket_id, ProcessingState.done)
    return "done"
