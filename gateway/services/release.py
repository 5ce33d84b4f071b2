"""Releasing an agent's tickets (an agent going on leave, or leaving the team): each of their open tickets is
unassigned and, where the rotation takes it, routed to the agents in it (`shared.routing`), in one request.

Without this, a lead reassigned each ticket by hand from `GET /api/tickets/?assigned_to=`. The agent must be out
of the rotation or away first, or it would hand their tickets straight back to them. Each ticket is its own transaction,
claimed on the agent and status read, so a ticket reassigned or moved meanwhile is left as it now is.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from gateway.services.agents import get_agent
from shared.config import Settings
from shared.db import claim_row
from shared.errors import Conflict
from shared.models import OPEN_WORK_STATUSES, Ticket, utcnow
from shared.routing import in_rotation, routable, route_waiting
from shared.schemas import ReleasedTicket, ReleaseRead, ReleaseRequest, Status


def release_tickets(
    session: Session, agent_id: str, data: ReleaseRequest, settings: Settings | None = None
) -> ReleaseRead:
    """Unassign the agent's tickets new, open or in progress (and pending, when asked), oldest first, then route
    those the rotation takes; NotFound for an unknown agent, Conflict while they are in the rotation."""
    agent = get_agent(session, agent_id)
    if agent.active and agent.auto_assign and not agent.away:
        raise Conflict(
            f"agent '{agent_id}' is in the rotation, which would assign their tickets back to them; take them out"
            f' first with PATCH /api/agents/{agent_id} {{"auto_assign": false}}, or mark them away ({{"away": true}})'
        )
    statuses = [*OPEN_WORK_STATUSES, *([Status.pending.value] if data.include_pending else [])]
    held = session.execute(
        select(Ticket.ticket_id, Ticket.status)
        .where(Ticket.assigned_to == agent_id, Ticket.status.in_(statuses))
        .order_by(Ticket.created_at, Ticket.ticket_id)
    ).all()
    rotation = in_rotation(session)
    session.rollback()  # end the read: each release is its own transaction
    released: list[tuple[str, str]] = []
    to_route: list[str] = []
    for ticket_id, status in held:
        if not claim_row(session, Ticket, ticket_id, assigned_to=agent_id, status=status):
            session.rollback()  # reassigned or moved since the read: left as it now is
            continue
        ticket = session.get(Ticket, ticket_id, populate_existing=True)
        assert ticket is not None  # claimed: the row is there and held
        ticket.assigned_to = None  # through the ORM: the history records it, by the caller
        ticket.updated_at = utcnow()
        if rotation and routable(ticket):
            ticket.routing_requested_at = ticket.updated_at
            to_route.append(ticket_id)
        session.commit()
        released.append((ticket_id, status))
    routed = dict(route_waiting(session, ticket_ids=to_route, settings=settings)) if to_route else {}
    return ReleaseRead(
        agent_id=agent_id,
        released=len(released),
        results=[
            ReleasedTicket(
                ticket_id=ticket_id,
                status=Status(status),
                assigned_to=routed.get(ticket_id),
                awaiting_assignment=ticket_id in to_route and ticket_id not in routed,
            )
            for ticket_id, status in released
        ],
    )
