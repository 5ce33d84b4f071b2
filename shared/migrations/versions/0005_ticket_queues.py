"""ticket queues: index the assignee filter ("my tickets", newest first)

Revision ID: 0005_ticket_queues
Revises: 0004_access
Create Date: 2026-11-27 23:45:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0005_ticket_queues"
down_revision: str | Sequence[str] | None = "0004_access"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("idx_tickets_assigned_created", "tickets", ["assigned_to", "created_at"], unique=False)


def downgrade() -> None:
    op.drop_index("idx_tickets_assigned_created", table_name="tickets")
