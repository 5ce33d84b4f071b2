"""reviews: an agent's latest review of a ticket's AI results

Revision ID: 0017_reviews
Revises: 0016_processing_requested
Create Date: 2026-12-03 09:00:00

`needs_review` could be raised by the AI but cleared by no one: the review queue only emptied as tickets
were resolved. POST /api/tickets/{id}/review clears it and records who, when, and the AI priority they saw.
No backfill: no ticket was reviewed before.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017_reviews"
down_revision: str | Sequence[str] | None = "0016_processing_requested"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("tickets", sa.Column("reviewed_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("tickets", sa.Column("reviewed_by", sa.String(length=120), nullable=True))
    op.add_column("tickets", sa.Column("reviewed_ai_priority", sa.String(length=10), nullable=True))


def downgrade() -> None:
    op.drop_column("tickets", "reviewed_ai_priority")
    op.drop_column("tickets", "reviewed_by")
    op.drop_column("tickets", "reviewed_at")
