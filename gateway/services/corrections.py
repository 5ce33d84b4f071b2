"""Agents' corrections of the AI's category and priority: applied to the ticket and stored for learning."""

from __future__ import annotations

from typing import Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from gateway.services.erasure import ensure_not_erased
from gateway.services.tickets import claim_as_read, get_ticket
from shared.models import Ticket, TicketCorrection, utcnow
from shared.text import ticket_text


def correction_text(ticket: Ticket) -> str:
    """The text the classifier learns the correction from: the same join the worker classifies."""
    return ticket_text(ticket.subject, ticket.description)


def correct_ticket(
    session: Session, ticket_id: str, *, field: Literal["category", "priority"], value: str, actor: str
) -> Ticket:
    """Set the ticket's category or priority and record who changed it from what (a no-op change is not stored).

    The record is what the classifier learns from, so it must hold the values the change replaced:
    the row is claimed while it still holds the working and AI values read here. If the classifier
    (or another agent) wrote in between, they are read again.
    """
    ai_field = f"ai_suggested_{field}"

    def decide(ticket: Ticket) -> dict[str, object] | None:
        ensure_not_erased(ticket)
        if getattr(ticket, field) == value:
            return None
        # Not erased meanwhile either: the correction keeps the text read here.
        return {field: getattr(ticket, field), ai_field: getattr(ticket, ai_field), "erased_at": None}

    ticket, claimed = claim_as_read(session, ticket_id, decide, doing="this correction was applied")
    if claimed:
        old = getattr(ticket, field)
        setattr(ticket, field, value)
        ticket.updated_at = utcnow()
        session.add(
            TicketCorrection(
                ticket_id=ticket.ticket_id,
                field=field,
                old_value=old,
                new_value=value,
                ai_value=getattr(ticket, ai_field),
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
