"""views: saved ticket lists (the list's filters and order under a title) that agents open with their count

Revision ID: 0036_views
Revises: 0035_auto_assign
Create Date: 2026-12-06 08:00:00

A view is keyed by the id its admin gives it (or one generated), so a script that writes the team's views
can be run again. Few rows, always listed whole: no index beyond the key. Its filters are stored as the JSON
the API took; they are read through the tickets' own indexes when the view is opened.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0036_views"
down_revision: str | Sequence[str] | None = "0035_auto_assign"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "views",
        sa.Column("view_id", sa.String(length=50), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("filters", sa.JSON(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_by", sa.String(length=120), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.String(length=120), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("view_id"),
    )


def downgrade() -> None:
    op.drop_table("views")
