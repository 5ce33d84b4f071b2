"""A customer's message after their ticket was classified: what it changes in the classification.

The opening message is classified as before (the same text gives the same category); the customer's
messages since the last public agent reply (`TicketContext.follow_up`) are then scored by the same
documented rules (`priority.score_priority`, with the ticket's category and the follow-up's own tone):
- priority only goes up: the highest of the opening's, the one stored before (an earlier follow-up's
  escalation survives the agent's reply) and the follow-up's. "Third time I ask", a deadline, an urgency
  word or a legal threat escalates; "any news?" does not lower anything;
- sentiment is the follow-up's: the customer's tone now, which is what an agent answering reads;
- urgency keywords and extracted entities are added to, never replaced: an order id given in answer to
  "what is your order number?" makes the ticket findable by `?order_id=`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from classifier_worker.entities import extract_entities
from classifier_worker.priority import score_priority
from shared.schemas import PRIORITY_RANK, Classification, Priority, Sentiment, TicketContext


def merge_entities(*found: dict[str, Any]) -> dict[str, Any]:
    """Every value of every key, first seen first, each once (amounts are dicts: compared as JSON)."""
    merged: dict[str, dict[str, Any]] = {}
    for entities in found:
        for key, values in entities.items():
            seen = merged.setdefault(key, {})
            for value in values if isinstance(values, list) else [values]:
                seen.setdefault(json.dumps(value, sort_keys=True, default=str), value)
    return {key: list(values.values()) for key, values in merged.items() if values}


def _highest(priorities: Iterable[Priority]) -> Priority:
    return max(priorities, key=PRIORITY_RANK.__getitem__)


def rescore(
    result: Classification, ticket: TicketContext, sentiment: Sentiment, sentiment_score: float
) -> Classification:
    """`result` (the opening's classification) updated by the ticket's follow-up, whose tone is given."""
    if not ticket.follow_up:
        return result
    scored = score_priority(
        ticket.follow_up,
        category=result.category,
        sentiment=sentiment,
        sentiment_score=sentiment_score,
        recent_tickets=ticket.recent_tickets,
        open_tickets=ticket.open_tickets,
    )
    before = _highest([result.priority, *([Priority(ticket.priority)] if ticket.priority else [])])
    priority = _highest([before, scored.priority])
    note = f" The customer wrote again: {sentiment.value} tone, {scored.priority.value} priority"
    note += f" ({', '.join(scored.reasons)})" if scored.reasons else ""
    note += f"; escalated from {before.value} to {priority.value}." if priority != before else "."
    return result.model_copy(
        update={
            "priority": priority,
            "sentiment": sentiment,
            "sentiment_score": round(sentiment_score, 4),
            "urgency_keywords": list(
                dict.fromkeys([*ticket.urgency_keywords, *result.urgency_keywords, *scored.keywords])
            ),
            "extracted_metadata": merge_entities(
                ticket.extracted_metadata, result.extracted_metadata, extract_entities(ticket.follow_up)
            ),
            "reasoning": result.reasoning + note,
        }
    )
