"""Load a ticket, classify it, persist the result, hand it on to the draft step.

The model call runs outside any transaction; the result is written only if the ticket is still
waiting for it, so duplicate deliveries and sweeper re-sends never double-apply.
"""

from __future__ import annotations

import logging
from typing import Protocol

from shared.db import session_scope
from shared.models import Ticket
from shared.pipeline import announce, enqueue, set_state, ticket_context
from shared.schemas import Classification, ProcessingState, TicketContext

log = logging.getLogger(__name__)
WAITING = (ProcessingState.queued.value, ProcessingState.failed.value)


class Classifier(Protocol):
    def classify(self, ticket: TicketContext) -> Classification: ...


def apply_classification(ticket: Ticket, result: Classification) -> None:
    """Write the AI fields; the working category/priority follow unless an agent already changed them."""
    if ticket.category in (None, ticket.ai_suggested_category):
        ticket.category = result.category.value
    if ticket.priority in (None, ticket.ai_suggested_priority):
        ticket.priority = result.priority.value
    ticket.ai_suggested_category = result.category.value
    ticket.ai_suggested_priority = result.priority.value
    ticket.ai_confidence = result.confidence
    ticket.ai_reasoning = result.reasoning
    ticket.ai_model = result.model
    ticket.needs_review = result.needs_review
    ticket.sentiment = result.sentiment.value
    ticket.sentiment_score = result.sentiment_score
    ticket.urgency_keywords = list(result.urgency_keywords)
    ticket.extracted_metadata = dict(result.extracted_metadata)


def classify_ticket(ticket_id: str, *, classifier: Classifier) -> str:
    """Returns what happened: `classified`, `skipped` (already past this step) or `missing`."""
    with session_scope() as session:
        ticket = session.get(Ticket, ticket_id)
        if ticket is None:
            log.warning("classify: no ticket %s", ticket_id)
            return "missing"
        if ticket.processing_state == ProcessingState.classified.value:
            # Classified before, but the draft message may have been lost: send it again.
            enqueue(ticket_id, ProcessingState.classified)
            return "skipped"
        if ticket.processing_state not in WAITING:
            return "skipped"
        context = ticket_context(session, ticket)

    result = classifier.classify(context)

    with session_scope() as session:
        ticket = session.get(Ticket, ticket_id)
        if ticket is None or ticket.processing_state not in WAITING:
            return "skipped"
        apply_classification(ticket, result)
        set_state(session, ticket, ProcessingState.classified)
    announce(ticket_id, ProcessingState.classified)
    enqueue(ticket_id, ProcessingState.classified)
    return "classified"
