"""next reply waits: on a public agent reply that answered a customer writing again, when their wait began

Revision ID: 0015_next_reply_waits
Revises: 0014_awaiting_reply
Create Date: 2026-12-03 06:30:00

Backfilled from the stored conversations: a public agent reply after an earlier public agent reply answered
the customer's first message between the two, if any (a reply with none in between answered nobody's wait).
A note is not a reply; agent messages stored before 0012, whose `internal` is unknown, count as neither.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015_next_reply_waits"
down_revision: str | Sequence[str] | None = "0014_awaiting_reply"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("ticket_messages", sa.Column("waited_since", sa.DateTime(timezone=True), nullable=True))
    op.execute(
        """
        UPDATE ticket_messages SET waited_since = (
            SELECT min(c.created_at) FROM ticket_messages c
            WHERE c.ticket_id = ticket_messages.ticket_id AND c.author_type = 'customer'
              AND c.created_at < ticket_messages.created_at AND c.created_at > (
                SELECT max(p.created_at) FROM ticket_messages p
                WHERE p.ticket_id = ticket_messages.ticket_id AND p.author_type = 'agent' AND p.internal = false
                  AND p.created_at < ticket_messages.created_at
            )
        )
        WHERE author_type = 'agent' AND internal = false
        """
    )
    op.create_index(
        "idx_ticket_messages_next_reply",
        "ticket_messages",
        ["created_at", "waited_since"],
        unique=False,
        postgresql_where=sa.text("waited_since IS NOT NULL"),
        sqlite_where=sa.text("waited_since IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("idx_ticket_messages_next_reply", table_name="ticket_messages")
    op.drop_column("ticket_messages", "waited_since")
