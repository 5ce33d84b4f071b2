"""resolution times: index resolved_at with what the overview computes from (created_at, priority)

Revision ID: 0010_resolution_times
Revises: 0009_ticket_references
Create Date: 2026-12-02 04:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0010_resolution_times"
down_revision: str | Sequence[str] | None = "0009_ticket_references"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("idx_tickets_resolved", "tickets", ["resolved_at", "created_at", "priority"], unique=False)


def downgrade() -> None:
    op.drop_index("idx_tickets_resolved", table_name="tickets")
