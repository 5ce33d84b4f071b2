"""A customer named by an erasure or an export request, and the audit entries those requests leave on each of
their tickets (set-based: an account may hold thousands of tickets)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, insert, literal, select
from sqlalchemy.orm import Session

from shared.errors import NotFound
from shared.models import AuditLog, Customer, Ticket, UTCDateTime, current_actor
from shared.schemas import CustomerSelector

# One audit entry per matching ticket: field, old value (a column or a literal), new value, which tickets.
Entry = tuple[str, Any, str, ColumnElement[bool]]


def find_customer(session: Session, request: CustomerSelector, *, for_update: bool = False) -> Customer:
    """The customer with the request's email (any letter case) or id; NotFound if none is stored."""
    if request.email is not None:
        where, named = Customer.email == request.email.lower(), f"with email '{request.email}'"
    else:
        where, named = Customer.customer_id == request.customer_id, f"'{request.customer_id}'"
    query = select(Customer).where(where)
    customer = session.scalars(query.with_for_update() if for_update else query).first()
    if customer is None:
        raise NotFound(f"no customer {named} is stored (never seen, or erased already)")
    return customer


def audit_tickets(session: Session, which: ColumnElement[bool], entries: Iterable[Entry], now: datetime) -> None:
    """Write each entry to the history of every ticket in `which` that it matches, by the caller: what the ORM's
    audit listener would have written, which set-based statements go around."""
    columns = ["ticket_id", "field", "old_value", "new_value", "actor", "created_at"]
    actor = literal(current_actor())
    for field, old, new, where in entries:
        rows = select(Ticket.ticket_id, literal(field), old, literal(new), actor, literal(now, UTCDateTime()))
        session.execute(insert(AuditLog).from_select(columns, rows.where(which, where)))
