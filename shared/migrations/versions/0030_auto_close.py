"""idx_tickets_to_close: the resolved tickets by resolution time, for the sweeper's automatic close

Revision ID: 0030_auto_close
Revises: 0029_vendor_tags
Create Date: 2026-12-05 13:00:00

The sweeper closes tickets resolved more than AUTO_CLOSE_AFTER_HOURS ago, every pass. `idx_tickets_resolved`
orders every ticket ever resolved, closed ones included (they keep `resolved_at`), so its walk would pass
over the whole closed history each time; this partial index holds only the tickets still `resolved`, which
the pass itself keeps down to the last few days'.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0030_auto_close"
down_revision: str | Sequence[str] | None = "0029_vendor_tags"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

RESOLVED = "status = 'resolved'"


def upgrade() -> None:
    op.create_index(
        "idx_tickets_to_close",
        "tickets",
        ["resolved_at"],
        postgresql_where=sa.text(RESOLVED),
        sqlite_where=sa.text(RESOLVED),
    )


def downgrade() -> None:
    op.drop_index("idx_tickets_to_close", table_name="tickets")
