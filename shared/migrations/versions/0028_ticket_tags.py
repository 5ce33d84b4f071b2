"""ticket_tags: labels agents put on tickets, and those a Zendesk or Intercom ticket arrives with

Revision ID: 0028_ticket_tags
Revises: 0027_search_indexes
Create Date: 2026-12-04 22:00:00

One row per (ticket, tag), so two agents tagging one ticket at once both land and a tag is stored once;
`idx_ticket_tags_tag` finds a tag's tickets (`?tag=`). No backfill: the Zendesk tags kept in the
`zendesk_tags` custom field stay there as they arrived.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0028_ticket_tags"
down_revision: str | Sequence[str] | None = "0027_search_indexes"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "ticket_tags",
        sa.Column("ticket_id", sa.String(length=30), nullable=False),
        sa.Column("tag", sa.String(length=50), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["ticket_id"], ["tickets.ticket_id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("ticket_id", "tag"),
    )
    op.create_index("idx_ticket_tags_tag", "ticket_tags", ["tag", "ticket_id"], unique=False)


def downgrade() -> None:
    op.drop_index("idx_ticket_tags_tag", table_name="ticket_tags")
    op.drop_table("ticket_tags")
