"""erasure: when a customer's personal data was erased from a ticket

Revision ID: 0022_erasure
Revises: 0021_alert_index
Create Date: 2026-12-03 15:00:00

An erased ticket keeps its skeleton (times, category, priority, status) for the queue's statistics and the
forecasts; `erased_at` says its text is gone, and every write that would bring text back refuses it.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0022_erasure"
down_revision: str | Sequence[str] | None = "0021_alert_index"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("tickets", sa.Column("erased_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    op.drop_column("tickets", "erased_at")
