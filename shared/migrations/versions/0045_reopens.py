"""tickets.reopens, tickets.reopened_at: resolutions that did not hold

Revision ID: 0045_reopens
Revises: 0044_agent_away
Create Date: 2026-12-07 12:00:00

A resolved ticket reopens when its customer writes again or an agent reopens it, and nothing counted it: the
week's resolution figures dropped the ticket, and no figure said how many resolutions did not hold (the reopen
rate a support lead watches beside first response and resolution times). Each move from resolved back to open
now counts on the ticket (`reopens`, the latest at `reopened_at`); the overview reports the week's reopened
tickets, each agent's activity theirs, and `?reopened=true` lists them.

Backfilled from the history, which has recorded every status change since migration 0001: each
`resolved -> open` entry is a reopening.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0045_reopens"
down_revision: str | Sequence[str] | None = "0044_agent_away"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

REOPENED = "reopened_at IS NOT NULL"
_ENTRY = "field = 'status' AND old_value = 'resolved' AND new_value = 'open'"


def upgrade() -> None:
    op.add_column("tickets", sa.Column("reopens", sa.Integer(), nullable=False, server_default="0"))
    op.add_column("tickets", sa.Column("reopened_at", sa.DateTime(timezone=True), nullable=True))
    op.execute(
        f"""
        UPDATE tickets SET
            reopens = (SELECT count(*) FROM audit_log a WHERE a.ticket_id = tickets.ticket_id AND a.{_ENTRY}),
            reopened_at = (SELECT max(a.created_at) FROM audit_log a WHERE a.ticket_id = tickets.ticket_id
                           AND a.{_ENTRY})
        WHERE ticket_id IN (SELECT ticket_id FROM audit_log WHERE {_ENTRY})
        """
    )
    op.create_index(
        "idx_tickets_reopened",
        "tickets",
        ["reopened_at"],
        postgresql_where=sa.text(REOPENED),
        sqlite_where=sa.text(REOPENED),
    )


def downgrade() -> None:
    op.drop_index("idx_tickets_reopened", table_name="tickets")
    op.drop_column("tickets", "reopened_at")
    op.drop_column("tickets", "reopens")
