"""resolution_counted_from: where a ticket's resolution clock counts from when it pauses in pending

Revision ID: 0037_resolution_counted_from
Revises: 0036_views
Create Date: 2026-12-06 09:00:00

Under SLA_PAUSE_IN_PENDING the resolution target counts from `tickets.resolution_counted_from`: the arrival,
moved later by each stay in `pending` when the ticket leaves it. The column is kept whatever the setting says,
so turning it on counts every stay from this migration on. Nullable (SQLite adds no NOT NULL column without
rebuilding the table and its partial indexes), but set on every insert and backfilled with the arrival: stays
in `pending` before this migration are not subtracted (a ticket pending now has its current stay counted when
it leaves, from `pending_since`). `idx_tickets_resolution_counted` serves the due alerts' and `due_within_minutes`
range on it, as `idx_tickets_created` does on the arrival.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0037_resolution_counted_from"
down_revision: str | Sequence[str] | None = "0036_views"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("tickets", sa.Column("resolution_counted_from", sa.DateTime(timezone=True), nullable=True))
    op.execute("UPDATE tickets SET resolution_counted_from = created_at")
    op.create_index("idx_tickets_resolution_counted", "tickets", ["resolution_counted_from"])


def downgrade() -> None:
    op.drop_index("idx_tickets_resolution_counted", table_name="tickets")
    op.drop_column("tickets", "resolution_counted_from")
