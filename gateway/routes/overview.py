"""`GET /api/overview`: the ticket queue at a glance."""

from __future__ import annotations

from fastapi import APIRouter

from gateway.deps import SessionDep, SettingsDep
from gateway.services import overview as service
from shared.auth import Role
from shared.fastapi_auth import require
from shared.schemas import TicketOverview

router = APIRouter(prefix="/api/overview", tags=["tickets"])


@router.get("", response_model=TicketOverview, dependencies=[require(Role.agent)])
def ticket_overview(session: SessionDep, settings: SettingsDep) -> TicketOverview:
    """Counts by status and processing state, the unresolved queue by priority, category and agent,
    the unassigned, flagged (and since when the oldest flag) and overdue ones, those unanswered past their first
    response target, those awaiting a reply and those kept waiting past their reply target, tickets created in
    the last hour and day, the oldest ticket still waiting for its AI results, and how fast the last week's
    tickets were resolved, first answered, answered again when their customer wrote back, and reviewed."""
    return service.ticket_overview(session, settings.targets)
