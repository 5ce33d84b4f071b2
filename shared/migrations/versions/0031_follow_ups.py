"""follow-ups: a customer's message to a closed web or API ticket opens a new ticket linked to it

Revision ID: 0031_follow_ups
Revises: 0030_auto_close
Create Date: 2026-12-05 14:00:00

A closed ticket is final: until now a customer writing to one had their message kept on it and nothing
else, so nobody saw it. `tickets.follow_up_of` links the ticket such a message opens to the closed one (and
`idx_tickets_follow_up_of` finds a closed ticket's open follow-up, where the customer's next message goes);
`ticket_messages.follow_up_ticket_id` records, on the message kept on the closed ticket, which ticket it
opened, so a retry of that message answers with the same follow-up instead of opening another. No backfill:
messages kept on closed tickets before this opened nothing.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0031_follow_ups"
down_revision: str | Sequence[str] | None = "0030_auto_close"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FOLLOW_UP = "follow_up_of IS NOT NULL"


def upgrade() -> None:
    op.add_column("tickets", sa.Column("follow_up_of", sa.String(30), nullable=True))
    op.create_index(
        "idx_tickets_follow_up_of",
        "tickets",
        ["follow_up_of", "created_at"],
        postgresql_where=sa.text(FOLLOW_UP),
        sqlite_where=sa.text(FOLLOW_UP),
    )
    op.add_column("ticket_messages", sa.Column("follow_up_ticket_id", sa.String(30), nullable=True))


def downgrade() -> None:
    op.drop_column("ticket_messages", "follow_up_ticket_id")
    op.drop_index("idx_tickets_follow_up_of", table_name="tickets")
    op.drop_column("tickets", "follow_up_of")
