"""Agents' corrections of the AI's category and priority: applied to the ticket and stored for learning."""

from __future__ import annotations

from typing import Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from gateway.services.tickets import get_ticket
from shared.models import Ticket, TicketCorrection, utcnow
from shared.text import ticket_text


def correction_text(ticket: Ticket) -> str:
    """The text the classifier learns the correction from: the same join the worker classifies."""
    return ticket_text(ticket.subject, ticket.description)


def correct_ticket(
    session: Session, ticket_id: str, *, field: Literal["category", "priority"], value: str, actor: str
) -> Ticket:
    """Set the ticket's category or priority and record who changed it from what (a no-op change is not stored)."""
    ticket = get_ticket(session, ticket_id)
    old = getattr(ticket, field)
    if old != value:
        setattr(ticket, field, value)
        ticket.updated_at = utcnow()
        session.add(
            TicketCorrection(
                ticket_id=ticket.ticket_id,
                field=field,
                old_value=old,
                new_value=value,
                ai_value=getattr(ticket, f"ai_suggested_{field}"),
                text=correction_text(ticket),
                actor=actor,
            )
        )
    session.commit()
    session.refresh(ticket)
    return ticket


def list_corrections(session: Session, ticket_id: str) -> list[TicketCorrection]:
    """A ticket's corrections, oldest first."""
    get_ticket(session, ticket_id)
    query = select(TicketCorrection).where(TicketCorrection.ticket_id == ticket_id).order_by(TicketCorrection.id)
    return list(session.scalars(query))
