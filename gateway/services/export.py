"""Exporting everything stored about one customer on their request (GDPR art. 15 access, art. 20 portability).

The copy holds what the erasure would remove, in the API's own shapes: the customer row; each ticket as
`GET /api/tickets/{id}` shows it (the AI's results and draft included); its messages, internal notes
included (an agent's note about a person is their data too); its custom fields, tags, order and tracking
references and audit trail; and the alerts whose body went to the team's webhook (a recipient of the data).
Agents' corrections are not repeated: each holds a copy of the ticket's text, and the change it made is in
the history. The export is recorded in each ticket's history, by whom, before it is handed out: it is the
largest disclosure of one person's data the API makes.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from sqlalchemy import ColumnElement, Select, String, literal, select, true
from sqlalchemy.orm import Session

from gateway.services.customers import audit_tickets, find_customer
from gateway.services.tickets import read_values
from shared.config import Targets
from shared.db import in_chunks, read_one_snapshot
from shared.models import Alert, AuditLog, Ticket, TicketMessage, TicketMetadata, TicketReference, TicketTag, utcnow
from shared.schemas import CustomerExport, CustomerRead, CustomerSelector, ExportedTicket

Rows = (
    type[AuditLog] | type[TicketMessage] | type[TicketMetadata] | type[TicketReference] | type[TicketTag] | type[Alert]
)


def export_customer(session: Session, request: CustomerSelector, targets: Targets) -> CustomerExport:
    """The customer's data, read from one snapshot (a message or an erasure committing meanwhile
    is in all of it or none), then recorded in each ticket's history and committed; NotFound if not stored.

    One query per table for all their tickets, not one per ticket, and table rows rather than ORM objects:
    an account may hold thousands of tickets, and building their objects took most of the time (a 5,000-ticket
    account on PostgreSQL, in process: 1.7-1.9 s as objects, 0.9-1.4 s as rows).
    """
    read_one_snapshot(session)
    customer = find_customer(session, request)
    theirs = select(Ticket.ticket_id).where(Ticket.customer_id == customer.customer_id)
    tickets = session.execute(
        select(*Ticket.__table__.columns)
        .where(Ticket.customer_id == customer.customer_id)
        .order_by(Ticket.created_at, Ticket.ticket_id)
    ).all()
    metadata = _by_ticket(session, TicketMetadata, theirs, TicketMetadata.id)
    messages = _by_ticket(session, TicketMessage, theirs, TicketMessage.created_at, TicketMessage.id)
    history = _by_ticket(session, AuditLog, theirs, AuditLog.id)
    references = _by_ticket(session, TicketReference, theirs, TicketReference.id)
    tags = _by_ticket(session, TicketTag, theirs, TicketTag.tag)
    alerts = _by_ticket(session, Alert, theirs, Alert.created_at, Alert.alert_id)
    exported_at = utcnow()
    export = CustomerExport(
        exported_at=exported_at,
        customer=CustomerRead.model_validate(customer),
        tickets=[
            ExportedTicket.model_validate(
                read_values(
                    ticket,
                    customer,
                    {row["key"]: row["value"] for row in metadata[ticket.ticket_id]},
                    targets,
                    [row["tag"] for row in tags[ticket.ticket_id]],
                )
                | {
                    "messages": messages[ticket.ticket_id],
                    "history": history[ticket.ticket_id],
                    "references": references[ticket.ticket_id],
                    "alerts": alerts[ticket.ticket_id],
                }
            )
            for ticket in tickets
        ],
    )
    session.commit()  # the snapshot ends; the record is written in the next transaction
    exported = ("exported", literal(None, String), "the customer's personal data, on their request", true())
    # By id: an erasure committed since the snapshot has moved them to another customer.
    for ids in in_chunks([ticket.ticket_id for ticket in tickets]):
        audit_tickets(session, Ticket.ticket_id.in_(ids), (exported,), exported_at)
    session.commit()
    return export


def _by_ticket(
    session: Session, entity: Rows, theirs: Select[Any], *order: ColumnElement[Any] | Any
) -> defaultdict[str, list[Any]]:
    """`entity`'s rows of the customer's tickets, by ticket, in `order`."""
    rows: defaultdict[str, list[Any]] = defaultdict(list)
    table = entity.__table__
    for row in session.execute(select(*table.columns).where(entity.ticket_id.in_(theirs)).order_by(*order)):
        rows[row.ticket_id].append(row._asdict())
    return rows
