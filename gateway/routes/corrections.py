"""Agents judge the AI: `PUT /api/tickets/{id}/category` and `/priority` correct it (the classifier learns from
them); `POST /api/tickets/{id}/review` clears its review flag."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from gateway.deps import SessionDep, SettingsDep
from gateway.services import corrections as service
from gateway.services.reviews import review_ticket
from gateway.services.tickets import to_read
from shared.auth import Role
from shared.fastapi_auth import AgentDep, require
from shared.schemas import CategoryUpdate, CorrectionRead, PriorityUpdate, ReviewRequest, TicketRead

router = APIRouter(prefix="/api/tickets", tags=["corrections"])
_RACED: dict[int | str, dict[str, Any]] = {
    409: {"description": "The ticket was erased, or kept changing while the correction was applied; retry"}
}


@router.put("/{ticket_id}/category", response_model=TicketRead, responses=_RACED)
def correct_category(
    ticket_id: str, data: CategoryUpdate, session: SessionDep, settings: SettingsDep, principal: AgentDep
) -> TicketRead:
    """Set the category; stored as a correction that similar future tickets follow."""
    ticket = service.correct_ticket(
        session, ticket_id, field="category", value=data.category.value, actor=principal.actor
    )
    return to_read(ticket, settings.targets)


@router.put("/{ticket_id}/priority", response_model=TicketRead, responses=_RACED)
def correct_priority(
    ticket_id: str, data: PriorityUpdate, session: SessionDep, settings: SettingsDep, principal: AgentDep
) -> TicketRead:
    """Set the priority; stored as a correction that similar future tickets follow."""
    ticket = service.correct_ticket(
        session, ticket_id, field="priority", value=data.priority.value, actor=principal.actor
    )
    return to_read(ticket, settings.targets)


@router.get("/{ticket_id}/corrections", response_model=list[CorrectionRead], dependencies=[require(Role.agent)])
def list_corrections(ticket_id: str, session: SessionDep) -> list[CorrectionRead]:
    """Who corrected what on this ticket, oldest first."""
    return [CorrectionRead.model_validate(c) for c in service.list_corrections(session, ticket_id)]


@router.post(
    "/{ticket_id}/review",
    response_model=TicketRead,
    responses={
        404: {"description": "Unknown ticket"},
        409: {
            "description": "The ticket changed since the `updated_at` sent, has no AI results yet, or kept changing "
            "while the review was recorded; retry"
        },
    },
)
def review(
    ticket_id: str, session: SessionDep, settings: SettingsDep, principal: AgentDep, data: ReviewRequest | None = None
) -> TicketRead:
    """The AI's results were looked at: clears `needs_review` and records who (`reviewed_by`, and in the history)
    and when; a ticket no longer flagged is answered as it is (a retry is safe). Send the `updated_at` you read
    so a ticket that changed meanwhile is refused rather than cleared unseen. A priority an agent set is
    flagged again only by an AI priority above the one seen at this review."""
    seen = data.updated_at if data is not None else None
    return to_read(review_ticket(session, ticket_id, seen_updated_at=seen, actor=principal.actor), settings.targets)
