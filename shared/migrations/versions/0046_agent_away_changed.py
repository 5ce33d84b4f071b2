"""agents.away_changed_at: when an agent's away last changed

Revision ID: 0046_agent_away_changed
Revises: 0045_reopens
Create Date: 2026-12-07 14:20:00

Intercom tells of an admin's away mode (`admin.away_mode_updated`), and the agent with the admin's email is
made away or back from it. Notifications arrive late and out of order, and the agent may have changed it here
since: one older than the last change, by anyone, is not applied. Away agents changed when they went away
(`away_since`); for the others nobody recorded it: null, which any notification is newer than.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0046_agent_away_changed"
down_revision: str | Sequence[str] | None = "0045_reopens"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("agents", sa.Column("away_changed_at", sa.DateTime(timezone=True), nullable=True))
    op.execute("UPDATE agents SET away_changed_at = away_since WHERE away")


def downgrade() -> None:
    op.drop_column("agents", "away_changed_at")
