"""awaiting reply: since when the customer has waited for an agent's reply (indexed: the longest wait first)

Revision ID: 0014_awaiting_reply
Revises: 0013_first_response_targets
Create Date: 2026-12-02 19:00:00

Backfilled for unresolved tickets only (a resolved or closed ticket awaits nobody): never answered, since
its arrival; answered, since the first customer message after the last public agent reply, if any.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014_awaiting_reply"
down_revision: str | Sequence[str] | None = "0013_first_response_targets"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UNRESOLVED = "('new', 'open', 'in_progress', 'pending')"


def upgrade() -> None:
    op.add_column("tickets", sa.Column("awaiting_reply_since", sa.DateTime(timezone=True), nullable=True))
    op.create_index("idx_tickets_awaiting", "tickets", ["awaiting_reply_since"], unique=False)
    op.execute(
        f"UPDATE tickets SET awaiting_reply_since = created_at "
        f"WHERE first_response_at IS NULL AND status IN {UNRESOLVED}"
    )
    op.execute(
        f"""
        UPDATE tickets SET awaiting_reply_since = (
            SELECT min(m.created_at) FROM ticket_messages m
            WHERE m.ticket_id = tickets.ticket_id AND m.author_type = 'customer' AND m.created_at > (
                SELECT max(a.created_at) FROM ticket_messages a
                WHERE a.ticket_id = tickets.ticket_id AND a.author_type = 'agent' AND a.internal = false
            )
        )
        WHERE first_response_at IS NOT NULL AND status IN {UNRESOLVED}
        """
    )


def downgrade() -> None:
    op.drop_index("idx_tickets_awaiting", table_name="tickets")
    op.drop_column("tickets", "awaiting_reply_since")
