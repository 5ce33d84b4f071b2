"""The ticket pipeline's shared moves: enqueue a step, record progress, and sweep stuck tickets.

classify (queue `classify`) -> draft (queue `draft`) -> done. Every step takes a ticket id only and
checks the persisted `processing_state` first, so a duplicate or re-sent message is harmless.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from shared.celery import CLASSIFY_QUEUE, CLASSIFY_TASK, DRAFT_QUEUE, DRAFT_TASK, send_quietly
from shared.db import claim_row
from shared.errors import TransientError
from shared.events import publish_state
from shared.models import Ticket, TicketMessage, utcnow
from shared.schemas import ProcessingState, TicketContext

log = logging.getLogger(__name__)

# Which task moves a ticket out of which state.
NEXT_STEP = {
    ProcessingState.queued: (CLASSIFY_TASK, CLASSIFY_QUEUE),
    ProcessingState.classified: (DRAFT_TASK, DRAFT_QUEUE),
}


def enqueue(ticket_id: str, state: ProcessingState | str) -> bool:
    """Send the task that advances a ticket from `state`; False (logged) when the broker is unreachable.

    Callers commit first: a ticket that could not be enqueued stays in its state and the sweeper
    picks it up once the broker is back.
    """
    task, queue = NEXT_STEP[ProcessingState(state)]
    return send_quietly(task, ticket_id, queue)


def set_state(session: Session, ticket: Ticket, state: ProcessingState, error: str | None = None) -> None:
    """Move a ticket to `state` (the caller commits, then calls `announce`)."""
    ticket.processing_state = state.value
    ticket.processing_error = error
    ticket.processing_updated_at = utcnow()


def request_round(session: Session, ticket: Ticket, state: ProcessingState) -> None:
    """Send a ticket back into the pipeline at `state` for a new round of AI work (a retry, a manual
    redraft): `set_state`, and the round's start (`processing_requested_at`), which the overview's oldest
    waiting ticket counts from. The caller commits, then calls `send_next`."""
    set_state(session, ticket, state)
    ticket.processing_requested_at = ticket.processing_updated_at


def claim_ticket(
    session: Session,
    ticket_id: str,
    still: Callable[[Ticket], bool],
    *,
    fields: tuple[str, ...] = ("processing_state",),
) -> Ticket | None:
    """The ticket, held until commit, if `still(ticket)` holds as committed; None if missing or it does not.

    A worker decides from what it read, possibly long before it writes. The row is claimed while the
    `fields` the decision rests on are as read (`claim_row`) and read again if another session (an
    agent, a duplicate delivery) committed in between, so a write never lands on values it did not see.
    """
    for _ in range(_CLAIM_ATTEMPTS):
        ticket = session.get(Ticket, ticket_id, populate_existing=True)
        if ticket is None or not still(ticket):
            return None
        if claim_row(session, Ticket, ticket_id, **{name: getattr(ticket, name) for name in fields}):
            return ticket
    raise TransientError(f"ticket {ticket_id} kept changing while a worker wrote to it")


_CLAIM_ATTEMPTS = 5


def announce(ticket_id: str, state: ProcessingState) -> None:
    """Wake long-polling readers of the ticket after a commit."""
    publish_state(ticket_id, state.value)


def ticket_context(session: Session, ticket: Ticket) -> TicketContext:
    """The ticket as the AI steps see it, with the customer's recent history."""
    since = utcnow() - timedelta(days=30)
    recent, still_open = session.execute(
        select(
            func.count(),
            func.count().filter(Ticket.status.notin_(("resolved", "closed"))),
        ).where(
            Ticket.customer_id == ticket.customer_id,
            Ticket.created_at >= since,
            Ticket.ticket_id != ticket.ticket_id,
        )
    ).one()
    meta = {row.key: row.value for row in ticket.metadata_rows}
    follow_up, last_reply = conversation_since_reply(session, ticket)
    return TicketContext(
        ticket_id=ticket.ticket_id,
        subject=ticket.subject,
        description=ticket.description,
        customer_name=ticket.customer.name,
        customer_email=ticket.customer.email,
        order_id=meta.get("order_id"),
        category=ticket.ai_suggested_category,
        priority=ticket.ai_suggested_priority,
        sentiment=ticket.sentiment,
        urgency_keywords=list(ticket.urgency_keywords or []),
        extracted_metadata=ticket.extracted_metadata or {},
        recent_tickets=int(recent or 0),
        open_tickets=int(still_open or 0),
        follow_up=follow_up,
        last_reply=last_reply,
    )


def conversation_since_reply(session: Session, ticket: Ticket) -> tuple[str | None, str | None]:
    """The customer's messages since the last public agent reply (at most `FOLLOW_UP_MESSAGES`, oldest
    first, joined) and that reply; (None, None) while the customer has not written since the ticket opened.

    A message repeating the ticket's description (the one a webhook ticket was opened from) is not a
    follow-up. Notes are never read: a draft must not quote what the customer is not meant to see
    (an agent message from before migration 0012, whose `internal` is unknown, counts as a note).
    """
    rows = session.execute(
        select(TicketMessage.author_type, TicketMessage.body, TicketMessage.internal)
        .where(TicketMessage.ticket_id == ticket.ticket_id)
        .order_by(TicketMessage.created_at.desc(), TicketMessage.id.desc())
        .limit(_CONVERSATION_ROWS)
    ).all()
    customer: list[str] = []
    last_reply = None
    for author_type, body, internal in rows:  # newest first
        if author_type == "agent" and internal is False:
            last_reply = body[:FOLLOW_UP_CHARS]
            break
        if author_type == "customer" and body.strip() != ticket.description.strip():
            customer.append(body[:FOLLOW_UP_CHARS])
    if not customer:
        return None, None
    return "\n\n".join(reversed(customer[:FOLLOW_UP_MESSAGES])), last_reply


def last_customer_message(session: Session, ticket_id: str) -> int | None:
    """The id of the ticket's newest customer message (None before any): what a draft answers up to."""
    query = select(func.max(TicketMessage.id)).where(
        TicketMessage.ticket_id == ticket_id, TicketMessage.author_type == "customer"
    )
    return session.scalar(query)


FOLLOW_UP_MESSAGES = 3  # a draft answers the customer's last few messages, not a whole thread
FOLLOW_UP_CHARS = 2000  # per message: the text a draft reads (embedding and prompt stay bounded)
_CONVERSATION_ROWS = 50  # how far back the last public reply is looked for


def request_rework(session: Session, ticket_id: str) -> bool:
    """Send a drafted (`done`) or drafting (`classified`) ticket back to its classify step, in the caller's
    transaction; whether it was. After the commit the caller sends it on (`send_next`).

    Called when the customer writes back: what they wrote may raise the priority or give an order id
    (`classifier_worker.follow_up`), and the stored draft answered an earlier message, so both steps run
    again. One conditional UPDATE, so a worker finishing meanwhile cannot lose it: its `done` is turned
    back, or its draft, begun before the message, is refused (the draft step claims the row `classified`
    and checks for a newer customer message). A `queued` ticket is classified and drafted from the whole
    conversation anyway; a `failed` one waits for its retry. The old results stay readable until replaced.
    """
    now = utcnow()
    result = session.execute(
        update(Ticket)
        .where(
            Ticket.ticket_id == ticket_id,
            Ticket.processing_state.in_((ProcessingState.classified.value, ProcessingState.done.value)),
        )
        .values(
            processing_state=ProcessingState.queued.value,
            processing_error=None,
            processing_updated_at=now,
            processing_requested_at=now,
        )
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def send_next(ticket_id: str, state: ProcessingState) -> None:
    """After the commit that left a ticket in `state`: wake its long-polling readers and send the step that
    takes it on (a broker that is down leaves it for the sweeper)."""
    announce(ticket_id, state)
    enqueue(ticket_id, state)


def sweep_stale(session: Session, *, older_than_s: float, now: datetime | None = None, limit: int = 500) -> list[str]:
    """Re-enqueue tickets stuck in `queued` or `classified` longer than `older_than_s`; returns their ids.

    Covers a ticket accepted while Redis was down, a message Redis lost on restart, and a worker
    killed mid-task. The ticket's `processing_updated_at` is bumped so it is not re-sent every pass.
    """
    now = now or utcnow()
    cutoff = now - timedelta(seconds=older_than_s)
    rows = session.execute(
        select(Ticket.ticket_id, Ticket.processing_state)
        .where(
            Ticket.processing_state.in_((ProcessingState.queued.value, ProcessingState.classified.value)),
            Ticket.processing_updated_at < cutoff,
        )
        .order_by(Ticket.processing_updated_at)
        .limit(limit)
    ).all()
    sent: list[str] = []
    for ticket_id, state in rows:
        if enqueue(ticket_id, state):
            session.execute(
                update(Ticket)
                .where(Ticket.ticket_id == ticket_id, Ticket.processing_state == state)
                .values(processing_updated_at=now)
            )
            sent.append(ticket_id)
    session.commit()
    if sent:
        log.info("sweeper re-enqueued %d stuck ticket(s)", len(sent))
    return sent


def never_classified(ticket: Ticket) -> bool:
    """No classification was ever stored (every stored one sets the AI category): drafting needs one."""
    return ticket.ai_suggested_category is None


def retry_failed(session: Session, ticket_id: str) -> ProcessingState | None:
    """Send a `failed` ticket back to the step it did not finish; the state it now waits in (None: not failed).

    After its last retry a ticket stays `failed`: the sweeper leaves it, since what failed it may still
    be broken. Once the cause is fixed, this re-runs classification if the ticket never got a result,
    else its draft. Committed before it is enqueued, like every send; the sweeper covers a broker blip.
    """
    ticket = claim_ticket(session, ticket_id, lambda t: t.processing_state == ProcessingState.failed.value)
    if ticket is None:
        return None
    step = ProcessingState.queued if never_classified(ticket) else ProcessingState.classified
    request_round(session, ticket, step)
    session.commit()
    send_next(ticket_id, step)
    return step


def failed_ticket_ids(session: Session, limit: int = 10_000) -> list[str]:
    """Ids of the tickets that gave up, oldest failure first."""
    query = select(Ticket.ticket_id).where(Ticket.processing_state == ProcessingState.failed.value)
    return list(session.scalars(query.order_by(Ticket.processing_updated_at).limit(limit)))


def record_failure(
    ticket_id: str, error: BaseException, session: Session, *, only_from: ProcessingState | None = None
) -> bool:
    """Mark a ticket `failed` with a readable reason, after the last retry or on a non-transient error;
    False when it was not (left as it was).

    Never over a `done` a duplicate delivery wrote meanwhile: the ticket has its draft. With
    `only_from`, only a ticket still in that state (a caller that is not the ticket's own task).
    """

    def may_fail(ticket: Ticket) -> bool:
        if only_from is not None:
            return ticket.processing_state == only_from.value
        return ticket.processing_state != ProcessingState.done.value

    ticket = claim_ticket(session, ticket_id, may_fail)
    if ticket is None:
        return False
    set_state(session, ticket, ProcessingState.failed, f"{type(error).__name__}: {error}"[:2000])
    session.commit()
    announce(ticket_id, ProcessingState.failed)
    return True
