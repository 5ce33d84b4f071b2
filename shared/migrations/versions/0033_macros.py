"""macros: saved replies and notes agents apply to a ticket, with a status move and tag changes

Revision ID: 0033_macros
Revises: 0032_pending_since
Create Date: 2026-12-06 02:00:00

A macro is keyed by the id its admin gives it (or one generated), so a script that writes the team's
macros can be run again. Few rows, always listed whole: no index beyond the key. A message a macro posted
names it (`ticket_messages.macro_id`), and `idx_ticket_messages_macro` holds only those messages, so a
macro's uses in the last days are counted without reading the others. Earlier messages name none.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0033_macros"
down_revision: str | Sequence[str] | None = "0032_pending_since"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

WITH_MACRO = "macro_id IS NOT NULL"


def upgrade() -> None:
    op.create_table(
        "macros",
        sa.Column("macro_id", sa.String(length=50), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("internal", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=True),
        sa.Column("tags", sa.JSON(), nullable=True),
        sa.Column("assign", sa.JSON(), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_by", sa.String(length=120), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.String(length=120), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("macro_id"),
    )
    op.add_column("ticket_messages", sa.Column("macro_id", sa.String(length=50), nullable=True))
    op.create_index(
        "idx_ticket_messages_macro",
        "ticket_messages",
        ["macro_id", "created_at"],
        postgresql_where=sa.text(WITH_MACRO),
        sqlite_where=sa.text(WITH_MACRO),
    )


def downgrade() -> None:
    op.drop_index("idx_ticket_messages_macro", table_name="ticket_messages")
    op.drop_column("ticket_messages", "macro_id")
    op.drop_table("macros")
