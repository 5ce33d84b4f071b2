"""Agent records: tickets can only be assigned to an agent that exists."""

from __future__ import annotations

import secrets

from sqlalchemy import select
from sqlalchemy.orm import Session

from shared.errors import Conflict, NotFound
from shared.models import Agent, AgentAuditLog
from shared.schemas import AgentCreate, AgentUpdate


def create_agent(session: Session, data: AgentCreate) -> Agent:
    """Store a new agent; 409 when the id or email is taken."""
    agent_id = data.agent_id or f"AGENT-{secrets.token_hex(3).upper()}"
    if session.get(Agent, agent_id) is not None:
        raise Conflict(f"agent '{agent_id}' already exists")
    email = _free_email(session, data.email)
    agent = Agent(agent_id=agent_id, name=data.name, email=email, active=data.active)
    session.add(agent)
    session.commit()
    return agent


def list_agents(session: Session, *, active: bool | None = None) -> list[Agent]:
    """All agents, by id."""
    query = select(Agent).order_by(Agent.agent_id)
    if active is not None:
        query = query.where(Agent.active == active)
    return list(session.scalars(query))


def get_agent(session: Session, agent_id: str) -> Agent:
    """The agent, or NotFound naming the id."""
    agent = session.get(Agent, agent_id)
    if agent is None:
        raise NotFound(f"agent '{agent_id}' not found; create it with POST /api/agents")
    return agent


def update_agent(session: Session, agent_id: str, data: AgentUpdate) -> Agent:
    """Apply the given fields. A deactivated agent keeps the tickets already assigned (list them with
    `GET /api/tickets/?assigned_to=`) and gets no new ones."""
    agent = get_agent(session, agent_id)
    changes = data.model_dump(exclude_unset=True)
    if "email" in changes:
        changes["email"] = _free_email(session, data.email, agent_id=agent_id)
    for field, value in changes.items():
        setattr(agent, field, value)
    session.commit()
    return agent


def agent_history(session: Session, agent_id: str) -> list[AgentAuditLog]:
    """Changes of name, email and active flag, oldest first (NotFound for an unknown agent)."""
    get_agent(session, agent_id)
    query = select(AgentAuditLog).where(AgentAuditLog.agent_id == agent_id).order_by(AgentAuditLog.id)
    return list(session.scalars(query))


def _free_email(session: Session, email: str | None, *, agent_id: str | None = None) -> str | None:
    """The email, lower-cased; 409 when another agent has it."""
    if not email:
        return None
    email = email.lower()
    owner = session.scalar(select(Agent.agent_id).where(Agent.email == email))
    if owner is not None and owner != agent_id:
        raise Conflict(f"an agent with email '{email}' already exists")
    return email
