"""A ticket's audit trail and its later messages."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from gateway.services.tickets import get_ticket
from shared.models import AuditLog, TicketMessage


def ticket_history(session: Session, ticket_id: str) -> list[AuditLog]:
    """Changes of status, assignment, category, priority, review flag and tags, oldest first (NotFound if unknown)."""
    get_ticket(session, ticket_id)
    query = select(AuditLog).where(AuditLog.ticket_id == ticket_id).order_by(AuditLog.id)
    return list(session.scalars(query))


def ticket_messages(session: Session, ticket_id: str) -> list[TicketMessage]:
    """Replies stored after the first message, oldest first (NotFound for an unknown ticket)."""
    get_ticket(session, ticket_id)
    query = (
        select(TicketMessage).where(TicketMessage.ticket_id == ticket_id).options(selectinload(TicketMessage.delivery))
    )
    return list(session.scalars(query.order_by(TicketMessage.created_at, TicketMessage.id)))
