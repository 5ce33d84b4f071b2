"""SQLAlchemy 2.0 table models: the seed's PostgreSQL schema, made real.

JSON columns use the generic `JSON` type so the same models run on SQLite and PostgreSQL.
Enumerated values are stored as lowercase strings (see `shared.schemas` for the enums).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
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

    customer_id: Mapped[str] = mapped_column(String(20), primary_key=True)
    email: Mapped[str | None] = mapped_column(String(255), unique=True)
    name: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Ticket(Base):
    __tablename__ = "tickets"
    __table_args__ = (
        UniqueConstraint("source", "external_id", name="uq_tickets_source_external_id"),
        Index("idx_tickets_status", "status"),
        Index("idx_tickets_priority", "priority"),
        Index("idx_tickets_created", "created_at"),
        Index("idx_tickets_customer", "customer_id"),
        Index("idx_tickets_processing", "processing_state", "processing_updated_at"),
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

    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    resolved_at: Mapped[datetime | None] = mapped_column()

    customer: Mapped[Customer] = relationship(lazy="joined", innerjoin=True)
    metadata_rows: Mapped[list[TicketMetadata]] = relationship(
        back_populates="ticket", cascade="all, delete-orphan", lazy="selectin"
    )


class TicketMetadata(Base):
    """Free-form key/value facts about a ticket (order id given on the form, integration fields)."""

    __tablename__ = "ticket_metadata"
    __table_args__ = (Index("idx_ticket_metadata_ticket", "ticket_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    ticket_id: Mapped[str] = mapped_column(ForeignKey("tickets.ticket_id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(100))
    value: Mapped[str | None] = mapped_column(Text)

    ticket: Mapped[Ticket] = relationship(back_populates="metadata_rows")


class Agent(Base):
    __tablename__ = "agents"

    agent_id: Mapped[str] = mapped_column(String(20), primary_key=True)
    name: Mapped[str] = mapped_column(String(255))
    email: Mapped[str | None] = mapped_column(String(255), unique=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
