"""Macros: saved replies and notes (admins write them, agents apply them to a ticket)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Response, status

from gateway.deps import SessionDep, SettingsDep
from gateway.services import macros as service
from shared.auth import Role
from shared.fastapi_auth import AgentDep, require
from shared.schemas import MacroApplied, MacroApply, MacroCreate, MacroPreview, MacroRead, MacroSort, MacroWrite

router = APIRouter(prefix="/api/macros", tags=["macros"])
tickets_router = APIRouter(prefix="/api/tickets", tags=["macros"])


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=MacroRead,
    dependencies=[require(Role.admin)],
    responses={
        404: {"description": "The agent to assign does not exist"},
        409: {"description": "A macro with this id exists (PUT replaces it), or the agent to assign is inactive"},
    },
)
def create_macro(data: MacroCreate, session: SessionDep) -> MacroRead:
    """A new macro (id generated when not given)."""
    return service.create_macro(session, data)


@router.get("", response_model=list[MacroRead], dependencies=[require(Role.agent)])
def list_macros(
    session: SessionDep, active: bool | None = None, sort: MacroSort = MacroSort.by_title
) -> list[MacroRead]:
    """The macros by title, or most used first (`?sort=usage`), each with its uses in the last 7 and 30 days;
    `?active=true` for those agents may apply."""
    return service.list_macros(session, active=active, sort=sort)


@router.get(
    "/{macro_id}",
    response_model=MacroRead,
    dependencies=[require(Role.agent)],
    responses={404: {"description": "Unknown macro"}},
)
def get_macro(macro_id: str, session: SessionDep) -> MacroRead:
    """One macro, with its uses."""
    return service.read_macro(session, macro_id)


@router.put(
    "/{macro_id}",
    response_model=MacroRead,
    dependencies=[require(Role.admin)],
    responses={
        404: {"description": "Unknown macro, or the agent to assign does not exist"},
        409: {"description": "The agent to assign is inactive"},
    },
)
def replace_macro(macro_id: str, data: MacroWrite, session: SessionDep) -> MacroRead:
    """Replace a macro's title, text and changes, or turn it off (`active` false) or on again."""
    return service.replace_macro(session, macro_id, data)


@tickets_router.get(
    "/{ticket_id}/macros/{macro_id}",
    response_model=MacroPreview,
    responses={404: {"description": "Unknown ticket or macro"}},
)
def preview_macro(ticket_id: str, macro_id: str, session: SessionDep, caller: AgentDep) -> MacroPreview:
    """The macro's text filled in for this ticket (and the caller's agent) and what applying it would change,
    posting nothing: read it first, or edit it and post it with `POST /api/tickets/{ticket_id}/messages`."""
    return service.preview_macro(session, ticket_id, macro_id, caller)


@tickets_router.post(
    "/{ticket_id}/macros/{macro_id}",
    response_model=MacroApplied,
    status_code=status.HTTP_201_CREATED,
    responses={
        200: {
            "description": "A retry: the message with this `client_message_id` is posted already",
            "model": MacroApplied,
        },
        404: {"description": "Unknown ticket or macro"},
        409: {
            "description": "An inactive macro, an erased ticket, a public reply to a Zendesk or Intercom ticket, a "
            "status move the ticket's workflow does not allow, an inactive agent to assign, or a "
            "`client_message_id` used on another ticket"
        },
        422: {
            "description": "The macro's text filled in for this ticket is not a message (empty or too long), or it "
            "holds the agent's name and the caller's key is linked to no agent"
        },
    },
)
def apply_macro(
    ticket_id: str,
    macro_id: str,
    response: Response,
    session: SessionDep,
    settings: SettingsDep,
    caller: AgentDep,
    data: Annotated[MacroApply | None, Body()] = None,
) -> MacroApplied:
    """Post the macro's reply (or note) on the ticket, its placeholders filled in for this ticket and customer
    and named after the caller's agent (else key), then make its status move, assignment (`me`: to the
    caller's agent) and tag changes. A change refused after the message was posted (another agent moved the
    ticket meanwhile, the tag limit) leaves the message and answers `ok` false with that change's own
    `status_code` and `detail`; `applied` lists what was done."""
    applied = service.apply_macro(
        session,
        ticket_id,
        macro_id,
        data or MacroApply(),
        caller=caller,
        deliver_replies=settings.delivers_replies,
        sent=settings.sent_statuses,
        targets=settings.targets,
    )
    if not applied.created:
        response.status_code = status.HTTP_200_OK
    return applied.result
