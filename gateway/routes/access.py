"""Ticket history (audit log), ticket messages (agents' replies, customers' answers), and API-key administration."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Path, Query, Response, status

from gateway.deps import SessionDep, SettingsDep
from gateway.services.activity import own_activity
from gateway.services.agents import get_agent, set_own_away
from gateway.services.agents import to_read as agent_read
from gateway.services.history import ticket_history, ticket_messages
from gateway.services.replies import Posted, add_message
from gateway.services.tickets import to_read
from shared import auth
from shared.auth import Role
from shared.config import Settings
from shared.fastapi_auth import AdminDep, AgentDep, AnyKeyDep, IntegrationDep, require
from shared.schemas import (
    ActivityQuery,
    AgentActivity,
    AgentRead,
    ApiKeyCreate,
    ApiKeyCreated,
    ApiKeyLink,
    ApiKeyRead,
    AuditEntryRead,
    AwayUpdate,
    MeRead,
    MessageCreate,
    ReplyCreate,
    ReplyRead,
    TicketMessageRead,
)

tickets_router = APIRouter(prefix="/api/tickets", tags=["tickets"])
_Route = TypeVar("_Route", bound=Callable[..., Any])
keys_router = APIRouter(prefix="/api/keys", tags=["keys"], dependencies=[require(Role.admin)])
me_router = APIRouter(prefix="/api/me", tags=["keys"])
KeyId = Annotated[int, Path(ge=1, le=2**31 - 1, description="The key's id (a 32-bit column)")]


@tickets_router.get(
    "/{ticket_id}/history",
    response_model=list[AuditEntryRead],
    dependencies=[require(Role.agent)],
    responses={404: {"description": "Unknown ticket"}},
)
def get_history(ticket_id: str, session: SessionDep) -> list[AuditEntryRead]:
    """Who changed the ticket's status, assignment, category, priority, review flag or tags, and when; oldest
    first."""
    return [AuditEntryRead.model_validate(row) for row in ticket_history(session, ticket_id)]


@tickets_router.get(
    "/{ticket_id}/messages",
    response_model=list[TicketMessageRead],
    dependencies=[require(Role.agent)],
    responses={404: {"description": "Unknown ticket"}},
)
def get_messages(ticket_id: str, session: SessionDep) -> list[TicketMessageRead]:
    """Replies after the ticket was opened, oldest first: the customer's and agents' from Zendesk comments and
    Intercom parts, and agents' replies and notes posted here."""
    return [TicketMessageRead.model_validate(row) for row in ticket_messages(session, ticket_id)]


def _posting(path: str, refused: str) -> Callable[[_Route], _Route]:
    """A route that stores a message: 201, or 200 for a retry; 409 for `refused` or a reused client id."""
    return tickets_router.post(
        path,
        response_model=ReplyRead,
        status_code=status.HTTP_201_CREATED,
        responses={
            200: {
                "description": "A retry: a message with this `client_message_id` is stored already",
                "model": ReplyRead,
            },
            404: {"description": "Unknown ticket"},
            409: {"description": f"{refused}, or a `client_message_id` used on another ticket"},
        },
    )


@_posting("/{ticket_id}/messages", "A public reply to a Zendesk or Intercom ticket")
def post_message(
    ticket_id: str, data: ReplyCreate, response: Response, session: SessionDep, settings: SettingsDep, caller: AgentDep
) -> ReplyRead:
    """An agent's reply (or, with `internal`, a note), named after the caller's key; the first public reply
    sets the ticket's `first_response_at`. The channel's backend delivers it to the customer: POSTed to
    REPLY_WEBHOOK_URL when set (its `delivery` says how that went), else read from the messages."""
    posted = add_message(
        session,
        ticket_id,
        data,
        author_type="agent",
        author=caller.author,
        author_email=caller.agent_email,
        agent_id=caller.agent_id,
        internal=data.internal,
        deliver=settings.delivers_replies,
    )
    return _posted(posted, response, settings)


@_posting("/{ticket_id}/customer-messages", "A Zendesk or Intercom ticket (its webhook brings them)")
def post_customer_message(
    ticket_id: str,
    data: MessageCreate,
    response: Response,
    session: SessionDep,
    settings: SettingsDep,
    caller: IntegrationDep,
) -> ReplyRead:
    """The customer's answer on a web or API ticket, relayed by the channel's backend; it reopens a ticket
    that was `pending` (waiting for them) or `resolved`, and sends a drafted ticket back to its draft step
    (`processing_state` `classified`; poll with `?wait=N` for the reply to this message). To a closed ticket
    it goes to a follow-up ticket, named in `follow_up`: relay the customer's next messages there."""
    posted = add_message(session, ticket_id, data, author_type="customer", author=caller.name)
    return _posted(posted, response, settings)


def _posted(posted: Posted, response: Response, settings: Settings) -> ReplyRead:
    if not posted.created:
        response.status_code = status.HTTP_200_OK
    return ReplyRead(
        message=TicketMessageRead.model_validate(posted.message),
        ticket=to_read(posted.ticket, settings.targets),
        follow_up=to_read(posted.follow_up, settings.targets) if posted.follow_up else None,
    )


@keys_router.get("", response_model=list[ApiKeyRead])
def list_keys(session: SessionDep, include_revoked: bool = False) -> list[ApiKeyRead]:
    """API keys (never the keys themselves, only a prefix to tell them apart)."""
    return [ApiKeyRead.model_validate(k) for k in auth.list_keys(session, include_revoked=include_revoked)]


@keys_router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=ApiKeyCreated,
    responses={404: {"description": "Unknown agent"}, 409: {"description": "The agent is deactivated"}},
)
def create_key(data: ApiKeyCreate, session: SessionDep) -> ApiKeyCreated:
    """A new key; the answer is the only time it is shown."""
    row, key = auth.create_key(session, name=data.name, role=data.role, agent_id=data.agent_id)
    return ApiKeyCreated.model_validate({**ApiKeyRead.model_validate(row).model_dump(), "key": key})


@keys_router.delete(
    "/{key_id}",
    response_model=ApiKeyRead,
    responses={404: {"description": "Unknown key"}, 409: {"description": "A key cannot revoke itself"}},
)
def revoke_key(key_id: KeyId, session: SessionDep, principal: AdminDep) -> ApiKeyRead:
    """Revoke a key at once (it stays listed with `include_revoked=true`); not the caller's own key."""
    return ApiKeyRead.model_validate(auth.revoke_key(session, key_id=key_id, caller_key_id=principal.key_id))


@keys_router.patch(
    "/{key_id}",
    response_model=ApiKeyRead,
    responses={
        404: {"description": "Unknown key or agent"},
        409: {"description": "The key is revoked or an integration key, or the agent is deactivated"},
    },
)
def link_key(key_id: KeyId, data: ApiKeyLink, session: SessionDep) -> ApiKeyRead:
    """Link a key to the agent who uses it (`{"agent_id": null}` unlinks it), for keys made before agents were
    named on them or handed to another agent; the key itself does not change."""
    return ApiKeyRead.model_validate(auth.link_key(session, key_id=key_id, agent_id=data.agent_id))


@me_router.get(
    "/activity",
    response_model=AgentActivity,
    responses={404: {"description": "The caller's key is linked to no agent"}},
)
def my_activity(
    caller: AgentDep, session: SessionDep, settings: SettingsDep, query: Annotated[ActivityQuery, Query()]
) -> AgentActivity:
    """The caller's own activity over the last `days`, as `GET /api/agents/{id}/activity` gives a manager."""
    return own_activity(session, caller, days=query.days, targets=settings.targets)


@me_router.put(
    "/away",
    response_model=AgentRead,
    responses={404: {"description": "The caller's key is linked to no agent"}},
)
def set_away(data: AwayUpdate, caller: AgentDep, session: SessionDep) -> AgentRead:
    """The caller away (lunch, end of shift, leave: the rotation passes them by, keeping their settings, and
    their tickets stay theirs) or back (routed to again from the sweeper's next pass)."""
    return agent_read(session, set_own_away(session, caller, data.away))


@me_router.get("", response_model=MeRead)
def who_am_i(caller: AnyKeyDep, session: SessionDep) -> MeRead:
    """The caller's key, role and agent: what `me` means in `assigned_to` and whose name their replies carry."""
    agent = agent_read(session, get_agent(session, caller.agent_id)) if caller.agent_id else None
    return MeRead(key_id=caller.key_id, name=caller.name, role=caller.role.value, agent=agent)
