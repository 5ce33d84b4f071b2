"""Erasing a customer's personal data on their request (GDPR art. 17, CCPA), or one ticket's, in one transaction.

What they wrote and whatever was read out of it goes: the tickets' subject and description, the comment
with a satisfaction rating, the AI's reasoning and draft, the extracted details, the messages, the custom
fields, the tags (an agent may have written the person into one: the history keeps who changed them and
when, not which), the order and tracking references, the agents' corrections (which keep the text to learn
from), the alerts (whose body holds the subject) and the status changes owed to REPLY_WEBHOOK_URL (whose body
holds the address too). The replies' deliveries to REPLY_WEBHOOK_URL (whose body holds the reply and the address)
go with their messages, by the foreign key's cascade. None of them not yet delivered is sent. The customer
row goes too, email and name with it (not when one ticket is erased). Its id is a hash of the email, which
would let anyone holding the address find the tickets again, so the tickets move to a fresh random id.

What stays is each ticket's skeleton: its times, category, priority, sentiment, satisfaction rating, status
(closed) and audit trail. Those carry no personal data, and the overview's statistics and the volume
forecasts count them.
"""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Any, cast

from sqlalchemy import ColumnElement, CursorResult, Delete, Select, String, case, delete, literal, select, true, update
from sqlalchemy.orm import Session, lazyload

from gateway.services.customers import audit_tickets, find_customer
from shared.errors import Conflict, NotFound
from shared.models import (
    MERGE_SOURCE,
    TAGS_FIELD,
    Alert,
    AuditLog,
    Customer,
    StatusDelivery,
    Ticket,
    TicketCorrection,
    TicketMessage,
    TicketMetadata,
    TicketReference,
    TicketTag,
    utcnow,
)
from shared.schemas import CustomerSelector, ErasureRead, ProcessingState, Status

ERASED_TEXT = "[erased]"
# Every row that holds what the customer wrote, or what was read out of it, keyed by ticket.
_TEXT_ROWS = (TicketMessage, TicketMetadata, TicketReference, TicketTag, TicketCorrection, Alert, StatusDelivery)
TextRow = (
    type[TicketMessage]
    | type[TicketMetadata]
    | type[TicketReference]
    | type[TicketTag]
    | type[TicketCorrection]
    | type[Alert]
    | type[StatusDelivery]
)


def ensure_not_erased(ticket: Ticket) -> None:
    """409 for a write that would bring personal data back to an erased ticket (a message, a correction, a draft)."""
    if ticket.erased_at is not None:
        raise Conflict(
            f"ticket '{ticket.ticket_id}' was erased at {ticket.erased_at.isoformat()}; open a new ticket instead"
        )


def erase_customer(session: Session, request: CustomerSelector) -> ErasureRead:
    """Erase everything personal about one customer (and commit); 404 if no such customer is stored.

    The customer row, then their tickets, are locked first (FOR UPDATE on PostgreSQL; SQLite has one writer),
    so a ticket created for them meanwhile waits and then gets a fresh customer. A message on its way waits and
    then finds the ticket erased. A worker that read a ticket before the erasure stores nothing: its claim
    rests on `processing_state` (and `processing_updated_at`), which the erasure moves. Set-based statements,
    not one ORM object per ticket: an account with thousands of tickets is erased in one short transaction.
    """
    customer = find_customer(session, request, for_update=True)
    erased = _erase(
        session,
        Ticket.customer_id == customer.customer_id,
        since=customer.created_at,
        what="the customer's personal data, on their request",
    )
    session.delete(customer)
    session.commit()
    return erased


def erase_ticket(session: Session, ticket_id: str) -> ErasureRead:
    """Erase one ticket's personal data (and commit), as the customer's erasure does for each of theirs: a
    conversation the customer asks to have removed, or one that holds what should never have been written.
    The customer and their other tickets stay. 404 for an unknown ticket, 409 for one erased already.

    The ticket row is locked first, so a message on its way waits and then finds it erased; it moves to its
    own anonymous customer, since the customer's id (a hash of their email) would tie it to them.
    """
    # Without the customer join the ticket loads with: a second erasure waiting on this lock would re-check the
    # join against the customer the first one moved the ticket from, find no row, and answer 404, not 409.
    locked = select(Ticket).options(lazyload(Ticket.customer)).where(Ticket.ticket_id == ticket_id)
    ticket = session.scalars(locked.with_for_update()).first()
    if ticket is None:
        raise NotFound(f"ticket '{ticket_id}' not found")
    ensure_not_erased(ticket)
    erased = _erase(session, Ticket.ticket_id == ticket_id, since=ticket.created_at, what="this ticket's personal data")
    session.commit()
    return erased


def _erase(session: Session, which: ColumnElement[bool], *, since: datetime, what: str) -> ErasureRead:
    """Erase the tickets `which` selects (locked, in id order) under a new anonymous customer; no commit."""
    now = utcnow()
    theirs = select(Ticket.ticket_id).where(which)
    ticket_ids = list(session.scalars(theirs.order_by(Ticket.ticket_id).with_for_update()))
    deleted = {entity: _delete_rows(session, entity, theirs) for entity in _TEXT_ROWS}
    deleted[TicketMessage] += _delete_merge_notes(session, theirs)
    _erase_tag_history(session, theirs)
    _audit(session, which, what, now)
    anonymous = Customer(customer_id="ANON-" + secrets.token_hex(6).upper(), created_at=since)
    session.add(anonymous)
    session.flush()
    session.execute(
        update(Ticket)
        .where(which)
        .values(
            customer_id=anonymous.customer_id,
            subject=ERASED_TEXT,
            description=ERASED_TEXT,
            ai_suggested_reply=None,
            ai_reasoning=None,
            satisfaction_comment=None,  # the rating itself stays, as the sentiment does
            vendor_tags=None,  # tags, like the ticket's own
            vendor_tags_at=None,
            urgency_keywords=[],
            extracted_metadata={},
            # Nothing is left to answer or review; closing (not resolving) keeps it out of the resolution figures.
            status=Status.closed.value,
            awaiting_reply_since=None,
            needs_review=False,
            flagged_at=None,
            # Moved, so a worker's claim on what it read fails (as `set_state` would move it).
            processing_state=ProcessingState.done.value,
            processing_error=None,
            processing_updated_at=now,
            erased_at=now,
            updated_at=now,
        ),
        execution_options={"synchronize_session": False},
    )
    return ErasureRead(
        customer_id=anonymous.customer_id,
        erased_at=now,
        tickets=ticket_ids,
        messages_deleted=deleted[TicketMessage],
        alerts_deleted=deleted[Alert],
        corrections_deleted=deleted[TicketCorrection],
    )


def _delete_rows(session: Session, entity: TextRow, theirs: Select[Any]) -> int:
    """Delete `entity`'s rows of the customer's tickets; how many."""
    return _deleted(session, delete(entity).where(entity.ticket_id.in_(theirs)))


def _delete_merge_notes(session: Session, theirs: Select[Any]) -> int:
    """The notes merges of these tickets left on the tickets kept: they hold these tickets' text, wherever the
    kept ticket is (erasing a merged duplicate alone must not leave its text on the kept one)."""
    return _deleted(
        session,
        delete(TicketMessage).where(TicketMessage.source == MERGE_SOURCE, TicketMessage.external_id.in_(theirs)),
    )


def _deleted(session: Session, statement: Delete) -> int:
    """Run a DELETE around the ORM's session state; how many rows it deleted."""
    result = session.execute(statement, execution_options={"synchronize_session": False})
    return cast(CursorResult[Any], result).rowcount


def _erase_tag_history(session: Session, theirs: Select[Any]) -> None:
    """The history's tag changes without the tags' names (each side `[erased]` where it held one)."""
    erased = {
        column.key: case((column.is_(None), None), else_=literal(ERASED_TEXT))
        for column in (AuditLog.old_value, AuditLog.new_value)
    }
    session.execute(
        update(AuditLog).where(AuditLog.ticket_id.in_(theirs), AuditLog.field == TAGS_FIELD).values(erased),
        execution_options={"synchronize_session": False},
    )


def _audit(session: Session, which: ColumnElement[bool], what: str, now: datetime) -> None:
    """The status closed and the review flag cleared where they change, and the erasure itself, by whom."""
    audit_tickets(
        session,
        which,
        (
            ("status", Ticket.status, Status.closed.value, Ticket.status != Status.closed.value),
            ("needs_review", literal("true"), "false", Ticket.needs_review.is_(True)),
            ("erased", literal(None, String), what, true()),
        ),
        now,
    )
