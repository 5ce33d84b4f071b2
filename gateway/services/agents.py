"""Agent records: tickets can only be assigned to an agent that exists, and the rotation's settings of each
(`shared.routing` assigns new tickets by them)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from gateway.services.me import how_to_link
from shared.auth import Principal
from shared.db import claim_row
from shared.errors import Conflict, NotFound
from shared.models import Agent, AgentAuditLog, utcnow
from shared.routing import open_tickets
from shared.schemas import AgentCreate, AgentRead, AgentUpdate

CLAIM_ATTEMPTS = 3  # decisions retried when the agent's row changed between the read and the claim


def create_agent(session: Session, data: AgentCreate) -> Agent:
    """Store a new agent; 409 when the id or email is taken."""
    agent_id = data.agent_id or f"AGENT-{secrets.token_hex(3).upper()}"
    if session.get(Agent, agent_id) is not None:
        raise Conflict(f"agent '{agent_id}' already exists")
    email = _free_email(session, data.email)
    agent = Agent(
        agent_id=agent_id,
        name=data.name,
        email=email,
        active=data.active,
        auto_assign=data.auto_assign,
        categories=data.categories,
        max_open=data.max_open,
    )
    session.add(agent)
    session.commit()
    return agent


def to_read(session: Session, agent: Agent) -> AgentRead:
    """The API view of one agent, with their load counted now."""
    return _read(agent, session.scalar(select(open_tickets(agent.agent_id))) or 0)


def list_agents(
    session: Session, *, active: bool | None = None, auto_assign: bool | None = None, away: bool | None = None
) -> list[AgentRead]:
    """All agents, by id, each with their load (one query)."""
    query = select(Agent, open_tickets(Agent.agent_id)).order_by(Agent.agent_id)
    if active is not None:
        query = query.where(Agent.active == active)
    if auto_assign is not None:
        query = query.where(Agent.auto_assign == auto_assign)
    if away is not None:
        query = query.where(Agent.away == away)
    return [_read(agent, load) for agent, load in session.execute(query)]


def get_agent(session: Session, agent_id: str) -> Agent:
    """The agent, or NotFound naming the id."""
    agent = session.get(Agent, agent_id)
    if agent is None:
        raise NotFound(f"agent '{agent_id}' not found; create it with POST /api/agents")
    return agent


def update_agent(session: Session, agent_id: str, data: AgentUpdate, *, caller_agent_id: str | None = None) -> Agent:
    """Apply the given fields. A deactivated agent keeps the tickets already assigned (list them with
    `GET /api/tickets/?assigned_to=`) and gets no new ones; so does one taken out of the rotation, or given a
    `max_open` below their load (nothing is taken back; the rotation waits until they are under it, and
    `gateway.services.release` hands an agent's tickets over on request). Their keys are refused meanwhile, so
    an admin cannot deactivate the agent their own key is linked to (409): one slip would lock them out."""
    agent = get_agent(session, agent_id)
    if data.active is False and agent_id == caller_agent_id:
        raise Conflict(
            f"agent '{agent_id}' is the one this request's key is linked to; deactivating them would refuse this "
            "key at once: another admin does it"
        )
    changes = data.model_dump(exclude_unset=True)
    if "email" in changes:
        changes["email"] = _free_email(session, data.email, agent_id=agent_id)
    away = changes.pop("away", None)
    for field, value in changes.items():
        setattr(agent, field, value)
    if away is not None:
        _set_away(agent, away)
    session.commit()
    return agent


def set_own_away(session: Session, caller: Principal, away: bool) -> Agent:
    """The caller's agent away or back (404 for a key linked to none: it has no agent to be away). Going away
    twice keeps the first `away_since`."""
    if caller.agent_id is None:
        raise NotFound(f"key '{caller.name}' is linked to no agent, so it cannot be away; " + how_to_link(caller))
    agent = get_agent(session, caller.agent_id)
    _set_away(agent, away)
    session.commit()
    return agent


@dataclass(frozen=True)
class AwaySync:
    """What a vendor's away-mode notification did: the agent it names (None: no agent has the address) and
    whether it changed them."""

    agent: Agent | None
    applied: bool
    detail: str


def sync_vendor_away(session: Session, vendor: str, email: str | None, away: bool, at: datetime | None) -> AwaySync:
    """Make the agent with `email` away or back as the vendor's tool says they are since `at`, unless away was set
    after `at` (here or by an earlier notification): notifications come late and out of order. A redelivered
    notification finds them as it left them and changes nothing.

    Matched by address, the one thing both sides know of a person (lower-cased, as agents' are stored). The
    decision is claimed on the row as it was read (`claim_row`), so of two notifications at once the second
    decides again on what the first wrote.
    """
    what = "away" if away else "back"
    if email is None:
        return AwaySync(None, False, f"{vendor} named no valid email for the teammate; nobody made {what}")
    at = min(at or utcnow(), utcnow())  # a clock ahead of ours must not hold off every later change
    for _ in range(CLAIM_ATTEMPTS):
        agent = session.scalars(select(Agent).where(Agent.email == email.lower())).first()
        if agent is None:
            return AwaySync(
                None, False, f"no agent with email '{email}'; give an agent that email (PATCH /api/agents/{{id}})"
            )
        if agent.away_set_at is not None and agent.away_set_at > at:
            detail = (
                f"agent '{agent.agent_id}' was set away={str(agent.away).lower()} at {agent.away_set_at.isoformat()}"
            )
            detail += f", after this {vendor} notification"
            return AwaySync(agent, False, f"{detail} ({at.isoformat()}); not applied")
        if agent.away == away:
            return AwaySync(agent, False, f"agent '{agent.agent_id}' is already {what}")
        if claim_row(session, Agent, agent.agent_id, away=agent.away, away_set_at=agent.away_set_at):
            _set_away(agent, away, at=at)
            session.commit()
            return AwaySync(agent, True, f"agent '{agent.agent_id}' {what} as in {vendor}")
        session.rollback()
    raise Conflict(f"agent with email '{email}' changed {CLAIM_ATTEMPTS} times while this was decided; send it again")


def _set_away(agent: Agent, away: bool, *, at: datetime | None = None) -> None:
    """`away` as given; `away_since` from the first of two "away"s. `away_set_at` each time, a confirmation too: an
    agent saying "away" again at 14:00 is newer word than Intercom's "back" of 13:55 delivered after it."""
    at = at or utcnow()
    if away and not agent.away:
        agent.away_since = at
    elif not away:
        agent.away_since = None
    agent.away_set_at = at
    agent.away = away


def _read(agent: Agent, load: int) -> AgentRead:
    columns = {column.key: getattr(agent, column.key) for column in Agent.__table__.columns}
    return AgentRead.model_validate({**columns, "open_tickets": load})


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
