"""Rows written straight into a database migrated to an older revision, for the backfill tests: the models
describe the newest schema, so these are plain SQL over the columns every revision since 0012 has. Every
ticket belongs to customer C1 and arrived at `T0`; times are given in hours after it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

T0 = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)


def hour(n: int) -> datetime:
    return T0 + timedelta(hours=n)


def insert_customer(conn: sa.Connection) -> None:
    conn.execute(
        sa.text("INSERT INTO customers (customer_id, email, created_at) VALUES ('C1', 'c@x.io', :n)"),
        {"n": hour(0).isoformat()},
    )


def insert_ticket(conn: sa.Connection, ticket_id: str, status: str = "open", answered: int | None = None) -> None:
    """A classified, drafted ticket; `answered`: the hour of its first response, if any."""
    conn.execute(
        sa.text(
            "INSERT INTO tickets (ticket_id, customer_id, subject, description, status, needs_review,"
            " urgency_keywords, extracted_metadata, kb_article_ids, source, processing_state,"
            " processing_updated_at, created_at, updated_at, first_response_at) VALUES (:t, 'C1', 's', 'd',"
            " :s, false, '[]', '{}', '[]', 'api', 'done', :n, :n, :n, :f)"
        ),
        {
            "t": ticket_id,
            "s": status,
            "n": hour(0).isoformat(),
            "f": None if answered is None else hour(answered).isoformat(),
        },
    )


def insert_message(
    conn: sa.Connection, ticket_id: str, author: str, internal: bool | None, at: int, body: str = "b"
) -> None:
    conn.execute(
        sa.text(
            "INSERT INTO ticket_messages (ticket_id, source, author_type, body, internal, created_at)"
            " VALUES (:t, 'api', :a, :b, :i, :c)"
        ),
        {"t": ticket_id, "a": author, "b": body, "i": internal, "c": hour(at).isoformat()},
    )
