"""reply_deliveries: the outbox of agents' replies to a web or API ticket's channel (REPLY_WEBHOOK_URL)

Revision ID: 0024_reply_deliveries
Revises: 0023_due_alerts
Create Date: 2026-12-03 20:30:00

No backfill: replies stored before this revision were left for the channel's backend to read, as before.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0024_reply_deliveries"
down_revision: str | Sequence[str] | None = "0023_due_alerts"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UNDELIVERED = "delivered_at IS NULL"


def upgrade() -> None:
    op.create_table(
        "reply_deliveries",
        sa.Column("message_id", sa.Integer(), nullable=False),
        sa.Column("ticket_id", sa.String(length=30), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("failed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.String(length=500), nullable=True),
        sa.ForeignKeyConstraint(["message_id"], ["ticket_messages.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["ticket_id"], ["tickets.ticket_id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("message_id"),
    )
    op.create_index(
        "idx_reply_deliveries_undelivered",
        "reply_deliveries",
        ["failed_at", "created_at"],
        unique=False,
        postgresql_where=sa.text(UNDELIVERED),
        sqlite_where=sa.text(UNDELIVERED),
    )
    op.create_index("idx_reply_deliveries_ticket", "reply_deliveries", ["ticket_id"], unique=False)


def downgrade() -> None:
    op.drop_index("idx_reply_deliveries_ticket", table_name="reply_deliveries")
    op.drop_index("idx_reply_deliveries_undelivered", table_name="reply_deliveries")
    op.drop_table("reply_deliveries")
