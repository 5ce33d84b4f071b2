"""Erasing a customer's personal data on their request (GDPR art. 17, CCPA), in one transaction.

What they wrote and whatever was read out of it goes: the tickets' subject and description, the AI's
reasoning and draft, the extracted details, the messages, the custom fields, the order and tracking
references, the agents' corrections (which keep the text to learn from) and the alerts (whose body holds
the subject). The customer row goes too, email and name with it. Its id is a hash of the email, which would
let anyone holding the address find the tickets again, so the tickets move to a fresh random id.

What stays is each ticket's skeleton: its times, category, priority, sentiment, status (closed) and audit
trail. Those carry no personal data, and the overview's statistics and the volume forecasts count them.
"""

from __future__ import annotations

import secrets
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from shared.errors import Conflict, NotFound
from shared.models import (
    Alert,
    AuditLog,
    Customer,
    Ticket,
    TicketCorrection,
    TicketMessage,
    TicketMetadata,
    TicketReference,
    current_actor,
    utcnow,
)
from shared.pipeline import set_state
from shared.schemas import CustomerErasure, ErasureRead, ProcessingState, Status

ERASED_TEXT = "[erased]"
# Every row that holds what the customer wrote, or what was read out of it, keyed by ticket.
_TEXT_ROWS = (TicketMessage, TicketMetadata, TicketReference, TicketCorrection, Alert)
TextRow = type[TicketMessage] | type[TicketMetadata] | type[TicketReference] | type[TicketCorrection] | type[Alert]


def ensure_not_erased(ticket: Ticket) -> None:
    """409 for a write that would bring personal data back to an erased ticket (a message, a correction, a draft)."""
    if ticket.erased_at is not None:
        raise Conflict(
            f"ticket '{ticket.ticket_id}' was erased at {ticket.erased_at.isoformat()} on its customer's request; "
            "open a new ticket instead"
        )


def erase_customer(session: Session, request: CustomerErasure) -> ErasureRead:
    """Erase everything personal about one customer (and commit); 404 if no such customer is stored.

    The customer row, then their tickets, are locked first (FOR UPDATE on PostgreSQL; SQLite has one writer),
    so a ticket created for them meanwhile waits and then gets a fresh customer. A message on its way waits and
    then finds the ticket erased. A worker that read a ticket before the erasure stores nothing: its claim
    rests on `processing_state` and `processing_updated_at`, which the erasure moves.
    """
    customer = _locked_customer(session, request)
    now = utcnow()
    ticket_ids = list(
        session.scalars(
            select(Ticket.ticket_id)
            .where(Ticket.customer_id == customer.customer_id)
            .order_by(Ticket.ticket_id)
            .with_for_update()
        )
    )
    deleted = {entity: _delete_rows(session, entity, ticket_ids) for entity in _TEXT_ROWS}
    anonymous = Customer(customer_id="ANON-" + secrets.token_hex(6).upper(), created_at=customer.created_at)
    session.add(anonymous)
    for ticket_id in ticket_ids:
        ticket = session.get_one(Ticket, ticket_id, populate_existing=True)
        _erase_ticket(session, ticket, anonymous, now)
    session.flush()  # the tickets leave the customer before it goes
    session.delete(customer)
    session.commit()
    return ErasureRead(
        customer_id=anonymous.customer_id,
        erased_at=now,
        tickets=ticket_ids,
        messages_deleted=deleted[TicketMessage],
        alerts_deleted=deleted[Alert],
        corrections_deleted=deleted[TicketCorrection],
    )


def _locked_customer(session: Session, request: CustomerErasure) -> Customer:
    if request.email is not None:
        where, named = Customer.email == request.email.lower(), f"with email '{request.email}'"
    else:
        where, named = Customer.customer_id == request.customer_id, f"'{request.customer_id}'"
    customer = session.scalars(select(Customer).where(where).with_for_update()).first()
    if customer is None:
        raise NotFound(f"no customer {named} is stored (never seen, or erased already)")
    return customer


def _delete_rows(session: Session, entity: TextRow, ticket_ids: list[str]) -> int:
    """Delete `entity`'s rows of these tickets, in chunks a query's parameter limit allows; how many."""
    total = 0
    for start in range(0, len(ticket_ids), 1000):
        chunk = ticket_ids[start : start + 1000]
        result = session.execute(
            delete(entity).where(entity.ticket_id.in_(chunk)), execution_options={"synchronize_session": False}
        )
        total += result.rowcount  # type: ignore[attr-defined]
    return total


def _erase_ticket(session: Session, ticket: Ticket, anonymous: Customer, now: datetime) -> None:
    ticket.subject = ticket.description = ERASED_TEXT
    ticket.ai_suggested_reply = None
    ticket.ai_reasoning = None
    ticket.urgency_keywords = []
    ticket.extracted_metadata = {}
    ticket.processing_error = None
    ticket.customer = anonymous
    # Nothing is left to answer or review; closing (not resolving) keeps it out of the resolution figures.
    if ticket.status != Status.closed.value:
        ticket.status = Status.closed.value
    ticket.awaiting_reply_since = None
    ticket.set_needs_review(False)
    set_state(session, ticket, ProcessingState.done)
    ticket.erased_at = ticket.updated_at = now
    session.add(
        AuditLog(
            ticket_id=ticket.ticket_id,
            field="erased",
            new_value="the customer's personal data, on their request",
            actor=current_actor(),
        )
    )
