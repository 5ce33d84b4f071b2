"""SQLAlchemy 2.0 table models: the seed's PostgreSQL schema, made real.

JSON columns use the generic `JSON` type so the same models run on SQLite and PostgreSQL.
Enumerated values are stored as lowercase strings (see `shared.schemas` for the enums).
"""

from __future__ import annotations

from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    ColumnElement,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    and_,
    event,
    func,
    inspect,
    select,
    text,
)
from sqlalchemy.engine.default import DefaultExecutionContext
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, column_property, mapped_column, relationship
from sqlalchemy.types import TypeDecorator


def utcnow() -> datetime:
    """Timezone-aware now, the only clock the models use."""
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Timestamps stored in UTC and always read back timezone-aware (SQLite drops the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSON, list[Any]: JSON, datetime: UTCDateTime}


class Customer(Base):
    __tablename__ = "customers"
    # Integrations that only send a requester id (Zendesk events) key customers by (source, external_id).
    __table_args__ = (UniqueConstraint("source", "external_id", name="uq_customers_source_external_id"),)

    customer_id: Mapped[str] = mapped_column(String(20), primary_key=True)
    email: Mapped[str | None] = mapped_column(String(255), unique=True)
    name: Mapped[str | None] = mapped_column(String(255))
    source: Mapped[str | None] = mapped_column(String(20))
    external_id: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class TicketTag(Base):
    """A label an agent (or the vendor's tool, for its tickets) put on a ticket, normalised (`shared.tags`), so
    the team finds every ticket with it (`?tag=`)."""

    __tablename__ = "ticket_tags"
    __table_args__ = (Index("idx_ticket_tags_tag", "tag", "ticket_id"),)

    ticket_id: Mapped[str] = mapped_column(ForeignKey("tickets.ticket_id", ondelete="CASCADE"), primary_key=True)
    tag: Mapped[str] = mapped_column(String(50), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


# The statuses of an agent's open work: what the automatic assignment counts against an agent's `max_open`.
# Pending waits on the customer, resolved and closed are done.
OPEN_WORK_STATUSES = ("new", "open", "in_progress")
OPEN_WORK = "status IN ('new', 'open', 'in_progress')"


def _arrival(context: DefaultExecutionContext) -> datetime:
    """A new ticket's `created_at`, as given or defaulted: where its resolution clock starts."""
    return context.get_current_parameters().get("created_at") or utcnow()


class Ticket(Base):
    __tablename__ = "tickets"
    __table_args__ = (
        UniqueConstraint("source", "external_id", name="uq_tickets_source_external_id"),
        Index("idx_tickets_status", "status"),
        Index("idx_tickets_priority", "priority"),
        Index("idx_tickets_created", "created_at"),
        Index("idx_tickets_customer", "customer_id"),
        Index("idx_tickets_processing", "processing_state", "processing_updated_at"),
        Index("idx_tickets_assigned_created", "assigned_to", "created_at"),  # an agent's own queue, newest first
        # the overview's resolution times, read from the index alone
        Index("idx_tickets_resolved", "resolved_at", "created_at", "priority"),
        Index("idx_tickets_first_response", "first_response_at", "created_at", "priority"),  # first responses, likewise
        Index("idx_tickets_awaiting", "awaiting_reply_since"),  # who has waited longest for a reply
        # the resolution clock under SLA_PAUSE_IN_PENDING: what runs out soon, as `idx_tickets_created` without it
        Index("idx_tickets_resolution_counted", "resolution_counted_from"),
        Index("idx_tickets_flagged", "flagged_at"),  # what has waited longest for a review
        Index("idx_tickets_reviewed", "reviewed_at", "review_flagged_at"),  # the week's review times
        Index("idx_tickets_satisfaction", "satisfaction_at", "satisfaction"),  # the week's ratings
        # the resolved tickets, longest resolved first: what the sweeper closes (only the last few days' hold)
        Index(
            "idx_tickets_to_close",
            "resolved_at",
            postgresql_where=text("status = 'resolved'"),
            sqlite_where=text("status = 'resolved'"),
        ),
        # the pending tickets, longest pending first: what the sweeper resolves (AUTO_SOLVE_PENDING_AFTER_HOURS)
        Index(
            "idx_tickets_to_solve",
            "pending_since",
            postgresql_where=text("status = 'pending'"),
            sqlite_where=text("status = 'pending'"),
        ),
        # a closed ticket's follow-ups: where its customer's next message goes (only follow-ups hold one)
        Index(
            "idx_tickets_follow_up_of",
            "follow_up_of",
            "created_at",
            postgresql_where=text("follow_up_of IS NOT NULL"),
            sqlite_where=text("follow_up_of IS NOT NULL"),
        ),
        # the duplicates merged into a ticket (only merged tickets hold one)
        Index(
            "idx_tickets_merged_into",
            "merged_into",
            "created_at",
            postgresql_where=text("merged_into IS NOT NULL"),
            sqlite_where=text("merged_into IS NOT NULL"),
        ),
        # the tickets waiting for the automatic assignment, longest waiting first (only those hold one)
        Index(
            "idx_tickets_to_route",
            "routing_requested_at",
            postgresql_where=text("routing_requested_at IS NOT NULL"),
            sqlite_where=text("routing_requested_at IS NOT NULL"),
        ),
        # each agent's open work, counted against their `max_open` (only tickets in the working statuses)
        Index(
            "idx_tickets_assigned_open",
            "assigned_to",
            postgresql_where=text(OPEN_WORK),
            sqlite_where=text(OPEN_WORK),
        ),
        # the week's reopened tickets (only tickets ever reopened hold one; migration 0045)
        Index(
            "idx_tickets_reopened",
            "reopened_at",
            postgresql_where=text("reopened_at IS NOT NULL"),
            sqlite_where=text("reopened_at IS NOT NULL"),
        ),
    )

    ticket_id: Mapped[str] = mapped_column(String(30), primary_key=True)
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.customer_id"))
    subject: Mapped[str] = mapped_column(Text)
    description: Mapped[str] = mapped_column(Text)

    category: Mapped[str | None] = mapped_column(String(20))
    priority: Mapped[str | None] = mapped_column(String(10))
    status: Mapped[str] = mapped_column(String(20), default="new")

    ai_suggested_category: Mapped[str | None] = mapped_column(String(20))
    ai_suggested_priority: Mapped[str | None] = mapped_column(String(10))
    ai_suggested_reply: Mapped[str | None] = mapped_column(Text)
    ai_confidence: Mapped[float | None] = mapped_column(Float)
    ai_reasoning: Mapped[str | None] = mapped_column(Text)
    ai_model: Mapped[str | None] = mapped_column(String(100))
    needs_review: Mapped[bool] = mapped_column(Boolean, default=False)
    sentiment: Mapped[str | None] = mapped_column(String(20))
    sentiment_score: Mapped[float | None] = mapped_column(Float)
    urgency_keywords: Mapped[list[Any]] = mapped_column(JSON, default=list)
    extracted_metadata: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    kb_article_ids: Mapped[list[Any]] = mapped_column(JSON, default=list)

    assigned_to: Mapped[str | None] = mapped_column(ForeignKey("agents.agent_id"))
    source: Mapped[str] = mapped_column(String(20), default="api")
    external_id: Mapped[str | None] = mapped_column(String(100))

    processing_state: Mapped[str] = mapped_column(String(20), default="queued")
    processing_error: Mapped[str | None] = mapped_column(Text)
    processing_updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    # When the current round of AI work was asked for (arrival, a retry, a customer's message, a manual
    # redraft); unlike `processing_updated_at`, the sweeper's re-sends leave it (migration 0016).
    processing_requested_at: Mapped[datetime | None] = mapped_column()

    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    resolved_at: Mapped[datetime | None] = mapped_column()
    # How many times the ticket went from resolved back to open (its customer writing again, an agent reopening
    # it), and when last: resolutions that did not hold (`gateway.services.tickets.mark_reopened`, migration 0045).
    reopens: Mapped[int] = mapped_column(Integer, default=0)
    reopened_at: Mapped[datetime | None] = mapped_column()
    # When the first public agent reply was posted here or arrived through a vendor webhook (replies.store_message).
    first_response_at: Mapped[datetime | None] = mapped_column()
    # The customer's oldest message no public agent reply has followed: the ticket's arrival, then each
    # customer message after a reply; NULL once an agent replies or the ticket is resolved (replies.py).
    awaiting_reply_since: Mapped[datetime | None] = mapped_column()
    # Since when the ticket has been flagged for review: set when `needs_review` is raised, kept while later
    # rounds keep it raised, NULL once cleared (`set_needs_review`; migration 0018).
    flagged_at: Mapped[datetime | None] = mapped_column()
    # An agent's latest review of the AI's results (POST /api/tickets/{id}/review, which clears `needs_review`):
    # when, who, and the AI priority they saw, which a later round's escalation must pass to flag the
    # ticket again when the working priority is an agent's (migration 0017).
    reviewed_at: Mapped[datetime | None] = mapped_column()
    reviewed_by: Mapped[str | None] = mapped_column(String(120))
    reviewed_ai_priority: Mapped[str | None] = mapped_column(String(10))
    # The `flagged_at` that review cleared (a ticket no longer flagged is not reviewed again; NULL for reviews
    # recorded before migration 0019): how long the flag had stood, for the overview's review times.
    review_flagged_at: Mapped[datetime | None] = mapped_column()
    # The customer's latest rating of the solved ticket (good, bad), relayed by its channel's backend
    # (migration 0026).
    satisfaction: Mapped[str | None] = mapped_column(String(10))
    satisfaction_comment: Mapped[str | None] = mapped_column(Text)
    satisfaction_at: Mapped[datetime | None] = mapped_column()
    # The tags the ticket had in its vendor's tool (Zendesk, Intercom) when a webhook last said, in stored form,
    # and when they were so (the vendor's time, if its body gave one): what a later list of the vendor's tags is
    # compared with, so only the vendor's own changes are made here (migration 0029). NULL: never said.
    vendor_tags: Mapped[list[Any] | None] = mapped_column(JSON(none_as_null=True))
    vendor_tags_at: Mapped[datetime | None] = mapped_column()
    # When the customer's personal data was erased (POST /api/customers/erase, migration 0022): the text, the
    # messages and whatever was extracted from them are gone; the skeleton stays for statistics and forecasts.
    erased_at: Mapped[datetime | None] = mapped_column()
    # When it was last set `pending` (waiting on its customer): what AUTO_SOLVE_PENDING_AFTER_HOURS counts from
    # (migration 0032). Left as it was when the ticket moves on; read only while it is pending.
    pending_since: Mapped[datetime | None] = mapped_column()
    # The closed ticket whose customer wrote again, opening this one (migration 0031); NULL for every other.
    follow_up_of: Mapped[str | None] = mapped_column(String(30))
    # The ticket this duplicate was merged into, closing it (migration 0034); its customer's later messages go
    # there. NULL for every other ticket.
    merged_into: Mapped[str | None] = mapped_column(String(30))
    # Since when it has waited for the automatic assignment (`shared.routing`, migration 0035): set when its first
    # classification is stored while agents are in the rotation, NULL once assigned (by it or by anyone).
    routing_requested_at: Mapped[datetime | None] = mapped_column()
    # Where the resolution clock counts from under SLA_PAUSE_IN_PENDING: the arrival, moved later by each stay in
    # `pending` as the ticket leaves it (`gateway.services.sla.resume_clock`; migration 0037). Set on every insert
    # (the default copies `created_at`) and backfilled; nullable only because SQLite cannot add a NOT NULL
    # column without rebuilding the tickets table and its partial indexes.
    resolution_counted_from: Mapped[datetime | None] = mapped_column(default=_arrival)

    customer: Mapped[Customer] = relationship(lazy="joined", innerjoin=True)
    metadata_rows: Mapped[list[TicketMetadata]] = relationship(
        back_populates="ticket", cascade="all, delete-orphan", lazy="selectin"
    )
    # Its tags, space-separated in no order (`tag_list` sorts them), read in the ticket's own SELECT: a list page
    # gets them without a query of its own (the newest 50 at 200,000 tickets: +0.25 ms on PostgreSQL, where a
    # relationship's query cost +1.0). Written by statements (`gateway.services.tags`, and at intake).
    tag_text: Mapped[str | None] = column_property(
        select(func.aggregate_strings(TicketTag.tag, " "))
        .where(TicketTag.ticket_id == ticket_id)
        .correlate_except(TicketTag)
        .scalar_subquery()
    )

    @property
    def tag_list(self) -> list[str]:
        """Its tags, in alphabetical order."""
        return sorted(self.tag_text.split()) if self.tag_text else []

    def set_needs_review(self, flagged: bool) -> None:
        """Raise or clear the review flag; `flagged_at` says since when it has stood, across the rounds that
        keep it raised, so the review queue can put the longest-waiting first."""
        if flagged and (not self.needs_review or self.flagged_at is None):
            self.flagged_at = utcnow()
        elif not flagged:
            self.flagged_at = None
        self.needs_review = flagged


class TicketMetadata(Base):
    """Free-form key/value facts about a ticket (order id given on the form, integration fields)."""

    __tablename__ = "ticket_metadata"
    __table_args__ = (Index("idx_ticket_metadata_ticket", "ticket_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    ticket_id: Mapped[str] = mapped_column(ForeignKey("tickets.ticket_id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(100))
    value: Mapped[str | None] = mapped_column(Text)

    ticket: Mapped[Ticket] = relationship(back_populates="metadata_rows")


class TicketReference(Base):
    """An order id or tracking number a ticket is about, normalised, so an agent finds the ticket by it
    (`?order_id=`, `?tracking_number=`).

    Kept beside `ticket_metadata`, whose values are free text and shown as the ticket's metadata: these
    rows are lookup keys, one per value, indexed by value. `kind` says what it is and where it came from.
    """

    __tablename__ = "ticket_references"
    __table_args__ = (
        Index("idx_ticket_references_value", "value", "kind"),
        Index("idx_ticket_references_ticket", "ticket_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    ticket_id: Mapped[str] = mapped_column(ForeignKey("tickets.ticket_id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(20))  # order_id (given on the form), order_id_found, tracking_found
    value: Mapped[str] = mapped_column(String(100))


class Agent(Base):
    __tablename__ = "agents"

    agent_id: Mapped[str] = mapped_column(String(20), primary_key=True)
    name: Mapped[str] = mapped_column(String(255))
    email: Mapped[str | None] = mapped_column(String(255), unique=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # The automatic assignment (`shared.routing`, migration 0035): whether new tickets are routed to this agent,
    # of which categories (NULL: every one), up to how many open ones at a time (NULL: no limit), and when the
    # last one was, which breaks ties between agents equally loaded (the longest without one first).
    auto_assign: Mapped[bool] = mapped_column(Boolean, default=False)
    categories: Mapped[list[Any] | None] = mapped_column(JSON(none_as_null=True))
    max_open: Mapped[int | None] = mapped_column(Integer)
    last_routed_at: Mapped[datetime | None] = mapped_column()
    # Away (migration 0044): off shift, at lunch, on leave, set by the agent (`PUT /api/me/away`) or an admin; the
    # rotation passes them by while they keep its settings, so coming back needs nothing else. Since when.
    away: Mapped[bool] = mapped_column(Boolean, default=False)
    away_since: Mapped[datetime | None] = mapped_column()
    # When `away` was last set, to a new value or the same, by anyone (migration 0046): a vendor's notification of
    # an away mode older than it (Intercom's, delivered late or out of order) is not applied over the newer word.
    away_set_at: Mapped[datetime | None] = mapped_column()


class Macro(Base):
    """A saved reply or internal note an agent applies to a ticket in one step, with the status move and tag
    changes that usually go with it (`gateway.services.macros`)."""

    __tablename__ = "macros"

    macro_id: Mapped[str] = mapped_column(String(50), primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)  # with `{{placeholders}}` (shared.macros), filled in per ticket
    internal: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[str | None] = mapped_column(String(20))  # the status to move to; None: none
    tags: Mapped[dict[str, Any] | None] = mapped_column(JSON)  # {"add": [...], "remove": [...]}; None: none
    assign: Mapped[dict[str, Any] | None] = mapped_column(JSON)  # {"agent_id": id, or None: unassign}; None: none
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # Who wrote it and who last changed it, named as the audit log names actors (`current_actor`).
    created_by: Mapped[str] = mapped_column(String(120))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_by: Mapped[str] = mapped_column(String(120))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class View(Base):
    """A saved ticket list: the list's filters and order under a title, which any agent opens with its count
    (`gateway.services.views`)."""

    __tablename__ = "views"
    __table_args__ = (Index("idx_views_owner", "owner"),)  # an agent's own views, and how many (migration 0043)

    view_id: Mapped[str] = mapped_column(String(50), primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    filters: Mapped[dict[str, Any]] = mapped_column(JSON)  # `ViewFilters`, only the fields given
    position: Mapped[int] = mapped_column(Integer, default=0)  # listed lower first, then by title
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_by: Mapped[str] = mapped_column(String(120))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_by: Mapped[str] = mapped_column(String(120))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    # The agent whose personal view this is (shown, opened and written by them alone); NULL: the team's view,
    # which admins write and every agent opens. No foreign key, as `api_keys.agent_id` has none: agents are
    # never deleted, and the owner is the caller's own agent when written.
    owner: Mapped[str | None] = mapped_column(String(20))


VENDOR_SOURCES = frozenset({"zendesk", "intercom"})  # the channels whose replies come in by webhook

# The `source` of the internal note a merge leaves on the ticket kept (`gateway.services.merge`); its
# `external_id` is the merged ticket's id, so the merge's note is written once and erased with that ticket.
MERGE_SOURCE = "merge"


class TicketMessage(Base):
    """A later message on a ticket (a customer's reply on the vendor's conversation, an agent's answer)."""

    __tablename__ = "ticket_messages"
    __table_args__ = (
        # The vendor's comment/part/notification id: a redelivered reply appends nothing.
        UniqueConstraint("source", "external_id", name="uq_ticket_messages_source_external_id"),
        Index("idx_ticket_messages_ticket", "ticket_id", "created_at"),
        # The week's next replies, without reading every other message (migration 0015)
        Index(
            "idx_ticket_messages_next_reply",
            "created_at",
            "waited_since",
            postgresql_where=text("waited_since IS NOT NULL"),
            sqlite_where=text("waited_since IS NOT NULL"),
        ),
        # Each macro's recent uses, read from the messages macros posted alone (migration 0033)
        Index(
            "idx_ticket_messages_macro",
            "macro_id",
            "created_at",
            postgresql_where=text("macro_id IS NOT NULL"),
            sqlite_where=text("macro_id IS NOT NULL"),
        ),
        # One agent's messages in a window, for their activity (migration 0039)
        Index(
            "idx_ticket_messages_agent",
            "agent_id",
            "created_at",
            postgresql_where=text("agent_id IS NOT NULL"),
            sqlite_where=text("agent_id IS NOT NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    ticket_id: Mapped[str] = mapped_column(ForeignKey("tickets.ticket_id", ondelete="CASCADE"))
    source: Mapped[str] = mapped_column(String(20))
    external_id: Mapped[str | None] = mapped_column(String(100))
    author_type: Mapped[str] = mapped_column(String(20), default="customer")
    author_name: Mapped[str | None] = mapped_column(String(255))
    author_email: Mapped[str | None] = mapped_column(String(255))
    body: Mapped[str] = mapped_column(Text)
    # A note only agents see; NULL on messages stored before migration 0012, when nobody recorded it.
    internal: Mapped[bool | None] = mapped_column(Boolean)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # On a public agent reply that answered a customer writing again after an earlier public reply: when
    # their wait began (the ticket's `awaiting_reply_since` the reply cleared). A first reply's wait is the
    # ticket's own, from `created_at` to `first_response_at`.
    waited_since: Mapped[datetime | None] = mapped_column()
    # On a customer's message to a closed ticket: the follow-up ticket it opened (migration 0031).
    follow_up_ticket_id: Mapped[str | None] = mapped_column(String(30))
    # The macro an agent applied to post it (migration 0033); None for every other message.
    macro_id: Mapped[str | None] = mapped_column(String(50))
    # The agent who wrote it, from the key's link (migration 0039); None for customers, vendors' agents, keys
    # linked to no agent and every message before it.
    agent_id: Mapped[str | None] = mapped_column(String(20))
    # A public agent reply's delivery to a web or API ticket's channel (None elsewhere, or with it off).
    delivery: Mapped[ReplyDelivery | None] = relationship(viewonly=True)


class Delivery:
    """The columns of an outbox row POSTed to a webhook by the alert worker (`classifier_worker.delivery`):
    the body as it was when written, sent as is, and how its delivery went. Alerts and replies share them."""

    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    # When the delivery is next due (a retry's countdown); the sweeper re-sends one overdue by SWEEP_STALE_AFTER_S.
    next_attempt_at: Mapped[datetime | None] = mapped_column()
    delivered_at: Mapped[datetime | None] = mapped_column()
    failed_at: Mapped[datetime | None] = mapped_column()  # attempts spent, or refused by the webhook (4xx)
    last_error: Mapped[str | None] = mapped_column(String(500))

    @property
    def state(self) -> str:
        """`delivered`, `failed` (given up on), or `pending` (being tried)."""
        return "delivered" if self.delivered_at else "failed" if self.failed_at else "pending"

    @classmethod
    def pending(cls) -> ColumnElement[bool]:
        """`state == "pending"` in SQL: neither delivered nor given up on."""
        return and_(cls.delivered_at.is_(None), cls.failed_at.is_(None))

    @staticmethod
    def undelivered_index(name: str) -> Index:
        """The undelivered rows: what the sweeper sends again (`failed_at` NULL, oldest first), the overview's
        counts and the failed list."""
        where = text("delivered_at IS NULL")
        return Index(name, "failed_at", "created_at", postgresql_where=where, sqlite_where=where)


class Alert(Delivery, Base):
    """An alert owed to the team's webhook: an outbox row, written in the transaction that stored the AI
    priority it is about, so a crash or a broker outage between the two cannot lose it (`shared.alerts`)."""

    __tablename__ = "alerts"
    __table_args__ = (
        # One urgent alert per ticket per priority it reaches (a redelivered task or a calm follow-up adds none),
        # and one due alert per clock and priority: per wait for a reply, per ticket for its resolution (0023).
        UniqueConstraint("ticket_id", "event", "priority", "counted_from", name="uq_alerts_occasion"),
        Delivery.undelivered_index("idx_alerts_undelivered"),  # migration 0021
        Index("idx_alerts_created", "created_at"),
    )

    alert_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    ticket_id: Mapped[str] = mapped_column(ForeignKey("tickets.ticket_id", ondelete="CASCADE"))
    event: Mapped[str] = mapped_column(String(30), default="ticket.urgent", server_default="ticket.urgent")
    priority: Mapped[str] = mapped_column(String(10))
    # The start of the clock a due alert is about (the customer's wait, or the ticket's arrival for its
    # resolution and for an urgent alert): what makes it once per wait.
    counted_from: Mapped[datetime] = mapped_column()
    # The ALERT_ROUTES category it was routed by when raised, or None for ALERT_WEBHOOK_URL (migration 0042).
    route: Mapped[str | None] = mapped_column(String(20))


class ReplyDelivery(Delivery, Base):
    """A public agent reply on a web or API ticket owed to its channel's backend (REPLY_WEBHOOK_URL), which
    sends it to the customer (or, with REPLY_WEBHOOK_CUSTOMER_MESSAGES, its customer's message from the
    request's page, which the backend did not relay): an outbox row written with the message, so a crash or a
    broker outage between the two cannot lose it (`shared.outbox`). One per message: its id is the key."""

    __tablename__ = "reply_deliveries"
    __table_args__ = (
        Delivery.undelivered_index("idx_reply_deliveries_undelivered"),
        Index("idx_reply_deliveries_ticket", "ticket_id"),
    )

    message_id: Mapped[int] = mapped_column(ForeignKey("ticket_messages.id", ondelete="CASCADE"), primary_key=True)
    ticket_id: Mapped[str] = mapped_column(ForeignKey("tickets.ticket_id", ondelete="CASCADE"))

    @property
    def event(self) -> str:
        """What the message is: an agent's reply, or a customer's message from the request's page."""
        return str(self.payload["event"])


class StatusDelivery(Delivery, Base):
    """An agent's move of a web or API ticket to one of REPLY_WEBHOOK_STATUSES (resolved, closed by default)
    owed to its channel's backend, which tells the customer: an outbox row written with the move, so a crash
    or a broker outage between the two cannot lose it (`shared.outbox`). One per move: a random id is the key,
    so it never meets a reply's message id at the same receiver."""

    __tablename__ = "status_deliveries"
    __table_args__ = (
        Delivery.undelivered_index("idx_status_deliveries_undelivered"),
        Index("idx_status_deliveries_ticket", "ticket_id"),
    )

    delivery_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    ticket_id: Mapped[str] = mapped_column(ForeignKey("tickets.ticket_id", ondelete="CASCADE"))
    previous_status: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(20))


class BulkJob(Base):
    """One change made to many tickets in the background (`gateway.services.bulk_jobs`): the tickets were chosen
    when it was created (`BulkJobItem`), and the bulk worker changes them a batch at a time."""

    __tablename__ = "bulk_jobs"
    __table_args__ = (
        # The jobs not finished: what the sweeper sends again when their worker went quiet.
        Index(
            "idx_bulk_jobs_unfinished",
            "heartbeat_at",
            postgresql_where=text("state IN ('queued', 'running')"),
            sqlite_where=text("state IN ('queued', 'running')"),
        ),
        Index("idx_bulk_jobs_created", "created_at"),
    )

    job_id: Mapped[str] = mapped_column(String(30), primary_key=True)
    state: Mapped[str] = mapped_column(String(20))  # `BulkJobState`
    total: Mapped[int] = mapped_column(Integer)
    source: Mapped[dict[str, Any]] = mapped_column(JSON)  # how the tickets were chosen, as `BulkJobRead.source`
    changes: Mapped[dict[str, Any]] = mapped_column(JSON)  # `BulkJobChanges`, only those given
    # Who asked: the key (its id, the actor's name) and the agent it is linked to, whose name signs a macro's reply.
    created_by: Mapped[str] = mapped_column(String(120))
    key_id: Mapped[int | None] = mapped_column(Integer)
    key_name: Mapped[str] = mapped_column(String(100))
    agent_id: Mapped[str | None] = mapped_column(String(20))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column()
    # Written as each batch starts (BULK_JOB_BATCH tickets, seconds): a job quiet for SWEEP_STALE_AFTER_S is sent again.
    heartbeat_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column()
    cancelled_by: Mapped[str | None] = mapped_column(String(120))
    detail: Mapped[str | None] = mapped_column(String(500))


class BulkJobItem(Base):
    """One ticket of a bulk job and how its change went: `ok` NULL until it was tried."""

    __tablename__ = "bulk_job_items"
    __table_args__ = (Index("idx_bulk_job_items_position", "job_id", "position", unique=True),)

    job_id: Mapped[str] = mapped_column(String(30), ForeignKey("bulk_jobs.job_id"), primary_key=True)
    ticket_id: Mapped[str] = mapped_column(String(30), primary_key=True)
    position: Mapped[int] = mapped_column(Integer)  # from 1, the job's order
    ok: Mapped[bool | None] = mapped_column(Boolean)
    applied: Mapped[list[str] | None] = mapped_column(JSON)
    status_code: Mapped[int | None] = mapped_column(Integer)
    detail: Mapped[str | None] = mapped_column(String(500))
    finished_at: Mapped[datetime | None] = mapped_column()


class ApiKey(Base):
    """An API key; only its SHA-256 is stored (see `shared.auth`)."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(100))
    role: Mapped[str] = mapped_column(String(20))
    key_prefix: Mapped[str] = mapped_column(String(16))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column()
    revoked_at: Mapped[datetime | None] = mapped_column()
    # Who made and who revoked the key, named as the audit log names actors (`audit_actor`).
    created_by: Mapped[str | None] = mapped_column(String(120))
    revoked_by: Mapped[str | None] = mapped_column(String(120))
    # The agent who uses the key (migration 0038): `me` in the ticket list means them, their replies carry their
    # name, and the key stops working while they are deactivated. NULL: a key for a service, or not linked yet.
    agent_id: Mapped[str | None] = mapped_column(String(20))


class AuditLog(Base):
    """Who changed an audited ticket field, from what to what, and when (written by `_audit_changes`)."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("idx_audit_log_ticket", "ticket_id", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    ticket_id: Mapped[str] = mapped_column(ForeignKey("tickets.ticket_id", ondelete="CASCADE"))
    field: Mapped[str] = mapped_column(String(30))
    old_value: Mapped[str | None] = mapped_column(String(255))
    new_value: Mapped[str | None] = mapped_column(String(255))
    actor: Mapped[str] = mapped_column(String(120))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class AgentAuditLog(Base):
    """Who renamed, re-addressed, deactivated or reactivated an agent, and when (written by `_audit_changes`)."""

    __tablename__ = "agent_audit_log"
    __table_args__ = (Index("idx_agent_audit_log_agent", "agent_id", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    agent_id: Mapped[str] = mapped_column(ForeignKey("agents.agent_id"))
    field: Mapped[str] = mapped_column(String(30))
    old_value: Mapped[str | None] = mapped_column(String(255))
    new_value: Mapped[str | None] = mapped_column(String(255))
    actor: Mapped[str] = mapped_column(String(120))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


# --------------------------------------------------------------------------- audit trail


class KBArticle(Base):
    """A knowledge-base article: the source of truth the rag_worker's search index is built from."""

    __tablename__ = "kb_articles"

    article_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    title: Mapped[str] = mapped_column(String(255))
    content: Mapped[str] = mapped_column(Text)
    category: Mapped[str | None] = mapped_column(String(20))
    tags: Mapped[list[Any]] = mapped_column(JSON, default=list)
    # pending (saved, not yet searchable) -> indexed; the worker sets it after indexing.
    index_state: Mapped[str] = mapped_column(String(20), default="pending")
    indexed_at: Mapped[datetime | None] = mapped_column()
    # When an index task was last sent for it: the sweeper sends one again if it stays pending.
    index_requested_at: Mapped[datetime | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class TicketCorrection(Base):
    """An agent's correction of the AI's category or priority; the classifier learns from these.

    `text` is the ticket text the classifier saw, kept so the correction memory needs no joins
    and stays valid if the ticket is later edited.
    """

    __tablename__ = "ticket_corrections"
    __table_args__ = (Index("idx_ticket_corrections_ticket", "ticket_id", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    ticket_id: Mapped[str] = mapped_column(ForeignKey("tickets.ticket_id", ondelete="CASCADE"))
    field: Mapped[str] = mapped_column(String(20))  # "category" or "priority"
    old_value: Mapped[str | None] = mapped_column(String(20))
    new_value: Mapped[str] = mapped_column(String(20))
    ai_value: Mapped[str | None] = mapped_column(String(20))
    text: Mapped[str] = mapped_column(Text)
    actor: Mapped[str] = mapped_column(String(120))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


AUDITED_FIELDS = ("status", "assigned_to", "category", "priority", "needs_review", "satisfaction", "merged_into")
TAGS_FIELD = "tags"  # a history entry of a tag put on (nothing -> tag) or taken off (tag -> nothing)
AGENT_AUDITED_FIELDS = ("name", "email", "active", "auto_assign", "categories", "max_open", "away")
# Audited entity -> (its log, the log's key column, the fields whose changes are logged).
_AUDITED: dict[type[Base], tuple[type[AuditLog] | type[AgentAuditLog], str, tuple[str, ...]]] = {
    Ticket: (AuditLog, "ticket_id", AUDITED_FIELDS),
    Agent: (AgentAuditLog, "agent_id", AGENT_AUDITED_FIELDS),
}

# Who is acting in the current request/task; the gateway's auth dependency sets it per request.
audit_actor: ContextVar[str] = ContextVar("audit_actor", default="system")


def current_actor() -> str:
    """`audit_actor`, cut to the 120 characters every actor column holds."""
    return audit_actor.get()[:120]


def _audit_value(value: object) -> str | None:
    """A logged value as text; booleans as JSON spells them."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ", ".join(str(item) for item in value)[:255]
    return str(value)[:255]


@event.listens_for(Session, "before_flush")
def _audit_changes(session: Session, _context: object, _instances: object) -> None:
    """Record every change of an audited ticket or agent field, whichever code path made it."""
    for obj in list(session.dirty):
        audited = _AUDITED.get(type(obj))
        if audited is None:
            continue
        log, key, fields = audited
        attrs = inspect(obj).attrs
        for field in fields:
            history = attrs[field].history
            if not history.has_changes():
                continue
            old = history.deleted[0] if history.deleted else None
            new = history.added[0] if history.added else None
            if old == new:
                continue
            session.add(
                log(
                    **{key: getattr(obj, key)},
                    field=field,
                    old_value=_audit_value(old),
                    new_value=_audit_value(new),
                    actor=current_actor(),
                )
            )
