"""alerts: the undelivered index covers failed alerts too

Revision ID: 0021_alert_index
Revises: 0020_alerts
Create Date: 2026-12-03 12:50:00

0020 indexed only the pending alerts, by next attempt; the overview's undelivered counts and the failed
alerts' list then scanned the whole table (5-10 ms and 11-46 ms at 40,000 alerts). Every undelivered alert,
by (failed_at, created_at), serves the sweeper (failed_at NULL, oldest first) and both reads.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0021_alert_index"
down_revision: str | Sequence[str] | None = "0020_alerts"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PENDING = "delivered_at IS NULL AND failed_at IS NULL"
UNDELIVERED = "delivered_at IS NULL"


def upgrade() -> None:
    op.drop_index("idx_alerts_undelivered", table_name="alerts")
    op.create_index(
        "idx_alerts_undelivered",
        "alerts",
        ["failed_at", "created_at"],
        unique=False,
        postgresql_where=sa.text(UNDELIVERED),
        sqlite_where=sa.text(UNDELIVERED),
    )


def downgrade() -> None:
    op.drop_index("idx_alerts_undelivered", table_name="alerts")
    op.create_index(
        "idx_alerts_undelivered",
        "alerts",
        ["next_attempt_at"],
        unique=False,
        postgresql_where=sa.text(PENDING),
        sqlite_where=sa.text(PENDING),
    )
