"""Ticket use cases: create (store, then enqueue), read, list, change status, assign; and the claim an agent's
write to a ticket takes (`claim_as_read`)."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable, Collection, Mapping
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import JSON, ColumnElement, Row, Select, Table, and_, bindparam, exists, func, not_, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import InstrumentedAttribute, Session

from gateway.services.channel import status_delivery
from gateway.services.search import arrival_order, search
from gateway.services.sla import (
    UNRESOLVED,
    due_order,
    due_soon,
    first_response_due_at,
    overdue,
    reply_due_at,
    reply_due_order,
    reply_overdue,
    resolution_due_at,
    resolution_due_order,
    resume_clock,
    unanswered_overdue,
)
from shared.config import Targets, get_settings
from shared.db import claim_row
from shared.errors import Conflict, NotFound
from shared.models import Agent, Customer, Ticket, TicketMetadata, TicketReference, TicketTag, UTCDateTime, utcnow
from shared.outbox import STATUSES, send
from shared.pipeline import enqueue, retry_failed
from shared.redaction import redact_card_numbers, redact_values
from shared.references import GIVEN, order_keys, tickets_about_order, tickets_with_tracking_number
from shared.routing import awaiting_assignment
from shared.schemas import (
    STATUS_TRANSITIONS,
    AssignUpdate,
    ProcessingState,
    Status,
    TicketCreate,
    TicketFilters,
    TicketQuery,
    TicketRead,
)

FINISHED_STATES = frozenset({ProcessingState.done.value, ProcessingState.failed.value})


def new_ticket_id(now: datetime | None = None) -> str:
    """`TKT-YYYYMMDD-XXXXXXXX` with 32 random bits."""
    now = now or utcnow()
    return f"TKT-{now:%Y%m%d}-{secrets.token_hex(4).upper()}"


def customer_id_for(key: str) -> str:
    """A stable customer id derived from the customer's natural key (email, or source:external id)."""
    return "CUST-" + hashlib.sha256(key.strip().lower().encode()).hexdigest()[:12].upper()


def upsert_customer(
    session: Session,
    *,
    email: str | None,
    name: str | None,
    key: str | None = None,
    source: str | None = None,
    external_id: str | None = None,
) -> str:
    """Insert the customer if new (refreshing a missing name otherwise) in one statement; returns its id.

    Integrations that know only the vendor's requester id pass `source`/`external_id` (and no email).
    """
    return _upsert_customer(
        session, email=email, name=name, key=key, source=source, external_id=external_id
    ).customer_id


def _upsert_customer(
    session: Session,
    *,
    email: str | None,
    name: str | None,
    key: str | None,
    source: str | None = None,
    external_id: str | None = None,
) -> Row[str, str | None, str | None]:
    """The upsert, RETURNING (customer_id, email, name) as stored."""
    values = {
        "customer_id": customer_id_for(key or email or ""),
        "email": email.lower() if email else None,
        "name": name,
        "source": source,
        "external_id": external_id,
    }
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = insert(Customer).values(created_at=utcnow(), **values)
    stmt = stmt.on_conflict_do_update(
        index_elements=[Customer.customer_id], set_={"name": func.coalesce(stmt.excluded.name, Customer.name)}
    )
    return session.execute(stmt.returning(Customer.customer_id, Customer.email, Customer.name)).one()


def create_ticket(session: Session, data: TicketCreate) -> TicketRead:
    """Store a new ticket from the form or an API client (status new, processing queued), commit, then
    enqueue classification. Vendor tickets come in through `webhooks.store_ticket`.

    If the broker is unreachable the ticket is still accepted: it stays `queued` and the sweeper
    sends it once Redis answers again.
    """
    email = str(data.customer_email).lower()
    # a card typed into the order id field is masked there too (and in its lookup key)
    extra = redact_values({"order_id": data.order_id}) if data.order_id else {}
    values = _ticket_values(
        customer_id=customer_id_for(email),
        subject=data.subject,
        description=data.description,
        source=data.source,
    )
    orders = order_keys([extra["order_id"]] if data.order_id else [])
    if session.get_bind().dialect.name == "postgresql":
        customer = _write_ticket_postgresql(
            session, values, email=email, name=data.customer_name, metadata=extra, orders=orders
        )
    else:
        customer = _upsert_customer(session, email=email, name=data.customer_name, key=None)
        _write_ticket(session, values, extra, orders)
    enqueue(values["ticket_id"], ProcessingState.queued)
    # Answer from what was written and the upsert's RETURNING: no read-back.
    return TicketRead.model_validate(
        {**values, "customer_email": customer.email, "customer_name": customer.name, "metadata": extra}
    )


# Intake is the hottest path. On PostgreSQL one autocommitted statement upserts the customer and
# inserts the ticket and its metadata: one round trip instead of BEGIN, three statements and COMMIT.
# Data-modifying CTEs all run, and the foreign keys are checked at the end of the statement.
_CREATE_PG = text(
    """
    WITH c AS (
        INSERT INTO customers (customer_id, email, name, created_at)
        VALUES (:customer_id, :email, :name, :created_at)
        ON CONFLICT (customer_id) DO UPDATE SET name = COALESCE(EXCLUDED.name, customers.name)
        RETURNING customer_id, email, name
    ), t AS (
        INSERT INTO tickets (ticket_id, customer_id, subject, description, status, source, external_id,
                             processing_state, processing_updated_at, processing_requested_at, created_at,
                             updated_at, awaiting_reply_since, urgency_keywords, extracted_metadata,
                             kb_article_ids, needs_review, resolution_counted_from)
        SELECT :ticket_id, c.customer_id, :subject, :description, :status, :source, :external_id,
               :processing_state, :created_at, :created_at, :created_at, :created_at, :created_at, '[]', '{}',
               '[]', false, :created_at
        FROM c
        RETURNING ticket_id
    ), m AS (
        INSERT INTO ticket_metadata (ticket_id, key, value)
        SELECT t.ticket_id, kv.key, kv.value FROM t, jsonb_each_text(CAST(:metadata AS jsonb)) AS kv
    ), r AS (
        INSERT INTO ticket_references (ticket_id, kind, value)
        SELECT t.ticket_id, :given, o.value FROM t, jsonb_array_elements_text(CAST(:orders AS jsonb)) AS o
    )
    SELECT customer_id, email, name FROM c
    """
).bindparams(
    bindparam("created_at", type_=UTCDateTime()),
    bindparam("metadata", type_=JSON()),
    bindparam("orders", type_=JSON()),
    given=GIVEN,
)


def _write_ticket_postgresql(
    session: Session,
    values: dict[str, Any],
    *,
    email: str,
    name: str | None,
    metadata: dict[str, str],
    orders: list[str],
) -> Row[str, str | None, str | None]:
    """The PostgreSQL path's single statement, RETURNING (customer_id, email, name) as stored."""
    params = {key: values[key] for key in _CREATE_PG_TICKET_KEYS}
    params.update(email=email, name=name, metadata=metadata, orders=orders)
    if session.in_transaction():  # a caller's open transaction: join it, then commit it as the other path does
        row = session.execute(_CREATE_PG, params).one()
        session.commit()
        return row
    connection = session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})
    return connection.execute(_CREATE_PG, params).one()


_CREATE_PG_TICKET_KEYS = (
    "ticket_id", "customer_id", "subject", "description", "status", "source", "external_id",
    "processing_state", "created_at",
)  # fmt: skip


def _ticket_values(
    *, customer_id: str, subject: str, description: str, source: str, external_id: str | None = None
) -> dict[str, Any]:
    """Every column of a new ticket (status new, processing queued), as it will be stored: card numbers masked."""
    now = utcnow()
    values: dict[str, Any] = dict.fromkeys(_TICKET_COLUMNS)
    values.update(
        ticket_id=new_ticket_id(now),
        customer_id=customer_id,
        subject=redact_card_numbers(subject),
        description=redact_card_numbers(description),
        status=Status.new.value,
        source=source,
        external_id=external_id,
        processing_state=ProcessingState.queued.value,
        processing_updated_at=now,
        processing_requested_at=now,
        created_at=now,
        updated_at=now,
        awaiting_reply_since=now,  # the customer waits for a reply from the moment they write
        resolution_counted_from=now,
        urgency_keywords=[],
        extracted_metadata={},
        kb_article_ids=[],
        needs_review=False,
        reopens=0,
    )
    return values


def _write_ticket(
    session: Session,
    values: dict[str, Any],
    metadata: dict[str, str],
    orders: list[str] | None = None,
    tags: list[str] | None = None,
) -> None:
    """Insert the ticket row, its metadata, its given order ids and its tags (Core statements, no unit of
    work); commit."""
    ticket_id = values["ticket_id"]
    session.execute(_INSERT_TICKET, values)
    if metadata:
        session.execute(_INSERT_METADATA, [{"ticket_id": ticket_id, "key": k, "value": v} for k, v in metadata.items()])
    if orders:
        session.execute(_INSERT_REFERENCE, [{"ticket_id": ticket_id, "kind": GIVEN, "value": v} for v in orders])
    if tags:
        rows = [{"ticket_id": ticket_id, "tag": tag, "created_at": values["created_at"]} for tag in tags]
        session.execute(_INSERT_TAG, rows)
    session.commit()


_TICKET_COLUMNS = tuple(c.key for c in Ticket.__table__.columns)
_INSERT_TICKET = cast(Table, Ticket.__table__).insert()
_INSERT_METADATA = cast(Table, TicketMetadata.__table__).insert()
_INSERT_REFERENCE = cast(Table, TicketReference.__table__).insert()
_INSERT_TAG = cast(Table, TicketTag.__table__).insert()


def store_ticket(
    session: Session,
    *,
    customer_id: str,
    subject: str,
    description: str,
    source: str,
    external_id: str | None = None,
    metadata: dict[str, str] | None = None,
    tags: list[str] | None = None,
    vendor_tags: list[str] | None = None,
    vendor_tags_at: datetime | None = None,
) -> Ticket:
    """Insert a ticket for an existing customer (with `tags` in stored form, each once), commit, enqueue
    classification; the stored ORM row. `vendor_tags`: the vendor's own list, all of it, kept for comparing
    later ones with (`gateway.services.tags.sync_vendor_tags`)."""
    values = _ticket_values(
        customer_id=customer_id, subject=subject, description=description, source=source, external_id=external_id
    )
    values.update(vendor_tags=vendor_tags, vendor_tags_at=vendor_tags_at)
    _write_ticket(session, values, redact_values(metadata or {}), tags=tags)
    enqueue(values["ticket_id"], ProcessingState.queued)
    return get_ticket(session, values["ticket_id"])


def insert_follow_up(session: Session, closed: Ticket, description: str) -> str:
    """Insert, in the caller's transaction, the ticket a customer's message to the closed ticket `closed` opens
    (status new, processing queued): its customer, channel and subject, the message as its text, its tags,
    its agent if still active, and `follow_up_of` naming it; the new id. The caller commits, then enqueues."""
    values = _ticket_values(
        customer_id=closed.customer_id, subject=closed.subject, description=description, source=closed.source
    )
    values["follow_up_of"] = closed.ticket_id
    if closed.assigned_to and session.scalar(select(Agent.active).where(Agent.agent_id == closed.assigned_to)):
        values["assigned_to"] = closed.assigned_to  # who knows the story, as Zendesk's follow-ups keep it
    session.execute(_INSERT_TICKET, values)
    if tags := closed.tag_list:
        rows = [{"ticket_id": values["ticket_id"], "tag": tag, "created_at": values["created_at"]} for tag in tags]
        session.execute(_INSERT_TAG, rows)
    return str(values["ticket_id"])


def get_ticket(session: Session, ticket_id: str) -> Ticket:
    """The ticket, or NotFound with a message that names the id."""
    ticket = session.get(Ticket, ticket_id)
    if ticket is None:
        raise NotFound(f"ticket '{ticket_id}' not found")
    return ticket


def claim_as_read(
    session: Session, ticket_id: str, decide: Callable[[Ticket], Mapping[str, object] | None], *, doing: str
) -> tuple[Ticket, bool]:
    """The ticket, and whether it is claimed (held until commit) as `decide` read it.

    An agent's request decides from the ticket as read; another request (or a worker's round) committing
    before its write would have it land on values nobody checked. `decide` checks the ticket (raising 409
    for a refusal) and returns the columns its decision rests on, or None when there is nothing to write
    (a retry, a change made already); the row is claimed while they hold (`claim_row`) and, where another
    session changed them meanwhile, read again and decided again. 409 after `CLAIM_ATTEMPTS` reads that
    all lost: "kept changing while {doing}". With (ticket, False) the caller ends its read (commit). The
    workers' counterpart is `shared.pipeline.claim_ticket`, which retries the task instead of answering 409.
    """
    for _ in range(CLAIM_ATTEMPTS):
        ticket = get_ticket(session, ticket_id)
        seen = decide(ticket)
        if seen is None:
            return ticket, False
        if claim_row(session, Ticket, ticket_id, **seen):
            return ticket, True
        session.rollback()  # changed since read: rollback expires `ticket`, so it is read again
    raise Conflict(f"ticket '{ticket_id}' kept changing while {doing}; retry")


CLAIM_ATTEMPTS = 5


def list_tickets(
    session: Session, filters: TicketFilters | None = None, targets: Targets | None = None
) -> list[Ticket]:
    """Newest first (or oldest, or soonest due), narrowed by every field given in `filters`. `overdue` and
    `due` count against the resolution targets (SLA_*_HOURS), `unanswered_overdue` and
    `first_response_due` against the first response targets (FIRST_RESPONSE_*_HOURS), `reply_overdue` and
    `reply_due` against those or the next reply targets (NEXT_REPLY_*_HOURS), as `reply_due_at` does."""
    f = filters or TicketFilters()
    targets = targets if targets is not None else get_settings().targets
    query = _filtered(session, f, targets, by_arrival=f.sort in ("newest", "oldest"))
    if f.q is not None:  # last: a page found among the newest tickets must have met every other filter
        window = (f.limit, f.offset, f.sort == "newest") if f.sort in ("newest", "oldest") else None
        found, query = search(session, query, f.q, window)
        if found is not None:
            return list(found)
    order = _order(session, f.sort, targets)
    if f.sort not in ("newest", "oldest"):
        # By due time (no index gives that order, so every match is sorted) or by the customer's wait: the
        # page's ids first, without the customer join and the wide rows. With them, SQLite's planner walked
        # every customer's tickets (200,000 tickets: 20,000 overdue by due time 850 -> 90 ms, the 16,000
        # awaiting a reply by wait 266 -> 2.6 ms through their index; PostgreSQL 97 -> 66 and 3.7 ms).
        page = query.with_only_columns(Ticket.ticket_id).order_by(*order).limit(f.limit).offset(f.offset)
        return list(session.scalars(select(Ticket).where(Ticket.ticket_id.in_(page)).order_by(*order)).unique())
    return list(session.scalars(query.order_by(*order).limit(f.limit).offset(f.offset)).unique())


def matching_ids(session: Session, filters: TicketQuery, targets: Targets, limit: int) -> list[str]:
    """The ids of the tickets the list's filters hold, in its order, the first `limit` of them: every page of
    `list_tickets` at once (an export's rows)."""
    query = _every_match(session, filters, targets)
    ordered = query.with_only_columns(Ticket.ticket_id).order_by(*_order(session, filters.sort, targets))
    return list(session.scalars(ordered.limit(limit)))


def _order(
    session: Session, sort: str, targets: Targets
) -> tuple[ColumnElement[Any] | InstrumentedAttribute[Any], ...]:
    """The list's order for `sort`: by arrival, or by a due time or wait (those without one last), arrival and
    then id breaking ties."""
    if sort in ("newest", "oldest"):
        return arrival_order(newest=sort == "newest")
    key: ColumnElement[Any]
    if sort == "awaiting":
        key = Ticket.awaiting_reply_since.expression
    elif sort == "flagged":
        key = Ticket.flagged_at.expression
    elif sort == "reply_due":
        key = reply_due_order(session, targets)
    elif sort == "due":
        key = resolution_due_order(session, targets)
    else:
        key = due_order(session, targets.first_response, calendar=targets.calendar)
    return key.asc().nulls_last(), Ticket.created_at, Ticket.ticket_id


def _filtered(session: Session, f: TicketQuery, targets: Targets, *, by_arrival: bool) -> Select[Ticket]:
    """The tickets every field of `f` but `q` and `sort` admits, unordered (`by_arrival`: for a page by arrival)."""
    query = select(Ticket)
    for column, value in (
        (Ticket.status, f.status),
        (Ticket.priority, f.priority),
        (Ticket.category, f.category),
        (Ticket.assigned_to, f.assigned_to),
        (Ticket.customer_id, f.customer_id),
        (Ticket.follow_up_of, f.follow_up_of),
        (Ticket.merged_into, f.merged_into),
        (Ticket.processing_state, f.processing_state),
        (Ticket.needs_review, f.needs_review),
        (Ticket.source, f.source),
        (Ticket.satisfaction, f.satisfaction),
    ):
        if value is not None:
            query = query.where(column == value)
    if f.assigned is not None:
        query = query.where(Ticket.assigned_to.isnot(None) if f.assigned else Ticket.assigned_to.is_(None))
    if f.answered is not None:
        query = query.where(Ticket.first_response_at.isnot(None) if f.answered else Ticket.first_response_at.is_(None))
    if f.customer_email is not None:  # stored lower-cased; unique, so at most one customer
        customer = select(Customer.customer_id).where(Customer.email == f.customer_email.lower())
        query = query.where(Ticket.customer_id.in_(customer))
    if f.order_id is not None:
        query = query.where(Ticket.ticket_id.in_(tickets_about_order(f.order_id)))
    if f.tracking_number is not None:
        query = query.where(Ticket.ticket_id.in_(tickets_with_tracking_number(f.tracking_number)))
    now = utcnow()
    for moment, start, end, hours in (
        (Ticket.created_at, f.created_from, f.created_before, f.created_within_hours),
        (Ticket.resolved_at, f.resolved_from, f.resolved_before, f.resolved_within_hours),
    ):
        if start is not None:
            query = query.where(moment >= start)
        if end is not None:
            query = query.where(moment < end)
        if hours is not None:
            query = query.where(moment >= now - timedelta(hours=hours))
    if f.tag is not None:  # in stored form, comma-joined: the schema normalised them
        query = query.where(_tagged(session, f.tag.split(","), by_arrival=by_arrival))
    if f.without_tag is not None:  # each candidate row probes the tags' primary key (ticket_id, tag) per tag
        untagged = TicketTag.tag.in_(f.without_tag.split(","))
        query = query.where(~exists().where(TicketTag.ticket_id == Ticket.ticket_id, untagged))
    for wanted, late in (
        (f.overdue, overdue(targets, now)),
        (f.unanswered_overdue, unanswered_overdue(targets.first_response, now, targets.calendar)),
        (f.reply_overdue, reply_overdue(targets, now)),
    ):
        if wanted is not None:
            query = query.where(late if wanted else not_(late))
    if f.due_within_minutes is not None:
        query = query.where(due_soon(targets, now, now + timedelta(minutes=f.due_within_minutes)))
    if f.reopened is not None:  # ever reopened: the tickets whose resolution did not hold
        query = query.where(Ticket.reopens > 0 if f.reopened else Ticket.reopens == 0)
    if f.awaiting_assignment is not None:
        query = query.where(awaiting_assignment() if f.awaiting_assignment else not_(awaiting_assignment()))
    if f.awaiting_reply is not None:
        waiting = and_(Ticket.status.in_([s.value for s in UNRESOLVED]), Ticket.awaiting_reply_since.is_not(None))
        query = query.where(waiting if f.awaiting_reply else not_(waiting))
    return query


def count_tickets(session: Session, filters: TicketQuery, targets: Targets) -> int:
    """How many tickets the list's filters hold, its order and page aside (a view's count). A tag's tickets
    are read through its index, however common: there is no page to find early among the newest."""
    query = _every_match(session, filters, targets)
    counted = select(func.count()).select_from(query.with_only_columns(Ticket.ticket_id).subquery())
    return session.scalar(counted) or 0


def _every_match(session: Session, filters: TicketQuery, targets: Targets) -> Select[Ticket]:
    """The tickets `filters` hold, the text search included, unordered: all of them, not a page (a count, an
    export), so a tag is read through its index and the search has no window among the newest."""
    query = _filtered(session, filters, targets, by_arrival=False)
    if filters.q is not None:
        _, query = search(session, query, filters.q, None)
    return query


COMMON_TAG = 1000  # tickets carrying a tag, from which a list by arrival walks the arrivals to find them


def _tagged(session: Session, tags: list[str], *, by_arrival: bool) -> ColumnElement[bool]:
    """The tickets carrying any of `tags`. Listed by arrival, tags on many tickets are checked ticket by ticket
    down the arrivals (the page is among the first few hundred), rarer ones' tickets are read through their
    index and sorted: on SQLite, at 200,000 tickets, the newest 50 of a tag on 20,000 took 101 ms read through
    the index and 1.3 ms walking; one on 100 would take 137 ms walking (PostgreSQL's planner picks either way)."""
    carrying = TicketTag.tag.in_(tags)
    tagged = select(TicketTag.ticket_id).where(carrying)
    if (
        by_arrival
        and session.scalar(select(func.count()).select_from(tagged.limit(COMMON_TAG).subquery())) == COMMON_TAG
    ):
        return exists().where(TicketTag.ticket_id == Ticket.ticket_id, carrying)
    return Ticket.ticket_id.in_(tagged)


def change_status(
    session: Session, ticket_id: str, new_status: Status, *, sent: Collection[Status] = frozenset()
) -> Ticket:
    """Apply an allowed status transition (409 otherwise); resolving stamps `resolved_at`. A move of a web or
    API ticket to a status in `sent` (REPLY_WEBHOOK_STATUSES, when REPLY_WEBHOOK_URL is set) is written for its
    channel's backend in the same transaction, and its task sent after the commit.

    Two agents moving one ticket at once must not leave it reopened after it was closed (a final
    state), or `pending` with a `resolved_at`: the row is claimed while it still holds the status the
    check saw, and the request that loses is checked again against the status the winner wrote.
    """

    def decide(ticket: Ticket) -> dict[str, object] | None:
        current = Status(ticket.status)
        return {"status": current.value} if check_move(current, new_status) else None

    ticket, claimed = claim_as_read(session, ticket_id, decide, doing="this status change was applied")
    if not claimed:
        session.commit()
        return ticket
    move_claimed(session, ticket, new_status, sent)
    return ticket


def check_move(current: Status, new_status: Status) -> bool:
    """Whether moving from `current` to `new_status` is a change (False: already there); Conflict if the
    workflow does not allow it."""
    if new_status == current:
        return False
    allowed = STATUS_TRANSITIONS[current]
    if new_status not in allowed:
        options = ", ".join(sorted(s.value for s in allowed)) or "none (final state)"
        raise Conflict(f"cannot change status from '{current.value}' to '{new_status.value}'; allowed: {options}")
    return True


def move_claimed(
    session: Session, ticket: Ticket, new_status: Status, sent: Collection[Status], *, automatic: bool = False
) -> None:
    """Move a ticket its caller has claimed at its current status to `new_status`, commit, and send the
    channel's delivery task if one is owed (`automatic`: no agent moved it, the body says so)."""
    current = Status(ticket.status)  # as checked: the claim holds it
    now = utcnow()
    resume_clock(ticket, now)  # a stay in pending ends (before the move: it reads the status left)
    # The change itself goes through the ORM, where the audit trail records it.
    ticket.status = new_status.value
    ticket.updated_at = now
    if new_status in (Status.resolved, Status.closed):
        ticket.awaiting_reply_since = None  # decided: nobody is kept waiting on a resolved ticket
    if new_status == Status.resolved:
        ticket.resolved_at = ticket.updated_at
    elif new_status == Status.pending:
        ticket.pending_since = ticket.updated_at
    elif current == Status.resolved and new_status == Status.open:
        ticket.resolved_at = None
        mark_reopened(ticket, now)
    if delivery := status_delivery(ticket, current, sent, automatic=automatic):
        session.add(delivery)
    session.commit()
    if delivery:
        send(STATUSES, delivery.delivery_id)


def mark_reopened(ticket: Ticket, now: datetime) -> None:
    """Count a move from resolved back to open, by its customer's message or an agent: a resolution that did not
    hold. The caller has claimed the row at `resolved`, so two reopenings of one resolve cannot both count."""
    ticket.reopens = (ticket.reopens or 0) + 1
    ticket.reopened_at = now


def check_assignable(session: Session, agent_id: str) -> None:
    """NotFound for an unknown agent, Conflict for an inactive one: no ticket can be assigned to either."""
    agent = session.get(Agent, agent_id)
    if agent is None:
        raise NotFound(f"agent '{agent_id}' not found; create it with POST /api/agents")
    if not agent.active:
        raise _inactive(agent_id)


def check_assignment(session: Session, assign: AssignUpdate | None) -> None:
    """`check_assignable` for an assignment naming an agent (`me` already resolved); none, or unassigning,
    needs no check. What a request assigning many tickets checks before changing any."""
    if assign is not None and assign.agent_id is not None:
        check_assignable(session, assign.agent_id)


def _inactive(agent_id: str) -> Conflict:
    return Conflict(f"agent '{agent_id}' is inactive; reactivate it with PATCH /api/agents/{agent_id}")


def assign_ticket(session: Session, ticket_id: str, agent_id: str | None) -> Ticket:
    """Assign to an existing, active agent (409 for an inactive one), or unassign (None)."""
    ticket = get_ticket(session, ticket_id)
    if agent_id is not None:
        check_assignable(session, agent_id)
        # Held active until commit, so a deactivation racing this assignment comes before it (409) or after.
        if not claim_row(session, Agent, agent_id, active=True):
            raise _inactive(agent_id)
    ticket.assigned_to = agent_id
    ticket.routing_requested_at = None  # an agent's choice, even to leave it unassigned, ends the rotation's wait
    ticket.updated_at = utcnow()
    session.commit()
    return ticket


def retry_ticket(session: Session, ticket_id: str) -> ProcessingState:
    """Re-run the AI step a `failed` ticket did not finish (409 for any other state)."""
    step = retry_failed(session, ticket_id)
    if step is None:
        state = get_ticket(session, ticket_id).processing_state  # NotFound if there is no such ticket
        hint = {
            ProcessingState.done.value: f"for a new reply draft use POST /api/tickets/{ticket_id}/draft",
        }.get(state, "it is still being processed (the sweeper re-sends a stuck one)")
        raise Conflict(f"ticket '{ticket_id}' is {state}, not failed; {hint}")
    return step


def to_read(ticket: Ticket, targets: Targets) -> TicketRead:
    """The API view of a ticket, customer fields, metadata and due times (against `targets`) included."""
    metadata = {row.key: row.value for row in ticket.metadata_rows}
    return TicketRead.model_validate(read_values(ticket, ticket.customer, metadata, targets, ticket.tag_list))


def read_values(
    ticket: Any, customer: Customer, metadata: dict[str, str | None], targets: Targets, tags: list[str]
) -> dict[str, Any]:
    """`to_read`'s fields, from anything with the ticket's columns as attributes: a `Ticket`, or a row of its
    table for a view that reads many (the customer export, whose ORM objects cost most of its time)."""
    return {
        **{key: getattr(ticket, key) for key in _TICKET_COLUMNS},
        "customer_email": customer.email,
        "customer_name": customer.name,
        "metadata": metadata,
        "tags": tags,
        **derived_values(ticket, targets),
    }


# The columns `derived_values` reads: what a reader of a few columns (the CSV export) must select too.
DERIVED_FROM = (
    "status",
    "pending_since",
    "priority",
    "created_at",
    "resolution_counted_from",
    "first_response_at",
    "awaiting_reply_since",
)


def derived_values(ticket: Any, targets: Targets) -> dict[str, Any]:
    """The fields computed at read from the ticket's columns (attributes of `ticket`: `DERIVED_FROM`) and the
    targets."""
    return {
        # the column keeps the last move to pending after the ticket moves on; it means something only while pending
        "pending_since": ticket.pending_since if ticket.status == Status.pending.value else None,
        "due_at": resolution_due_at(ticket, targets),
        "first_response_due_at": first_response_due_at(
            ticket.priority, ticket.created_at, ticket.first_response_at, targets.first_response, targets.calendar
        ),
        "reply_due_at": reply_due_at(ticket.priority, ticket.awaiting_reply_since, ticket.first_response_at, targets),
    }


def is_finished(ticket: Ticket) -> bool:
    """True once the AI results are in (or processing gave up)."""
    return ticket.processing_state in FINISHED_STATES
