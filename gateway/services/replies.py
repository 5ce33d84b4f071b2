"""Agents' replies written in Support Copilot: stored as the ticket's messages; the first public one is the
ticket's first response.

Delivering a reply is the channel's job: a web form's or an API client's backend reads the thread
(`GET /api/tickets/{id}/messages`). A public reply to a Zendesk or Intercom ticket is refused: its customer
reads the conversation in that tool, where a reply stored only here would never arrive. Agents answer
there, and the vendor's webhook brings the reply (and its first response time) back. Internal notes are
taken on any ticket: they answer nobody.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from gateway.services.tickets import get_ticket
from shared.errors import Conflict
from shared.models import Ticket, TicketMessage
from shared.schemas import ReplyCreate

VENDOR_SOURCES = frozenset({"zendesk", "intercom"})  # the channels whose replies come in by webhook
REPLY_SOURCE = "api"  # the stored replies' source, so `client_message_id`s never meet a vendor's ids


def mark_answered(session: Session, ticket_id: str, at: datetime) -> None:
    """Set the ticket's `first_response_at` to `at` unless it is set, in the caller's transaction.

    The database decides: of two concurrent first replies, the first to commit wins (the other's UPDATE
    waits on the row, then finds it set). The UPDATE bumps `updated_at` only when it sets the time.
    """
    session.execute(
        update(Ticket)
        .where(Ticket.ticket_id == ticket_id, Ticket.first_response_at.is_(None))
        .values(first_response_at=at)
        .execution_options(synchronize_session=False)
    )


def add_reply(session: Session, ticket_id: str, data: ReplyCreate, author: str) -> tuple[TicketMessage, Ticket, bool]:
    """Store the reply (and commit); the message, the ticket after it, and whether anything new was stored.

    A `client_message_id` sent again finds the reply stored the first time, so a client may retry a
    reply whose answer it lost without posting it twice.
    """
    ticket = get_ticket(session, ticket_id)
    if data.client_message_id is not None and (stored := _stored(session, ticket_id, data.client_message_id)):
        return stored, ticket, False
    if not data.internal and ticket.source in VENDOR_SOURCES:
        raise Conflict(
            f"ticket '{ticket_id}' came from {ticket.source}: reply there, where its customer reads the "
            "conversation (the reply comes back through the webhook); only an internal note can be added here"
        )
    message = TicketMessage(
        ticket_id=ticket_id,
        source=REPLY_SOURCE,
        external_id=data.client_message_id,
        author_type="agent",
        author_name=author,
        body=data.body,
        internal=data.internal,
    )
    session.add(message)
    try:
        session.flush()  # the message's time, written in this transaction
        if not data.internal:
            mark_answered(session, ticket_id, message.created_at)
        session.commit()
    except IntegrityError:  # the same client_message_id, stored by a concurrent request
        session.rollback()
        stored = _stored(session, ticket_id, data.client_message_id) if data.client_message_id else None
        if stored is None:
            raise
        return stored, get_ticket(session, ticket_id), False
    session.refresh(ticket, ["first_response_at", "updated_at"])  # the UPDATE went around the ORM
    return message, ticket, True


def _stored(session: Session, ticket_id: str, client_message_id: str) -> TicketMessage | None:
    """The reply already stored under this id; Conflict if that reply is on another ticket."""
    query = select(TicketMessage).where(
        TicketMessage.source == REPLY_SOURCE, TicketMessage.external_id == client_message_id
    )
    found = session.scalars(query).first()
    if found is not None and found.ticket_id != ticket_id:
        raise Conflict(f"client_message_id '{client_message_id}' is already a reply on ticket '{found.ticket_id}'")
    return found
