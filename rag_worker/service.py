"""Load a classified ticket, retrieve, draft, persist; idempotent on the ticket's processing state."""

from __future__ import annotations

import logging
from typing import Protocol

from sqlalchemy.orm import Session, sessionmaker

from rag_worker.knowledge import live_search
from rag_worker.retrieval import Retriever
from shared.db import session_scope
from shared.models import Ticket
from shared.pipeline import announce, claim_ticket, set_state, ticket_context
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
        context = ticket_context(session, ticket)

    with session_scope(factory) as session:  # an article deleted while its delete task was lost is not cited
        hits = live_search(
            session, retriever, f"{context.subject}\n{context.description}", category=context.category, n=3
        )
    draft = drafter.draft(context, hits)

    with session_scope(factory) as session:
        ticket = claim_ticket(session, ticket_id, _classified)  # a duplicate delivery may have drafted it meanwhile
        if ticket is None:
            return "skipped"
        ticket.ai_suggested_reply = draft.reply
        ticket.kb_article_ids = list(draft.articles)
        ticket.needs_review = bool(ticket.needs_review or draft.needs_review)
        set_state(session, ticket, ProcessingState.done)
    announce(ticket_id, ProcessingState.done)
    return "done"
