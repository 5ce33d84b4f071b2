"""A ticket's conversation after it was opened: agents' replies and notes, and customers' messages.

The first public agent reply is the ticket's first response. A customer writing back to a ticket that
waits on them (`pending`) or was `resolved` reopens it, and the AI scores and drafts the answer to their
new message. A closed ticket is final: a customer's message to a closed web or API ticket goes to its
follow-up, a new ticket opened by the first such message (`follow_up_of`), while that one is not closed
itself; to a duplicate merged into another ticket, it goes to that one. Here for web and API tickets, whose
channel's backend delivers the replies (POSTed to REPLY_WEBHOOK_URL when it is set, through an outbox row written with
the reply; else read from `GET /api/tickets/{id}/messages`) and relays the customer's answers; by the
webhooks for Zendesk and Intercom. A Zendesk or Intercom ticket's public replies and customer
messages are refused here: its customer reads and writes in that tool, where a reply stored only here
would never arrive, and the vendor's webhook brings both back. Internal notes are taken on any ticket.
"""

from __future__ import annotations

from datetime import datetime
from typing import NamedTuple

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from gateway.services.channel import VENDOR_SOURCES, message_payload
from gateway.services.erasure import ensure_not_erased
from gateway.services.sla import resume_clock
from gateway.services.tickets import get_ticket, insert_follow_up, mark_reopened
from shared.db import claim_row
from shared.errors import Conflict
from shared.models import ReplyDelivery, Ticket, TicketMessage, utcnow
from shared.outbox import REPLIES, send
from shared.pipeline import enqueue, request_rework, send_next
from shared.redaction import redact_card_numbers
from shared.schemas import MessageCreate, ProcessingState, Status

REPLY_SOURCE = "api"  # the source of messages posted here, so `client_message_id`s never meet a vendor's ids


def mark_answered(session: Session, ticket_id: str, at: datetime) -> bool:
    """Set the ticket's `first_response_at` to `at` unless it is set, in the caller's transaction; whether
    this reply was the first.

    The database decides: of two concurrent first replies, the first to commit wins (the other's UPDATE
    waits on the row, then finds it set).
    """
    result = session.execute(
        update(Ticket)
        .where(Ticket.ticket_id == ticket_id, Ticket.first_response_at.is_(None))
        .values(first_response_at=at)
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(result, "rowcount", 0))


def mark_replied(session: Session, ticket_id: str) -> datetime | None:
    """An agent's public reply: the customer waits for nobody now (`awaiting_reply_since` cleared); when
    the wait it ended began, or None if nobody was waiting.

    The row is held from the read to the commit, so of two concurrent replies only the first ends the wait
    (on PostgreSQL `FOR NO KEY UPDATE`, as an UPDATE holds it: a plain `FOR UPDATE` would wait on the key
    share lock each reply's insert takes on its ticket, and two replies would deadlock).
    """
    since = session.scalar(
        select(Ticket.awaiting_reply_since).where(Ticket.ticket_id == ticket_id).with_for_update(key_share=True)
    )
    if since is not None:
        session.execute(
            update(Ticket)
            .where(Ticket.ticket_id == ticket_id)
            .values(awaiting_reply_since=None)
            .execution_options(synchronize_session=False)
        )
    return since


def mark_awaiting(session: Session, ticket_id: str, since: datetime) -> None:
    """A customer's message: they wait for a reply from `since`, unless already waiting from earlier (the
    clock runs from their oldest unanswered message)."""
    session.execute(
        update(Ticket)
        .where(Ticket.ticket_id == ticket_id, Ticket.awaiting_reply_since.is_(None))
        .values(awaiting_reply_since=since)
        .execution_options(synchronize_session=False)
    )


def reopen_for_customer(session: Session, ticket: Ticket) -> None:
    """A customer's message on a `pending` (waiting for the customer) or `resolved` ticket moves it back to
    `open`, in the caller's transaction, so the message and the move are stored together or not at all.

    The row is claimed at the status read: if an agent moved the ticket meanwhile, their change stands.
    A closed ticket stays closed (a final state); the message is still kept on it.
    """
    current = ticket.status
    if current in REOPENED_BY_CUSTOMER and claim_row(session, Ticket, ticket.ticket_id, status=current):
        now = utcnow()
        resume_clock(ticket, now)  # a stay in pending ends
        ticket.status = Status.open.value  # through the ORM, so the audit trail records it
        ticket.updated_at = now
        ticket.resolved_at = None
        if current == Status.resolved.value:
            mark_reopened(ticket, now)


def store_message(
    session: Session, ticket: Ticket, message: TicketMessage, *, effects: bool = True, deliver: bool = False
) -> tuple[TicketMessage, bool]:
    """Store `message` on `ticket` once (and commit), card numbers masked; the stored message and whether it is new.

    A message whose `(source, external_id)` is known already is not stored again: the one stored first is
    returned, whether found before the insert or, for a concurrent duplicate, by its unique key after it.
    With `effects`, in the same transaction, so both are stored or neither: an agent's public reply sets
    `first_response_at` and ends the customer's wait (`awaiting_reply_since`), recording on a later reply
    when that wait began (`waited_since`, the week's next reply times); a customer's message reopens a
    `pending` or `resolved` ticket, starts their wait unless they are waiting already, and sends a drafted
    ticket back to its classify step (what they wrote may raise its priority; the draft answered an earlier
    message), enqueued after the commit. With `deliver`, the message's delivery to the channel's backend (a
    public agent reply, or a customer's message the backend did not relay) is written with it, and its task
    sent after the commit; never an internal note's.
    """
    if message.external_id and (found := find_message(session, message.source, message.external_id)):
        return found, False
    message.body = redact_card_numbers(message.body)
    session.add(message)
    answers = effects and message.author_type == "agent" and not message.internal
    delivered = deliver and not message.internal
    rework = False
    try:
        session.flush()  # the message's time, written in this transaction
        # Read after the insert, which waited for an erasure holding the ticket: it must not bring text back.
        session.refresh(ticket, ["erased_at"])
        if ticket.erased_at is not None:
            session.rollback()
            ensure_not_erased(ticket)  # raises: read again after the rollback, it is still erased
        if answers:
            first = mark_answered(session, ticket.ticket_id, message.created_at)
            waited_since = mark_replied(session, ticket.ticket_id)
            if not first:  # a first reply's wait is the ticket's own, from arrival to `first_response_at`
                message.waited_since = waited_since
        elif effects and message.author_type == "customer":
            reopen_for_customer(session, ticket)
            if ticket.status != Status.closed.value:
                mark_awaiting(session, ticket.ticket_id, message.created_at)
                rework = request_rework(session, ticket.ticket_id)
            elif ticket.source not in VENDOR_SOURCES:  # kept here, and the conversation goes on in a new ticket
                message.follow_up_ticket_id = insert_follow_up(session, ticket, message.body)
        if delivered:  # built after the effects: the body shows the ticket as the message left it
            payload = message_payload(ticket, message)
            session.add(ReplyDelivery(message_id=message.id, ticket_id=ticket.ticket_id, payload=payload))
        session.commit()
    except IntegrityError:
        session.rollback()
        found = find_message(session, message.source, message.external_id) if message.external_id else None
        if found is None:
            raise
        return found, False
    if effects:  # the UPDATEs went around the ORM; the answer shows what they wrote
        session.refresh(ticket, [*_EFFECTS, "updated_at"])
    if rework:
        send_next(ticket.ticket_id, ProcessingState.queued)
    if message.follow_up_ticket_id:
        enqueue(message.follow_up_ticket_id, ProcessingState.queued)
    if delivered:
        send(REPLIES, message.id)
    return message, True


def find_message(session: Session, source: str, external_id: str) -> TicketMessage | None:
    """The message a channel's id maps to, if any."""
    query = select(TicketMessage).where(TicketMessage.source == source, TicketMessage.external_id == external_id)
    return session.scalars(query).first()


class Posted(NamedTuple):
    """What `add_message` did."""

    message: TicketMessage
    ticket: Ticket  # the ticket posted to, after the message
    created: bool  # False: a retry found the message stored the first time
    follow_up: Ticket | None  # where a customer's message to a closed ticket went on, or None


def add_message(
    session: Session,
    ticket_id: str,
    data: MessageCreate,
    *,
    author_type: str,
    author: str,
    author_email: str | None = None,
    agent_id: str | None = None,
    internal: bool = False,
    deliver: bool = False,
    macro_id: str | None = None,
) -> Posted:
    """Store an agent's reply or note, or a customer's message (and commit). With `deliver`, the message, unless
    an internal note, is sent on to the channel's backend (REPLY_WEBHOOK_URL): an agent's public reply, or a
    customer's message written on the request's page (REPLY_WEBHOOK_CUSTOMER_MESSAGES), never one the backend
    relayed itself.

    A customer's message to a ticket merged into another goes to that one (`merged_target`). A customer's
    message to a closed ticket is stored on its follow-up while that one is not closed; else it is kept on
    the closed ticket and opens a new follow-up (`store_message`). Either way `follow_up` names the ticket
    where the customer's next messages belong.

    A `client_message_id` sent again finds the message stored the first time, so a client may retry a
    message whose answer it lost without posting it twice (even one the vendor rule would refuse now).
    `macro_id` names the macro an agent applied to post it, for the macros' usage counts.
    """
    ticket = get_ticket(session, ticket_id)
    ensure_not_erased(ticket)
    known = find_message(session, REPLY_SOURCE, data.client_message_id) if data.client_message_id else None
    if known is None and not internal and ticket.source in VENDOR_SOURCES:
        raise Conflict(_VENDOR_ONLY[author_type].format(ticket_id=ticket_id, source=ticket.source))
    message, created = known, False
    if message is None:
        target = ticket
        if author_type == "customer" and ticket.status == Status.closed.value:
            target = merged_target(session, ticket)
            if target.status == Status.closed.value:
                target = current_follow_up(session, target) or target
        message = TicketMessage(
            ticket_id=target.ticket_id,
            source=REPLY_SOURCE,
            external_id=data.client_message_id,
            author_type=author_type,
            author_name=author,
            author_email=author_email,
            agent_id=agent_id,
            body=data.body,
            internal=internal,
            macro_id=macro_id,
        )
        message, created = store_message(session, target, message, deliver=deliver)
    moved_to = message.follow_up_ticket_id or (message.ticket_id if message.ticket_id != ticket_id else None)
    follow_up = get_ticket(session, moved_to) if moved_to else None
    home = merged_target(session, ticket).ticket_id if message.ticket_id != ticket_id else ticket_id
    on_its_way = message.ticket_id in (ticket_id, home) or (follow_up is not None and follow_up.follow_up_of == home)
    if not on_its_way:
        raise Conflict(
            f"client_message_id '{data.client_message_id}' is already a message on ticket '{message.ticket_id}'"
        )
    return Posted(message, ticket, created, follow_up)


def merged_target(session: Session, ticket: Ticket) -> Ticket:
    """Where a merged ticket's conversation goes on: the ticket it was merged into (or, if that one was merged
    too, the one that was, and so on); the ticket itself when it was not merged."""
    seen = {ticket.ticket_id}
    while ticket.merged_into is not None and ticket.merged_into not in seen:
        ticket = get_ticket(session, ticket.merged_into)
        seen.add(ticket.ticket_id)
    return ticket


def current_follow_up(session: Session, closed: Ticket) -> Ticket | None:
    """The follow-up of the closed ticket a customer's message goes to: its latest, unless that one is closed
    too (None: the message opens another). The closed ticket's row is held first, until the message's commit,
    so two messages at once open one follow-up between them, not one each (an UPDATE setting `updated_at` to
    itself: a closed ticket has nothing else to claim, and a hold is not a change)."""
    session.execute(
        update(Ticket)
        .where(Ticket.ticket_id == closed.ticket_id)
        .values(updated_at=Ticket.updated_at)
        .execution_options(synchronize_session=False)
    )
    latest = session.scalars(
        select(Ticket)
        .where(Ticket.follow_up_of == closed.ticket_id)
        .order_by(Ticket.created_at.desc(), Ticket.ticket_id.desc())
        .limit(1)
    ).first()
    return latest if latest is not None and latest.status != Status.closed.value else None


_EFFECTS = (
    "first_response_at",
    "awaiting_reply_since",
    "processing_state",
    "processing_error",
    "processing_updated_at",
)
REOPENED_BY_CUSTOMER = frozenset({Status.pending.value, Status.resolved.value})
_VENDOR_ONLY = {
    "agent": "ticket '{ticket_id}' came from {source}: reply there, where its customer reads the conversation "
    "(the reply comes back through the webhook); only an internal note can be added here",
    "customer": "ticket '{ticket_id}' came from {source}: its customer's messages come in through the {source} webhook",
}
