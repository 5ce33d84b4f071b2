"""Agent endpoints: tickets are assigned to agents that exist."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Query, status

from gateway.deps import SessionDep, SettingsDep
from gateway.services import agents as service
from gateway.services.activity import agent_activity, team_activity
from gateway.services.release import release_tickets
from shared.auth import Role
from shared.fastapi_auth import AdminDep, require
from shared.schemas import (
    ActivityQuery,
    AgentActivity,
    AgentAuditEntryRead,
    AgentCreate,
    AgentRead,
    AgentUpdate,
    ReleaseRead,
    ReleaseRequest,
)

router = APIRouter(prefix="/api/agents", tags=["agents"])
activity_router = APIRouter(prefix="/api/agent-activity", tags=["agents"], dependencies=[require(Role.manager)])


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=AgentRead,
    dependencies=[require(Role.admin)],
    responses={409: {"description": "An agent with this id or email already exists"}},
)
def create_agent(data: AgentCreate, session: SessionDep) -> AgentRead:
    """Add an agent (id generated when not given)."""
    return service.to_read(session, service.create_agent(session, data))


@router.get("", response_model=list[AgentRead], dependencies=[require(Role.agent)])
def list_agents(
    session: SessionDep, active: bool | None = None, auto_assign: bool | None = None, away: bool | None = None
) -> list[AgentRead]:
    """All agents with their open tickets, optionally only active ones, only those in the rotation, or only those
    away (or not)."""
    return service.list_agents(session, active=active, auto_assign=auto_assign, away=away)


@router.get("/{agent_id}", response_model=AgentRead, dependencies=[require(Role.agent)])
def get_agent(agent_id: str, session: SessionDep) -> AgentRead:
    """One agent."""
    return service.to_read(session, service.get_agent(session, agent_id))


@router.patch(
    "/{agent_id}",
    response_model=AgentRead,
    responses={
        409: {"description": "Another agent has this email, or the caller's key is linked to the agent to deactivate"}
    },
)
def update_agent(agent_id: str, data: AgentUpdate, session: SessionDep, caller: AdminDep) -> AgentRead:
    """Rename, change the email, deactivate (no new assignments, existing ones stay, and their keys are refused
    until they are back) or reactivate, or change how the rotation assigns new tickets to them (`auto_assign`,
    `categories`, `max_open`, `away`)."""
    agent = service.update_agent(session, agent_id, data, caller_agent_id=caller.agent_id)
    return service.to_read(session, agent)


@router.get(
    "/{agent_id}/history",
    response_model=list[AgentAuditEntryRead],
    dependencies=[require(Role.agent)],
    responses={404: {"description": "Unknown agent"}},
)
def get_agent_history(agent_id: str, session: SessionDep) -> list[AgentAuditEntryRead]:
    """Who renamed, re-addressed, deactivated or reactivated the agent, and when; oldest first."""
    return [AgentAuditEntryRead.model_validate(row) for row in service.agent_history(session, agent_id)]


@router.post(
    "/{agent_id}/release",
    response_model=ReleaseRead,
    dependencies=[require(Role.admin)],
    responses={
        404: {"description": "Unknown agent"},
        409: {"description": "The agent is in the rotation (it would assign their tickets back to them)"},
    },
)
def release_agent_tickets(
    agent_id: str, session: SessionDep, settings: SettingsDep, data: Annotated[ReleaseRequest | None, Body()] = None
) -> ReleaseRead:
    """Unassign the agent's tickets new, open or in progress (`include_pending`: pending too), oldest first, and
    hand those the rotation takes to its agents at once: for an agent going on leave or leaving the team."""
    return release_tickets(session, agent_id, data or ReleaseRequest(), settings)


@router.get(
    "/{agent_id}/activity",
    response_model=AgentActivity,
    dependencies=[require(Role.manager)],
    responses={404: {"description": "Unknown agent"}},
)
def get_agent_activity(
    agent_id: str, session: SessionDep, settings: SettingsDep, query: Annotated[ActivityQuery, Query()]
) -> AgentActivity:
    """The agent's work over the last `days` (7 by default, up to 90): their public replies, notes and tickets
    replied to, the first responses and next replies that were theirs and how long customers waited for them,
    and the tickets assigned to them now that were resolved or rated in the window. What they wrote counts from
    keys linked to them (`POST /api/keys` with `agent_id`)."""
    return agent_activity(session, agent_id, days=query.days, targets=settings.targets)


@activity_router.get("", response_model=list[AgentActivity])
def list_agent_activity(
    session: SessionDep,
    settings: SettingsDep,
    query: Annotated[ActivityQuery, Query()],
    active: bool | None = None,
) -> list[AgentActivity]:
    """Every agent's activity over the last `days`, by id (`?active=true` for the current team): the team's
    table of who answers, how fast, and with what result."""
    return team_activity(session, days=query.days, active=active, targets=settings.targets)
