"""Load a classified ticket, retrieve, draft, persist; idempotent on the ticket's processing state."""

from __future__ import annotations

import logging
from typing import Protocol

from shared.db import session_scope
from shared.models import Ticket
from shared.pipeline import announce, set_state, ticket_context
from shared.schemas import Draft, KBHit, ProcessingState, TicketContext

log = logging.getLogger(__name__)


class Retriever(Protocol):
    def search(self, query: str, *, category: str | None = None, n: int = 3) -> list[KBHit]: ...


class Drafter(Protocol):
    def draft(self, ticket: TicketContext, hits: list[KBHit]) -> Draft: ...


def draft_reply(ticket_id: str, *, retriever: Retriever, drafter: Drafter) -> str:
    """Returns what happened: `done`, `skipped` (not waiting for a draft) or `missing`."""
    with session_scope() as session:
        ticket = session.get(Ticket, ticket_id)
        if ticket is None:
            log.warning("draft: no ticket %s", ticket_id)
            return "missing"
        if ticket.processing_state != ProcessingState.classified.value:
            return "skipped"
        context = ticket_context(session, ticket)

    hits = retriever.search(f"{context.subject}\n{context.description}", category=context.category, n=3)
    draft = drafter.draft(context, hits)

    with session_scope() as session:
        ticket = session.get(Ticket, ticket_id)
        if ticket is None or ticket.processing_state != ProcessingState.classified.value:
            return "skipped"
        ticket.ai_suggested_reply = draft.reply
        ticket.kb_article_ids = list(draft.articles)
        ticket.needs_review = bool(ticket.needs_review or draft.needs_review)
        set_state(session, ticket, ProcessingState.done)
    announce(ticket_id, ProcessingState.done)
    return "done"
