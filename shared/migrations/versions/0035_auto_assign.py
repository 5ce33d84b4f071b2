"""auto_assign: new tickets routed to the agents in the rotation, by category and load

Revision ID: 0035_auto_assign
Revises: 0034_merged_into
Create Date: 2026-12-06 04:00:00

An agent in the rotation (`agents.auto_assign`) takes new tickets of their `categories` (NULL: any) while
they hold fewer than `max_open` (NULL: no limit) in the working statuses; `last_routed_at` breaks ties.
`tickets.routing_requested_at` marks a ticket waiting for one, in `idx_tickets_to_route`, which holds only
those; `idx_tickets_assigned_open` holds only tickets in the working statuses, so an agent's load is an
index range. No backfill: nobody was in a rotation before, and existing agents start outside it.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0035_auto_assign"
down_revision: str | Sequence[str] | None = "0034_merged_into"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

WAITING = "routing_requested_at IS NOT NULL"
OPEN_WORK = "status IN ('new', 'open', 'in_progress')"


def upgrade() -> None:
    op.add_column("agents", sa.Column("auto_assign", sa.Boolean(), nullable=False, server_default=sa.false()))
    op.add_column("agents", sa.Column("categories", sa.JSON(none_as_null=True), nullable=True))
    op.add_column("agents", sa.Column("max_open", sa.Integer(), nullable=True))
    op.add_column("agents", sa.Column("last_routed_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("tickets", sa.Column("routing_requested_at", sa.DateTime(timezone=True), nullable=True))
    op.create_index(
        "idx_tickets_to_route",
        "tickets",
        ["routing_requested_at"],
        postgresql_where=sa.text(WAITING),
        sqlite_where=sa.text(WAITING),
    )
    op.create_index(
        "idx_tickets_assigned_open",
        "tickets",
        ["assigned_to"],
        postgresql_where=sa.text(OPEN_WORK),
        sqlite_where=sa.text(OPEN_WORK),
    )


def downgrade() -> None:
    op.drop_index("idx_tickets_assigned_open", table_name="tickets")
    op.drop_index("idx_tickets_to_route", table_name="tickets")
    op.drop_column("tickets", "routing_requested_at")
    op.drop_column("agents", "last_routed_at")
    op.drop_column("agents", "max_open")
    op.drop_column("agents", "categories")
    op.drop_column("agents", "auto_assign")
