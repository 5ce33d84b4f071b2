"""flagged at: since when a ticket has waited for a review

Revision ID: 0018_flagged_at
Revises: 0017_reviews
Create Date: 2026-12-03 09:30:00

With reviews clearing the flag, the review queue is a queue: the longest-flagged first, and the overview's
oldest flag. Backfilled for flagged tickets with `processing_updated_at`, when their last AI step stored
its result (the flag is raised by one of those steps); unflagged tickets stay NULL.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018_flagged_at"
down_revision: str | Sequence[str] | None = "0017_reviews"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("tickets", sa.Column("flagged_at", sa.DateTime(timezone=True), nullable=True))
    backfill = sa.text("UPDATE tickets SET flagged_at = processing_updated_at WHERE needs_review = :flagged")
    op.execute(backfill.bindparams(flagged=True))
    op.create_index("idx_tickets_flagged", "tickets", ["flagged_at"], unique=False)


def downgrade() -> None:
    op.drop_index("idx_tickets_flagged", table_name="tickets")
    op.drop_column("tickets", "flagged_at")
