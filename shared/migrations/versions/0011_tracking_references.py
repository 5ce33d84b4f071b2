"""tracking references: carrier tracking numbers the classifier found, as lookup rows beside order ids

Revision ID: 0011_tracking_references
Revises: 0010_resolution_times
Create Date: 2026-12-02 04:10:00

Backfilled from the `tracking_numbers` each classified ticket's extracted_metadata holds.
"""

from collections.abc import Iterator, Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0011_tracking_references"
down_revision: str | Sequence[str] | None = "0010_resolution_times"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BATCH = 5000
KIND = "tracking_found"


def _key(value: Any) -> str | None:
    """shared.text.normalize_tracking_number as of this revision (a migration does not follow later code)."""
    if not isinstance(value, str):
        return None
    key = "".join(value.split()).replace("-", "").upper()
    return key if key and len(key) <= 100 else None


def _rows(conn: sa.Connection) -> Iterator[dict[str, str]]:
    tickets = sa.table("tickets", sa.column("ticket_id", sa.String), sa.column("extracted_metadata", sa.JSON))
    query = sa.select(tickets.c.ticket_id, tickets.c.extracted_metadata).execution_options(yield_per=BATCH)
    for ticket_id, extracted in conn.execute(query):  # streamed: a large history is never held whole
        numbers = (extracted or {}).get("tracking_numbers") if isinstance(extracted, dict) else None
        for key in dict.fromkeys(k for k in map(_key, numbers if isinstance(numbers, list) else []) if k):
            yield {"ticket_id": ticket_id, "kind": KIND, "value": key}


def upgrade() -> None:
    references = sa.table(
        "ticket_references", sa.column("ticket_id", sa.String), sa.column("kind", sa.String), sa.column("value")
    )
    conn = op.get_bind()
    batch: list[dict[str, str]] = []
    for row in _rows(conn):
        batch.append(row)
        if len(batch) == BATCH:
            conn.execute(sa.insert(references), batch)
            batch = []
    if batch:
        conn.execute(sa.insert(references), batch)


def downgrade() -> None:
    op.execute(sa.text(f"DELETE FROM ticket_references WHERE kind = '{KIND}'"))
