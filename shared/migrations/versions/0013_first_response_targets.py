"""first response targets: idx_tickets_first_response also holds priority, which the share answered within
target reads (as idx_tickets_resolved does for resolutions), so the week's figures stay index-only

Revision ID: 0013_first_response_targets
Revises: 0012_first_response
Create Date: 2026-12-02 18:45:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0013_first_response_targets"
down_revision: str | Sequence[str] | None = "0012_first_response"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_index("idx_tickets_first_response", table_name="tickets")
    op.create_index(
        "idx_tickets_first_response", "tickets", ["first_response_at", "created_at", "priority"], unique=False
    )


def downgrade() -> None:
    op.drop_index("idx_tickets_first_response", table_name="tickets")
    op.create_index("idx_tickets_first_response", "tickets", ["first_response_at", "created_at"], unique=False)
