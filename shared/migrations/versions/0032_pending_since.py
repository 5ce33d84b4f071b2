"""pending_since: when a ticket was last set pending, for the sweeper's AUTO_SOLVE_PENDING_AFTER_HOURS

Revision ID: 0032_pending_since
Revises: 0031_follow_ups
Create Date: 2026-12-05 15:00:00

A ticket set `pending` waits on its customer; with AUTO_SOLVE_PENDING_AFTER_HOURS set, the sweeper resolves
one left pending that long. `updated_at` is no clock for it (a tag or an assignment moves it), so the move
to pending is stamped. Backfill for the tickets pending now: the history's latest move to pending (every
status move has been in the audit log since it began, migration 0004), else `updated_at`. `idx_tickets_to_solve`
holds only the pending tickets, by that time.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0032_pending_since"
down_revision: str | Sequence[str] | None = "0031_follow_ups"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PENDING = "status = 'pending'"


def upgrade() -> None:
    op.add_column("tickets", sa.Column("pending_since", sa.DateTime(timezone=True), nullable=True))
    op.execute(
        "UPDATE tickets SET pending_since = COALESCE("
        " (SELECT MAX(a.created_at) FROM audit_log a"
        "  WHERE a.ticket_id = tickets.ticket_id AND a.field = 'status' AND a.new_value = 'pending'),"
        " updated_at) WHERE status = 'pending'"
    )
    op.create_index(
        "idx_tickets_to_solve",
        "tickets",
        ["pending_since"],
        postgresql_where=sa.text(PENDING),
        sqlite_where=sa.text(PENDING),
    )


def downgrade() -> None:
    op.drop_index("idx_tickets_to_solve", table_name="tickets")
    op.drop_column("tickets", "pending_since")
