"""agent audit: who renamed, re-addressed, deactivated or reactivated an agent, and when

Revision ID: 0007_agent_audit
Revises: 0005_ticket_queues
Create Date: 2026-11-28 05:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007_agent_audit"
down_revision: str | Sequence[str] | None = "0005_ticket_queues"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "agent_audit_log",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("agent_id", sa.String(length=20), nullable=False),
        sa.Column("field", sa.String(length=30), nullable=False),
        sa.Column("old_value", sa.String(length=255), nullable=True),
        sa.Column("new_value", sa.String(length=255), nullable=True),
        sa.Column("actor", sa.String(length=120), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["agent_id"], ["agents.agent_id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("idx_agent_audit_log_agent", "agent_audit_log", ["agent_id", "id"], unique=False)


def downgrade() -> None:
    op.drop_index("idx_agent_audit_log_agent", table_name="agent_audit_log")
    op.drop_table("agent_audit_log")
