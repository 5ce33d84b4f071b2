"""Agents' corrections of the AI's category and priority: applied to the ticket and stored for learning."""

from __future__ import annotations

from typing import Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from gateway.services.erasure import ensure_not_erased
from gateway.services.tickets import get_ticket
from shared.db import claim_row
from shared.errors import Conflict
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
    for _ in range(_CORRECTION_ATTEMPTS):
        ticket = get_ticket(session, ticket_id)
        ensure_not_erased(ticket)
        old, ai_value = getattr(ticket, field), getattr(ticket, ai_field)
        if old == value:
            break
        # Not erased meanwhile either: the correction keeps the text read here.
        if claim_row(session, Ticket, ticket_id, **{field: old, ai_field: ai_value, "erased_at": None}):
            setattr(ticket, field, value)
            ticket.updated_at = utcnow()
            session.add(
                TicketCorrection(
                    ticket_id=ticket.ticket_id,
                    field=field,
                    old_value=old,
                    new_value=value,
                    ai_value=ai_value,
                    text=correction_text(ticket),
                    actor=actor,
                )
            )
            break
        session.rollback()  # changed since read; rollback expires `ticket`, so it is read again
    else:
        raise Conflict(f"ticket '{ticket_id}' kept changing while this correction was applied; retry")
    session.commit()
    session.refresh(ticket)
    return ticket


_CORRECTION_ATTEMPTS = 5


def list_corrections(session: Session, ticket_id: str) -> list[TicketCorrection]:
    """A ticket's corrections, oldest first."""
    get_ticket(session, ticket_id)
    query = select(TicketCorrection).where(TicketCorrection.ticket_id == ticket_id).order_by(TicketCorrection.id)
    return list(session.scalars(query))
