"""Agents' reviews of the AI's results: the review flag cleared, and who saw what recorded."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from gateway.services.tickets import claim_as_read
from shared.errors import Conflict
from shared.models import Ticket, utcnow


def review_ticket(session: Session, ticket_id: str, *, seen_updated_at: datetime | None, actor: str) -> Ticket:
    """Clear `needs_review` and record the review: when, by whom, the AI priority the agent saw, and since when
    the flag had stood. A ticket not flagged is returned as it is (a retried review, or one another agent did).

    Clearing a flag is only right for the results the agent read. With `seen_updated_at` (the ticket's
    `updated_at` as they read it) a ticket changed since is refused (409); either way the row is claimed
    as read here, so the recorded AI priority is the one the flag was cleared on, not one a round stored
    in between. The recorded priority is what a later escalation must pass to flag an agent's priority
    again (`classifier_worker.service.agent_saw_priority`).
    """

    def decide(ticket: Ticket) -> dict[str, object] | None:
        if ticket.ai_suggested_category is None:
            raise Conflict(
                f"ticket '{ticket_id}' has no AI results to review yet (processing_state "
                f"{ticket.processing_state}); poll GET /api/tickets/{ticket_id}?wait=N"
            )
        if not ticket.needs_review:
            return None  # nothing to clear: a retry, or another agent reviewed it first
        if seen_updated_at is not None and ticket.updated_at != seen_updated_at:
            raise Conflict(
                f"ticket '{ticket_id}' changed since {seen_updated_at.isoformat()} (updated_at is now "
                f"{ticket.updated_at.isoformat()}); read it again and review what is there now"
            )
        # updated_at first: claim_row rewrites the first column with itself, which keeps its onupdate away.
        return {"updated_at": ticket.updated_at, "ai_suggested_priority": ticket.ai_suggested_priority}

    ticket, claimed = claim_as_read(session, ticket_id, decide, doing="this review was recorded")
    if not claimed:
        session.commit()
        return ticket
    ticket.review_flagged_at = ticket.flagged_at
    ticket.set_needs_review(False)  # audited: the history shows who cleared it
    ticket.reviewed_at = ticket.updated_at = utcnow()
    ticket.reviewed_by = actor
    ticket.reviewed_ai_priority = ticket.ai_suggested_priority
    session.commit()
    session.refresh(ticket)
    return ticket
