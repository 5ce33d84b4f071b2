"""alerts: the outbox of notifications to the team's alert webhook

Revision ID: 0020_alerts
Revises: 0019_review_times
Create Date: 2026-12-03 12:00:00

No backfill: tickets rated urgent before this revision were seen without alerts.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0020_alerts"
down_revision: str | Sequence[str] | None = "0019_review_times"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UNDELIVERED = "delivered_at IS NULL AND failed_at IS NULL"


def upgrade() -> None:
    op.create_table(
        "alerts",
        sa.Column("alert_id", sa.String(length=36), nullable=False),
        sa.Column("ticket_id", sa.String(length=30), nullable=False),
        sa.Column("priority", sa.String(length=10), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("failed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.String(length=500), nullable=True),
        sa.ForeignKeyConstraint(["ticket_id"], ["tickets.ticket_id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("alert_id"),
        sa.UniqueConstraint("ticket_id", "priority", name="uq_alerts_ticket_priority"),
    )
    op.create_index(
        "idx_alerts_undelivered",
        "alerts",
        ["next_attempt_at"],
        unique=False,
        postgresql_where=sa.text(UNDELIVERED),
        sqlite_where=sa.text(UNDELIVERED),
    )
    op.create_index("idx_alerts_created", "alerts", ["created_at"], unique=False)


def downgrade() -> None:
    op.drop_index("idx_alerts_created", table_name="alerts")
    op.drop_index("idx_alerts_undelivered", table_name="alerts")
    op.drop_table("alerts")
