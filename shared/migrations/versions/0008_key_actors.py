"""key actors: who created and who revoked each API key

Revision ID: 0008_key_actors
Revises: 0007_agent_audit
Create Date: 2026-11-28 10:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008_key_actors"
down_revision: str | Sequence[str] | None = "0007_agent_audit"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Keys made before this revision keep NULL: nobody recorded who made them.
    op.add_column("api_keys", sa.Column("created_by", sa.String(length=120), nullable=True))
    op.add_column("api_keys", sa.Column("revoked_by", sa.String(length=120), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("api_keys") as batch:
        batch.drop_column("revoked_by")
        batch.drop_column("created_by")
