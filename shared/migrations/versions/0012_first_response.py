"""first response: when a ticket's first agent reply arrived, indexed with created_at for the overview;
whether each stored message was an internal note

Revision ID: 0012_first_response
Revises: 0011_tracking_references
Create Date: 2026-12-02 13:40:00

Not backfilled: a message stored before this does not say whether an agent's message was a reply to the
customer or an internal note (Zendesk private comment, Intercom note), so earlier tickets would get notes
counted as answers; their `internal` stays NULL (unknown).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012_first_response"
down_revision: str | Sequence[str] | None = "0011_tracking_references"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("tickets", sa.Column("first_response_at", sa.DateTime(timezone=True), nullable=True))
    op.create_index("idx_tickets_first_response", "tickets", ["first_response_at", "created_at"], unique=False)
    op.add_column("ticket_messages", sa.Column("internal", sa.Boolean(), nullable=True))


def downgrade() -> None:
    op.drop_column("ticket_messages", "internal")
    op.drop_index("idx_tickets_first_response", table_name="tickets")
    op.drop_column("tickets", "first_response_at")
