"""ticket references: order ids as indexed lookup rows, so a ticket is found by the order it is about

Revision ID: 0009_ticket_references
Revises: 0008_key_actors
Create Date: 2026-12-02 01:15:00

Backfilled from what earlier revisions stored: the `order_id` given on the form (ticket_metadata) and
the `order_ids` the classifier found (tickets.extracted_metadata).
"""

from collections.abc import Iterator, Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0009_ticket_references"
down_revision: str | Sequence[str] | None = "0008_key_actors"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BATCH = 5000


def _key(value: Any) -> str | None:
    """shared.text.normalize_order_id as of this revision (a migration does not follow later code)."""
    if not isinstance(value, str):
        return None
    key = value.strip().lstrip("#").strip().upper()
    return key if key and len(key) <= 100 else None


def _rows(conn: sa.Connection) -> Iterator[dict[str, str]]:
    given = conn.execute(sa.text("SELECT ticket_id, value FROM ticket_metadata WHERE key = 'order_id'"))
    for ticket_id, value in given:
        if key := _key(value):
            yield {"ticket_id": ticket_id, "kind": "order_id", "value": key}
    tickets = sa.table("tickets", sa.column("ticket_id", sa.String), sa.column("extracted_metadata", sa.JSON))
    query = sa.select(tickets.c.ticket_id, tickets.c.extracted_metadata).execution_options(yield_per=BATCH)
    found = conn.execute(query)  # streamed: a large history is never held whole
    for ticket_id, extracted in found:
        ids = (extracted or {}).get("order_ids") if isinstance(extracted, dict) else None
        keys = dict.fromkeys(k for k in map(_key, ids if isinstance(ids, list) else []) if k)
        for key in keys:
            yield {"ticket_id": ticket_id, "kind": "order_id_found", "value": key}


def upgrade() -> None:
    references = op.create_table(
        "ticket_references",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("ticket_id", sa.String(length=30), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("value", sa.String(length=100), nullable=False),
        sa.ForeignKeyConstraint(["ticket_id"], ["tickets.ticket_id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    conn = op.get_bind()
    batch: list[dict[str, str]] = []
    for row in _rows(conn):  # inserted as read, so a large history is never held whole
        batch.append(row)
        if len(batch) == BATCH:
            conn.execute(sa.insert(references), batch)
            batch = []
    if batch:
        conn.execute(sa.insert(references), batch)
    op.create_index("idx_ticket_references_value", "ticket_references", ["value", "kind"])
    op.create_index("idx_ticket_references_ticket", "ticket_references", ["ticket_id"])


def downgrade() -> None:
    op.drop_index("idx_ticket_references_ticket", table_name="ticket_references")
    op.drop_index("idx_ticket_references_value", table_name="ticket_references")
    op.drop_table("ticket_references")
