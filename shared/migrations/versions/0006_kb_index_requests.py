"""kb index requests: when an article's index task was last sent, so the sweeper can send it again

Revision ID: 0006_kb_index_requests
Revises: 0003_kb
Create Date: 2026-11-28 01:50:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006_kb_index_requests"
down_revision: str | Sequence[str] | None = "0003_kb"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("kb_articles", sa.Column("index_requested_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("kb_articles") as batch:
        batch.drop_column("index_requested_at")
