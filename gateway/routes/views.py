"""Views: saved ticket lists (admins write the team's, any agent their own; agents open them with their count)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Response, status
from fastapi.responses import StreamingResponse

from gateway.csv_http import CSV_RESPONSES, csv_response
from gateway.deps import SessionDep, SessionFactoryDep, SettingsDep
from gateway.services import views as service
from gateway.services.tickets import to_read
from shared.fastapi_auth import AgentDep, ManagerDep
from shared.schemas import ExportOptions, TicketRead, ViewCreate, ViewRead, ViewWrite

router = APIRouter(prefix="/api/views", tags=["views"])

UNKNOWN_AGENT: dict[int | str, dict[str, Any]] = {
    404: {"description": "The agent in `filters.assigned_to` does not exist"}
}
STALE: dict[int | str, dict[str, Any]] = {
    409: {"description": "The view's stored filters are ones this version no longer takes (PUT rewrites them)"}
}
NOBODY: dict[int | str, dict[str, Any]] = {
    422: {"description": "The view lists `me` and the caller's key is linked to no agent"}
}
TEAM_WRITE: dict[int | str, dict[str, Any]] = {
    403: {"description": "The team's views are written by admins only; a personal view needs a key linked to an agent"}
}


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=ViewRead,
    responses={
        **UNKNOWN_AGENT,
        **TEAM_WRITE,
        409: {"description": "A view with this id exists (PUT replaces it), or the caller has the most personal views"},
    },
)
def create_view(data: ViewCreate, session: SessionDep, settings: SettingsDep, caller: AgentDep) -> ViewRead:
    """A new view (id generated when not given), answered with its count: the team's (admins), or with
    `personal: true` the caller's own (any agent whose key is linked to one). `assigned_to` may be `me`: each
    agent opening the view sees their own tickets."""
    return service.create_view(session, data, settings.targets, caller)


@router.get("", response_model=list[ViewRead])
def list_views(
    session: SessionDep,
    settings: SettingsDep,
    caller: AgentDep,
    active: bool | None = None,
    personal: Annotated[
        bool | None, Query(description="Only the caller's own views (true) or only the team's (false)")
    ] = None,
    counts: Annotated[
        bool,
        Query(description="Count each view's tickets (one count query per view, or one kept VIEW_COUNTS_MAX_AGE_S)"),
    ] = False,
) -> list[ViewRead]:
    """The team's views, then the caller's own, each by position, then title; `?active=true` for those offered
    to agents, `?personal=` for one kind, `?counts=true` with how many tickets each holds for the caller, counted
    at `count_as_of` (now, or up to VIEW_COUNTS_MAX_AGE_S ago; a view this version, or this key, cannot open
    shows its `problem` instead)."""
    return service.list_views(
        session,
        active=active,
        counts=counts,
        targets=settings.targets,
        caller=caller,
        max_age_s=settings.view_counts_max_age_s,
        personal=personal,
    )


@router.get(
    "/{view_id}",
    response_model=ViewRead,
    responses={404: {"description": "Unknown view"}, **STALE},
)
def get_view(view_id: str, session: SessionDep, settings: SettingsDep, caller: AgentDep) -> ViewRead:
    """One view, with how many tickets it holds now for the caller."""
    return service.read_view(session, view_id, settings.targets, caller)


@router.put(
    "/{view_id}",
    response_model=ViewRead,
    responses={
        **TEAM_WRITE,
        404: {"description": "Unknown view, or the agent in `filters.assigned_to` does not exist"},
    },
)
def replace_view(
    view_id: str, data: ViewWrite, session: SessionDep, settings: SettingsDep, caller: AgentDep
) -> ViewRead:
    """Replace a view's title, filters and position, or turn it off (`active` false) or on again: the team's
    by an admin, a personal one by its owner."""
    return service.replace_view(session, view_id, data, settings.targets, caller)


@router.delete(
    "/{view_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses={
        404: {"description": "Unknown view"},
        409: {"description": "A team's view: turned off with `active: false`, not deleted"},
    },
)
def delete_view(view_id: str, session: SessionDep, caller: AgentDep) -> Response:
    """Delete one of the caller's personal views."""
    service.delete_view(session, view_id, caller)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get(
    "/{view_id}/tickets",
    response_model=list[TicketRead],
    responses={404: {"description": "Unknown view"}, **STALE, **NOBODY},
)
def view_tickets(
    view_id: str,
    session: SessionDep,
    settings: SettingsDep,
    caller: AgentDep,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> list[TicketRead]:
    """A page of the view's tickets in its order: what `GET /api/tickets/?{query}&limit=&offset=` lists."""
    targets = settings.targets
    tickets = service.view_tickets(session, view_id, limit=limit, offset=offset, targets=targets, caller=caller)
    return [to_read(t, targets) for t in tickets]


@router.get(
    "/{view_id}/export",
    response_class=StreamingResponse,
    responses={**CSV_RESPONSES, 404: {"description": "Unknown view"}, **STALE},
)
def export_view(
    view_id: str,
    factory: SessionFactoryDep,
    settings: SettingsDep,
    options: Annotated[ExportOptions, Query()],
    caller: ManagerDep,
) -> StreamingResponse:
    """The view's tickets as a CSV file, in its order: what `GET /api/tickets/export?{query}` writes (`me` read
    as the caller's agent)."""
    lines = service.export_view(factory(), view_id, options, settings.targets, settings.export_max_rows, caller)
    return csv_response(lines, f"view-{view_id}")
