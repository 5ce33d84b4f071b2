"""Webhook ingestion: turn a normalised vendor event into a ticket, a message, a change of tags or of a
teammate's away, idempotently.

`(source, external_id)` is unique for tickets and for messages, so a redelivered notification finds
what the first delivery stored and creates nothing; two concurrent deliveries race on the unique
constraint and the loser answers with the winner's row. Every event about a known ticket that lists the
ticket's tags in the vendor's tool brings the vendor's changes of them here (`sync_vendor_tags`); a
redelivered list finds nothing left to change.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from gateway.services.agents import sync_vendor_away
from gateway.services.replies import store_message
from gateway.services.tags import sync_vendor_tags
from gateway.services.tickets import store_ticket, upsert_customer
from gateway.webhooks import EventKind, InboundEvent
from shared.models import Agent, Ticket, TicketMessage
from shared.tags import vendor_tags


@dataclass(frozen=True)
class IngestResult:
    status: str  # created | duplicate | appended | updated | ignored | pong
    ticket: Ticket | None = None
    message: TicketMessage | None = None
    detail: str | None = None
    agent: Agent | None = None  # the teammate an away-mode notification named


def find_ticket(session: Session, source: str, external_id: str) -> Ticket | None:
    """The ticket a vendor id maps to, if any."""
    return session.scalars(select(Ticket).where(Ticket.source == source, Ticket.external_id == external_id)).first()


def ingest(session: Session, event: InboundEvent) -> IngestResult:
    """Store what `event` says happened; replays and redeliveries change nothing."""
    if event.kind == EventKind.ping:
        return IngestResult("pong", detail=f"{event.source} webhook reachable")
    if event.kind == EventKind.ignored:
        return IngestResult("ignored", detail=f"nothing to do for {event.reason}")
    if event.kind == EventKind.away:
        assert event.away is not None  # the parser reads it from a required boolean
        sync = sync_vendor_away(session, event.source, event.agent_email, event.away, event.away_at)
        return IngestResult("updated" if sync.applied else "ignored", agent=sync.agent, detail=sync.detail)
    assert event.external_id is not None  # enforced by the parser

    ticket = find_ticket(session, event.source, event.external_id)
    if event.kind == EventKind.tags:
        return _change_tags(session, ticket, event)
    created = False
    if ticket is None:
        ticket, created = _create_ticket(session, event)
    if event.kind == EventKind.ticket:
        if created:
            return IngestResult("created", ticket=ticket)
        return IngestResult("duplicate", ticket=ticket, detail=_sync_tags(session, ticket, event))
    if ticket.erased_at is not None:  # answered 2xx, or the vendor would redeliver it for days
        return IngestResult(
            "ignored", ticket=ticket, detail=f"ticket {ticket.ticket_id} was erased; message not stored"
        )

    message, appended = _append_message(session, ticket, event, opened_ticket=created)
    if created:
        return IngestResult("created", ticket=ticket, message=message, detail="ticket created from a reply")
    detail = _sync_tags(session, ticket, event)
    return IngestResult("appended" if appended else "duplicate", ticket=ticket, message=message, detail=detail)


def _change_tags(session: Session, ticket: Ticket | None, event: InboundEvent) -> IngestResult:
    """A vendor's change of a ticket's tags: made here, unless the ticket is unknown or erased (answered 2xx all
    the same, or the vendor would redeliver it for days; `sync_vendor_tags` finds an erased one)."""
    if ticket is None:
        return IngestResult("ignored", detail=f"no {event.source} ticket {event.external_id} here; tags not stored")
    assert event.tags is not None  # the parser makes a tags event only from a list
    sync = sync_vendor_tags(session, ticket.ticket_id, event.tags, event.tags_at)
    session.refresh(ticket)  # its tags, as now stored
    return IngestResult("updated" if sync.applied else "ignored", ticket=ticket, detail=sync.describe())


def _sync_tags(session: Session, ticket: Ticket, event: InboundEvent) -> str | None:
    """The vendor's tags, when the event lists them, made the ticket's (`sync_vendor_tags`, which leaves an erased
    ticket as it is); what that did, or None without a list."""
    if event.tags is None:
        return None
    sync = sync_vendor_tags(session, ticket.ticket_id, event.tags, event.tags_at)
    session.refresh(ticket)  # its tags, as now stored
    return sync.describe()


def _create_ticket(session: Session, event: InboundEvent) -> tuple[Ticket, bool]:
    if event.requester_email:
        customer_key = None  # one customer per email across every channel
    elif event.requester_id:
        customer_key = f"{event.source}:{event.requester_id}"
    else:
        # A trigger's JSON may leave the requester out; the ticket is still the customer's message, so it is
        # kept under a customer of its own (never merged with other tickets' unknown requesters).
        customer_key = f"{event.source}-ticket:{event.external_id}"
    try:
        customer_id = upsert_customer(
            session,
            email=event.requester_email,
            name=event.requester_name,
            key=customer_key,
            source=event.source if customer_key else None,
            external_id=event.requester_id if customer_key else None,
        )
        metadata = dict(event.metadata)
        if event.delivery_id:
            metadata[f"{event.source}_delivery_id"] = event.delivery_id
        ticket = store_ticket(
            session,
            customer_id=customer_id,
            subject=event.subject,
            description=event.description,
            source=event.source,
            external_id=event.external_id,
            metadata=metadata,
            tags=vendor_tags(event.tags or []),
            # the vendor's own list, compared with later ones; None when the body did not list them
            vendor_tags=vendor_tags(event.tags) if event.tags is not None else None,
            vendor_tags_at=event.tags_at if event.tags is not None else None,
        )
    except IntegrityError:
        session.rollback()
        existing = find_ticket(session, event.source, event.external_id or "")
        if existing is None:  # the conflict was something else
            raise
        return existing, False
    return ticket, True


def _append_message(
    session: Session, ticket: Ticket, event: InboundEvent, *, opened_ticket: bool
) -> tuple[TicketMessage, bool]:
    """Store the reply once; an agent's first one on a ticket that was waiting sets `first_response_at`
    (not an internal note, which the customer never sees, nor the message a ticket was just created from:
    an agent opening a conversation answered nobody); a customer's reopens a `pending` or `resolved` one."""
    message = TicketMessage(
        ticket_id=ticket.ticket_id,
        source=event.source,
        external_id=event.message_id or event.delivery_id,
        author_type=event.author_type,
        author_name=event.author_name,
        author_email=event.author_email,
        body=event.message_body,
        internal=event.internal,
    )
    return store_message(session, ticket, message, effects=not opened_ticket)
