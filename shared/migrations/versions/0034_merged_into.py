"""merged_into: a duplicate ticket merged into another, which its customer's later messages go to

Revision ID: 0034_merged_into
Revises: 0033_macros
Create Date: 2026-12-06 02:30:00

A customer who writes twice about one problem (the web form, then the API client) opens two tickets; an
agent merges the duplicate into the ticket kept, which closes it and names the kept one here. No backfill:
nothing was merged before. `idx_tickets_merged_into` holds only merged tickets (`?merged_into=`).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0034_merged_into"
down_revision: str | Sequence[str] | None = "0033_macros"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

MERGED = "merged_into IS NOT NULL"


def upgrade() -> None:
    op.add_column("tickets", sa.Column("merged_into", sa.String(length=30), nullable=True))
    op.create_index(
        "idx_tickets_merged_into",
        "tickets",
        ["merged_into", "created_at"],
        postgresql_where=sa.text(MERGED),
        sqlite_where=sa.text(MERGED),
    )


def downgrade() -> None:
    op.drop_index("idx_tickets_merged_into", table_name="tickets")
    op.drop_column("tickets", "merged_into")
