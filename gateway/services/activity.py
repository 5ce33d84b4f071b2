"""Each agent's work over a window: the overview's figures (replies, first responses, next replies,
resolutions, ratings) for one agent, so a lead sees who answers, how fast, and with what result.

What an agent wrote is theirs when it was posted with a key linked to them (`ticket_messages.agent_id`,
migration 0039); what was resolved or rated counts for the ticket's assignee now, as the overview's
satisfaction by agent does. Each figure is one of the overview's queries narrowed to the agent.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, func, select, tuple_
from sqlalchemy.orm import Session

from gateway.services.agents import get_agent
from gateway.services.me import how_to_link
from gateway.services.satisfaction import agent_satisfaction, assigned_to, satisfaction_by_agent
from gateway.services.sla import (
    first_response_times,
    first_response_times_by_agent,
    next_reply_times,
    next_reply_times_by_agent,
    reopen_counts,
    reopen_counts_by_agent,
    resolution_times,
    resolution_times_by_agent,
)
from shared.auth import Principal
from shared.config import Targets
from shared.errors import NotFound
from shared.models import Agent, Ticket, TicketMessage, utcnow
from shared.routing import open_tickets
from shared.schemas import AgentActivity


def agent_activity(session: Session, agent_id: str, *, days: int, targets: Targets) -> AgentActivity:
    """One agent's activity over the last `days` (404 for an unknown agent)."""
    return _activity(session, get_agent(session, agent_id), days=days, targets=targets, now=utcnow())


def own_activity(session: Session, caller: Principal, *, days: int, targets: Targets) -> AgentActivity:
    """The caller's own activity; 404 for a key linked to no agent: it has none (a valid request, so not a 422)."""
    if caller.agent_id is None:
        raise NotFound(
            f"key '{caller.name}' is linked to no agent, so it has no activity of its own; " + how_to_link(caller)
        )
    return agent_activity(session, caller.agent_id, days=days, targets=targets)


def team_activity(session: Session, *, days: int, active: bool | None, targets: Targets) -> list[AgentActivity]:
    """Every agent's activity over the last `days` (only the active or inactive ones, if asked), by id, all
    counted up to one moment: each figure read once for the whole team and grouped by agent, the same figures
    `agent_activity` gives one agent (about ten queries an agent made a team of 20 cost 631 ms on SQLite at
    200,000 tickets; `benchmarks/agent_activity.py`)."""
    query = select(Agent, open_tickets(Agent.agent_id)).order_by(Agent.agent_id)
    if active is not None:
        query = query.where(Agent.active.is_(active))
    team = session.execute(query).all()
    ids = [agent.agent_id for agent, _ in team]
    if not ids:
        return []
    now = utcnow()
    since = now - timedelta(days=days)
    public = TicketMessage.internal.is_not(True)
    written = {
        agent_id: counts
        for agent_id, *counts in session.execute(
            select(
                TicketMessage.agent_id,
                func.count().filter(public),
                func.count().filter(TicketMessage.internal.is_(True)),
                func.count(TicketMessage.ticket_id.distinct()).filter(public),
            )
            .where(TicketMessage.agent_id.in_(ids), TicketMessage.created_at >= since)
            .group_by(TicketMessage.agent_id)
        )
    }
    resolved = resolution_times_by_agent(session, targets, since, ids)
    first = first_response_times_by_agent(session, targets.first_response, since, ids, targets.calendar)
    next_replies = next_reply_times_by_agent(session, targets.next_reply, since, ids, targets.calendar)
    reopened = reopen_counts_by_agent(session, since, {agent: times.resolved for agent, times in resolved.items()})
    rated = satisfaction_by_agent(session, since, ids)
    activities = []
    for agent, load in team:
        replies, notes, tickets_replied = written.get(agent.agent_id, (0, 0, 0))
        activities.append(
            AgentActivity(
                **_who(agent, days, since, now),
                open_tickets=load or 0,
                replies=replies,
                notes=notes,
                tickets_replied=tickets_replied,
                first_responses=first[agent.agent_id],
                next_replies=next_replies[agent.agent_id],
                resolved=resolved[agent.agent_id],
                reopened=reopened[agent.agent_id],
                satisfaction=rated[agent.agent_id],
            )
        )
    return activities


def _activity(session: Session, agent: Agent, *, days: int, targets: Targets, now: datetime) -> AgentActivity:
    since = now - timedelta(days=days)
    theirs = TicketMessage.agent_id == agent.agent_id
    public = TicketMessage.internal.is_not(True)
    replies, notes, tickets_replied = session.execute(
        select(
            func.count().filter(public),
            func.count().filter(TicketMessage.internal.is_(True)),
            func.count(TicketMessage.ticket_id.distinct()).filter(public),
        ).where(theirs, TicketMessage.created_at >= since)
    ).one()
    resolved, _ = resolution_times(session, targets, since, since, assigned_to(agent.agent_id))
    return AgentActivity(
        **_who(agent, days, since, now),
        open_tickets=session.scalar(select(open_tickets(agent.agent_id))) or 0,
        replies=replies,
        notes=notes,
        tickets_replied=tickets_replied,
        first_responses=first_response_times(
            session, targets.first_response, since, _first_reply_by(agent, since), targets.calendar
        ),
        next_replies=next_reply_times(session, targets.next_reply, since, theirs, targets.calendar),
        resolved=resolved,
        reopened=reopen_counts(session, since, resolved.resolved, assigned_to(agent.agent_id)),
        satisfaction=agent_satisfaction(session, since, agent.agent_id),
    )


def _who(agent: Agent, days: int, since: datetime, now: datetime) -> dict[str, Any]:
    """Whose activity, over which window, counted when: the fields each row opens with."""
    return {
        "agent_id": agent.agent_id,
        "name": agent.name,
        "active": agent.active,
        "days": days,
        "since": since,
        "as_of": now,
    }


def _first_reply_by(agent: Agent, since: datetime) -> ColumnElement[bool]:
    """The ticket's first response is the agent's reply: a reply of theirs since `since` stands at the ticket's
    `first_response_at` (`mark_answered` writes the reply's own time there). Read from the agent's messages in
    the window (`idx_ticket_messages_agent`), not probed from each ticket answered in it: 25 -> 1.9 ms on
    SQLite and 26 -> 3.8 ms on PostgreSQL for a week at 200,000 tickets."""
    theirs = select(TicketMessage.ticket_id, TicketMessage.created_at).where(
        TicketMessage.agent_id == agent.agent_id, TicketMessage.created_at >= since
    )
    return tuple_(Ticket.ticket_id, Ticket.first_response_at).in_(theirs)
