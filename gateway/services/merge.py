"""Merging a duplicate ticket into the ticket kept: a customer who wrote twice about one problem (the web form,
then their app) gets one conversation, and the team answers once.

The duplicate is closed through the workflow's own close (`move_claimed`: the history, the status webhook,
whose body names `merged_into`), and the ticket kept gets an internal note holding the duplicate's subject,
text and messages, so whoever answers reads everything the customer wrote. Both rows are held first, in id
order (two merges of one pair in opposite directions cannot deadlock), at the values the checks read. The
note is keyed by the duplicate's id (`source` "merge"), so the merge happens once: a retry finds it and
answers with it. The customer's later messages to the duplicate go to the ticket kept
(`replies.add_message`).
"""

from __future__ import annotations

from collections.abc import Collection

from sqlalchemy import select
from sqlalchemy.orm import Session

from gateway.services.channel import VENDOR_SOURCES
from gateway.services.erasure import ensure_not_erased
from gateway.services.replies import find_message
from gateway.services.tickets import CLAIM_ATTEMPTS, get_ticket, move_claimed, to_read
from shared.config import Targets
from shared.db import claim_row
from shared.errors import Conflict
from shared.models import MERGE_SOURCE, Ticket, TicketMessage
from shared.schemas import MergeRead, Status, TicketMessageRead


def merge_ticket(
    session: Session,
    ticket_id: str,
    into: str,
    *,
    author: str,
    author_email: str | None = None,
    agent_id: str | None = None,
    sent: Collection[Status],
    targets: Targets,
) -> MergeRead:
    """Merge ticket `ticket_id` into `into` (and commit). 404 for either unknown; 409 for a ticket merged into
    itself, an erased, closed or vendor ticket on either side, or two customers' tickets (a valid body naming
    a ticket that cannot take it: a conflict with the tickets' state, not a malformed request)."""
    for _ in range(CLAIM_ATTEMPTS):
        duplicate, kept = get_ticket(session, ticket_id), get_ticket(session, into)
        if ticket_id == into:
            raise Conflict(f"ticket '{ticket_id}' cannot be merged into itself")
        if duplicate.merged_into == into:
            return _answer(session, duplicate, kept, targets)  # a retry: the merge is made
        _check(duplicate, kept)
        holds = {
            ticket_id: {"status": duplicate.status, "merged_into": None, "erased_at": None},
            into: {"status": kept.status, "erased_at": None},
        }
        if all(claim_row(session, Ticket, key, **holds[key]) for key in sorted(holds)):
            break
        session.rollback()  # one changed since read: read both again and check again
    else:
        raise Conflict(f"ticket '{ticket_id}' or '{into}' kept changing while this merge was made; retry")
    duplicate.merged_into = into
    session.add(
        TicketMessage(
            ticket_id=into,
            source=MERGE_SOURCE,
            external_id=ticket_id,
            author_type="agent",
            author_name=author,
            author_email=author_email,
            agent_id=agent_id,
            body=_note(session, duplicate),
            internal=True,
        )
    )
    move_claimed(session, duplicate, Status.closed, sent)  # commits
    session.expire_all()
    return _answer(session, get_ticket(session, ticket_id), get_ticket(session, into), targets)


def _check(duplicate: Ticket, kept: Ticket) -> None:
    for ticket in (duplicate, kept):
        ensure_not_erased(ticket)
        if ticket.source in VENDOR_SOURCES:
            raise Conflict(
                f"ticket '{ticket.ticket_id}' came from {ticket.source}: merge it there (its webhook keeps "
                "bringing its conversation to this ticket)"
            )
    if duplicate.merged_into is not None:
        raise Conflict(f"ticket '{duplicate.ticket_id}' is merged into '{duplicate.merged_into}' already")
    for ticket, role in ((duplicate, "merged"), (kept, "merged into")):
        if ticket.status == Status.closed.value:
            raise Conflict(f"ticket '{ticket.ticket_id}' is closed: a closed ticket cannot be {role}")
    if duplicate.customer_id != kept.customer_id:
        raise Conflict(
            f"tickets '{duplicate.ticket_id}' and '{kept.ticket_id}' belong to different customers: only one "
            "customer's tickets are merged (each customer's export and erasure keep to their own)"
        )


def _note(session: Session, duplicate: Ticket) -> str:
    """The duplicate as the note on the ticket kept shows it: subject, opening text, then each message."""
    opened = duplicate.created_at.strftime("%Y-%m-%d %H:%M UTC")
    parts = [f"Merged from ticket {duplicate.ticket_id} ({opened}): {duplicate.subject}", duplicate.description]
    messages = session.scalars(
        select(TicketMessage)
        .where(TicketMessage.ticket_id == duplicate.ticket_id)
        .order_by(TicketMessage.created_at, TicketMessage.id)
    )
    for message in messages:
        who = message.author_name or message.author_type
        kind = "note" if message.internal else message.author_type
        parts.append(f"{who} ({kind}, {message.created_at.strftime('%Y-%m-%d %H:%M UTC')}): {message.body}")
    return "\n\n".join(parts)


def _answer(session: Session, duplicate: Ticket, kept: Ticket, targets: Targets) -> MergeRead:
    note = find_message(session, MERGE_SOURCE, duplicate.ticket_id)
    if note is None:  # merged_into is written with the note, in one transaction
        raise RuntimeError(f"ticket '{duplicate.ticket_id}' is merged without its note")
    result = MergeRead(
        ticket=to_read(duplicate, targets), into=to_read(kept, targets), note=TicketMessageRead.model_validate(note)
    )
    session.rollback()  # end the read
    return result
