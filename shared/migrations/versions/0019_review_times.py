"""review times: how long the flag a review cleared had stood

Revision ID: 0019_review_times
Revises: 0018_flagged_at
Create Date: 2026-12-03 10:00:00

A review clears `flagged_at`; the overview's week of review times needs it kept with the review. No
backfill: reviews recorded before this revision did not keep it, and are left out of the figure.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0019_review_times"
down_revision: str | Sequence[str] | None = "0018_flagged_at"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("tickets", sa.Column("review_flagged_at", sa.DateTime(timezone=True), nullable=True))
    op.create_index("idx_tickets_reviewed", "tickets", ["reviewed_at", "review_flagged_at"], unique=False)


def downgrade() -> None:
    op.drop_index("idx_tickets_reviewed", table_name="tickets")
    op.drop_column("tickets", "review_flagged_at")
