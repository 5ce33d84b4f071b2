"""Agent records: tickets can only be assigned to an agent that exists."""

from __future__ import annotations

import secrets

from sqlalchemy import select
from sqlalchemy.orm import Session

from shared.errors import Conflict
from shared.models import Agent
from shared.schemas import AgentCreate


def create_agent(session: Session, data: AgentCreate) -> Agent:
    """Store a new agent; 409 when the id or email is taken."""
    agent_id = data.agent_id or f"AGENT-{secrets.token_hex(3).upper()}"
    if session.get(Agent, agent_id) is not None:
        raise Conflict(f"agent '{agent_id}' already exists")
    email = str(data.email).lower() if data.email else None
    if email and session.scalar(select(Agent.agent_id).where(Agent.email == email)):
        raise Conflict(f"an agent with email '{email}' already exists")
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
