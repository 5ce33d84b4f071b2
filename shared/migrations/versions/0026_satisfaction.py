"""satisfaction: the customer's rating of a resolved web or API ticket, relayed by its channel's backend

Revision ID: 0026_satisfaction
Revises: 0025_status_deliveries
Create Date: 2026-12-04 14:00:00

`satisfaction` (good, bad), an optional comment and when it was given; the overview's week of ratings reads
`idx_tickets_satisfaction`. No backfill: nothing was rated before.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0026_satisfaction"
down_revision: str | Sequence[str] | None = "0025_status_deliveries"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("tickets", sa.Column("satisfaction", sa.String(length=10), nullable=True))
    op.add_column("tickets", sa.Column("satisfaction_comment", sa.Text(), nullable=True))
    op.add_column("tickets", sa.Column("satisfaction_at", sa.DateTime(timezone=True), nullable=True))
    op.create_index("idx_tickets_satisfaction", "tickets", ["satisfaction_at", "satisfaction"], unique=False)


def downgrade() -> None:
    op.drop_index("idx_tickets_satisfaction", table_name="tickets")
    op.drop_column("tickets", "satisfaction_at")
    op.drop_column("tickets", "satisfaction_comment")
    op.drop_column("tickets", "satisfaction")
