"""status_deliveries: the outbox of agents' status moves on web and API tickets sent to their channel
(REPLY_WEBHOOK_URL, for the statuses in REPLY_WEBHOOK_STATUSES)

Revision ID: 0025_status_deliveries
Revises: 0024_reply_deliveries
Create Date: 2026-12-04 06:00:00

No backfill: tickets resolved or closed before this revision were left for the channel's backend to read.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0025_status_deliveries"
down_revision: str | Sequence[str] | None = "0024_reply_deliveries"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UNDELIVERED = "delivered_at IS NULL"


def upgrade() -> None:
    op.create_table(
        "status_deliveries",
        sa.Column("delivery_id", sa.String(length=36), nullable=False),
        sa.Column("ticket_id", sa.String(length=30), nullable=False),
        sa.Column("previous_status", sa.String(length=20), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("failed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.String(length=500), nullable=True),
        sa.ForeignKeyConstraint(["ticket_id"], ["tickets.ticket_id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("delivery_id"),
    )
    op.create_index(
        "idx_status_deliveries_undelivered",
        "status_deliveries",
        ["failed_at", "created_at"],
        unique=False,
        postgresql_where=sa.text(UNDELIVERED),
        sqlite_where=sa.text(UNDELIVERED),
    )
    op.create_index("idx_status_deliveries_ticket", "status_deliveries", ["ticket_id"], unique=False)


def downgrade() -> None:
    op.drop_index("idx_status_deliveries_ticket", table_name="status_deliveries")
    op.drop_index("idx_status_deliveries_undelivered", table_name="status_deliveries")
    op.drop_table("status_deliveries")
