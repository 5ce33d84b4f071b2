"""agents.away, agents.away_since: an agent away from the rotation

Revision ID: 0044_agent_away
Revises: 0043_personal_views
Create Date: 2026-12-07 11:45:00

The rotation assigned new tickets to every active agent in it whenever they came: an agent going to lunch or
off shift had an admin take them out (`auto_assign: false`) and put them back, with their categories and limit
to set again if they were cleared. An agent now says they are away (`PUT /api/me/away`, or an admin's PATCH):
the rotation passes them by, their settings kept, and routes to them again when they are back. Nobody is away:
false.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0044_agent_away"
down_revision: str | Sequence[str] | None = "0043_personal_views"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("agents", sa.Column("away", sa.Boolean(), nullable=False, server_default=sa.false()))
    op.add_column("agents", sa.Column("away_since", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    op.drop_column("agents", "away_since")
    op.drop_column("agents", "away")
