"""processing requested: when a ticket's current round of AI work was asked for

Revision ID: 0016_processing_requested
Revises: 0015_next_reply_waits
Create Date: 2026-12-03 07:00:00

The overview's oldest waiting ticket counted from arrival, so a month-old ticket the customer had just
written back to looked a month late. Backfilled with `created_at`, what the overview read before.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016_processing_requested"
down_revision: str | Sequence[str] | None = "0015_next_reply_waits"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("tickets", sa.Column("processing_requested_at", sa.DateTime(timezone=True), nullable=True))
    op.execute("UPDATE tickets SET processing_requested_at = created_at")


def downgrade() -> None:
    op.drop_column("tickets", "processing_requested_at")
