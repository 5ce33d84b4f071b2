"""Load a ticket, classify it, persist the result, hand it on to the draft step.

Opportunistic batching: when a task runs, it also takes up to `classify_batch_size - 1` other tickets
still `queued` and classifies them in the same model call. Idle, a ticket is classified alone the
moment it arrives; under load the embedding runs on batches, which is several times faster per
ticket. The tasks of tickets already classified this way find them `classified` and skip. A batch
the model fails on (not transiently) is split in halves until the tickets it cannot take stand alone:
the others are stored, and a ticket that fails even alone is recorded `failed` there, so later
batches, which take only `queued` tickets, no longer stumble on it.

The model call runs outside any transaction; each result is written only if its ticket is still
waiting for it, so duplicate deliveries, sweeper re-sends and overlapping batches never double-apply,
and the row is claimed before the write, so an agent's correction committed meanwhile is kept. An AI
priority at or above ALERT_MIN_PRIORITY adds its alert in the same transaction (`shared.alerts`), and a
first classification of a ticket the rotation may take marks it for the automatic assignment, which is then
tried at once (`shared.routing`).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from shared.alerts import raise_alert, send_alert
from shared.celery import transient_errors
from shared.config import get_settings
from shared.db import session_scope
from shared.models import Ticket, TicketCorrection
from shared.pipeline import claim_ticket, never_classified, record_failure, send_next, set_state, ticket_context
from shared.references import replace_found_references
from shared.routing import request_routing, route_waiting
from shared.schemas import PRIORITY_RANK, Classification, Priority, ProcessingState, TicketContext

log = logging.getLogger(__name__)
WAITING = (ProcessingState.queued.value, ProcessingState.failed.value)
# What storing a result decides on: that the ticket still waits, and whether an agent changed these.
_DECIDED_ON = ("processing_state", "category", "priority")


def _waiting(ticket: Ticket) -> bool:
    return ticket.processing_state in WAITING


class Classifier(Protocol):
    def classify_batch(self, tickets: Sequence[TicketContext]) -> list[Classification]: ...


def apply_classification(ticket: Ticket, result: Classification, *, agent_saw: str | None = None) -> None:
    """Write the AI fields; the working category/priority follow unless an agent already changed them.

    A priority an agent chose is kept even when the AI's rises above it, but if it also rises above the AI
    priority the agent saw when choosing (`agent_saw`: the one their latest correction replaced, or shown at a
    later review), the ticket is flagged for review until they choose or review again: a legal threat in a
    follow-up on a ticket an agent once marked low must not go unseen, while an agent who lowered a high
    ticket is not second-guessed.
    """
    review, reasoning = result.needs_review, result.reasoning
    if ticket.category in (None, ticket.ai_suggested_category):
        ticket.category = result.category.value
    if ticket.priority in (None, ticket.ai_suggested_priority):
        ticket.priority = result.priority.value
    elif all(
        PRIORITY_RANK[result.priority] > PRIORITY_RANK[Priority(p)]
        for p in (ticket.priority, agent_saw)
        if p is not None
    ):
        review = True
        reasoning += f" An agent set the priority to {ticket.priority}: kept, and flagged for review."
    ticket.ai_suggested_category = result.category.value
    ticket.ai_suggested_priority = result.priority.value
    ticket.ai_confidence = result.confidence
    ticket.ai_reasoning = reasoning
    ticket.ai_model = result.model
    ticket.set_needs_review(review)
    ticket.sentiment = result.sentiment.value
    ticket.sentiment_score = result.sentiment_score
    ticket.urgency_keywords = list(result.urgency_keywords)
    ticket.extracted_metadata = dict(result.extracted_metadata)


def agent_saw_priority(session: Session, ticket: Ticket) -> str | None:
    """When the working priority is an agent's, the AI priority an agent last saw: the one their latest priority
    correction replaced, or the one shown at a later review of the ticket (which kept their priority)."""
    if ticket.priority in (None, ticket.ai_suggested_priority):
        return None
    query = select(TicketCorrection.ai_value, TicketCorrection.created_at).where(
        TicketCorrection.ticket_id == ticket.ticket_id, TicketCorrection.field == "priority"
    )
    corrected = session.execute(query.order_by(TicketCorrection.id.desc()).limit(1)).first()
    if ticket.reviewed_at is not None and (corrected is None or ticket.reviewed_at > corrected.created_at):
        return ticket.reviewed_ai_priority
    return corrected.ai_value if corrected is not None else None


def classify_ticket(
    ticket_id: str, *, classifier: Classifier, batch_size: int = 32, factory: sessionmaker[Session] | None = None
) -> str:
    """Returns what happened to `ticket_id`: `classified`, `skipped` (past this step) or `missing`."""
    with session_scope(factory) as session:
        ticket = session.get(Ticket, ticket_id)
        if ticket is None:
            log.warning("classify: no ticket %s", ticket_id)
            return "missing"
        if ticket.processing_state not in WAITING:
            return "skipped"  # done by an earlier delivery or another task's batch
        # A ticket another task's batch already found the model cannot take is tried alone.
        room = batch_size - 1 if ticket.processing_state == ProcessingState.queued.value else 0
        others = session.scalars(
            select(Ticket)
            .where(Ticket.processing_state == ProcessingState.queued.value, Ticket.ticket_id != ticket_id)
            .order_by(Ticket.processing_updated_at)
            .limit(max(room, 0))
        ).all()
        contexts = [ticket_context(session, t) for t in (ticket, *others)]

    pairs, rejected = _split(classifier, contexts)
    settings = get_settings()
    stored: list[str] = []
    alerts: list[str] = []
    openings: list[Ticket] = []
    with session_scope(factory) as session:
        # In ticket id order, so two workers storing overlapping batches lock the rows in the same order.
        for context, result in sorted(pairs, key=lambda pair: pair[0].ticket_id):
            row = claim_ticket(session, context.ticket_id, _waiting, fields=_DECIDED_ON)
            if row is None:
                continue
            if never_classified(row):
                openings.append(row)
            apply_classification(row, result, agent_saw=agent_saw_priority(session, row))
            replace_found_references(session, row.ticket_id, result.extracted_metadata)
            if (alert_id := raise_alert(session, row, settings)) is not None:
                alerts.append(alert_id)
            set_state(session, row, ProcessingState.classified)
            stored.append(row.ticket_id)
        to_route = request_routing(session, openings)
    for alert_id in alerts:  # first: a critical ticket's alert before its draft
        send_alert(alert_id)
    for done_id in stored:
        send_next(done_id, ProcessingState.classified)
    if to_route:
        _route(to_route, factory)
    if len(contexts) > 1:
        log.info("classified a batch of %d (%d stored)", len(contexts), len(stored))
    for other_id, error in rejected.items():
        if other_id != ticket_id:
            with session_scope(factory) as session:  # only if still queued: its own task may be under way
                if record_failure(other_id, error, session, only_from=ProcessingState.queued):
                    log.warning("ticket %s failed classification alone: %s", other_id, error)
    if ticket_id in rejected:
        raise rejected[ticket_id]  # this task's own ticket: the task records it
    return "classified" if ticket_id in stored else "skipped"


def _route(ticket_ids: list[str], factory: sessionmaker[Session] | None) -> None:
    """Assign the newly classified tickets that wait for the rotation. Their mark is committed with the
    classification, so a failure here only delays them to the sweeper's next pass."""
    try:
        with session_scope(factory) as session:
            route_waiting(session, ticket_ids=ticket_ids)
    except Exception as exc:  # the database went away: the sweeper routes them
        log.warning("auto-assignment of %s left to the sweeper: %s", ticket_ids, exc)


def _split(
    classifier: Classifier, contexts: Sequence[TicketContext]
) -> tuple[list[tuple[TicketContext, Classification]], dict[str, Exception]]:
    """Classify `contexts`, halving a batch that fails; returns the results, and the error of each
    ticket that failed alone. One bad ticket in 32 costs about 10 more model calls, not 32.
    A transient error is raised: the task retries its whole batch later."""
    try:
        return list(zip(contexts, classifier.classify_batch(contexts), strict=True)), {}
    except transient_errors():
        raise
    except Exception as exc:
        if len(contexts) == 1:
            return [], {contexts[0].ticket_id: exc}
        log.warning("classifying a batch of %d failed (%s); splitting it", len(contexts), exc)
    middle = len(contexts) // 2
    pairs, rejected = _split(classifier, contexts[:middle])
    more, rejected_more = _split(classifier, contexts[middle:])
    return pairs + more, rejected | rejected_more
