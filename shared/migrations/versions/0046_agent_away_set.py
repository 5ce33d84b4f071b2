"""agents.away_set_at: when an agent's away was last set

Revision ID: 0046_agent_away_set
Revises: 0045_reopens
Create Date: 2026-12-07 14:20:00

Intercom tells of an admin's away mode (`admin.away_mode_updated`), and the agent with the admin's email is
made away or back from it. Notifications arrive late and out of order, and the agent or an admin may have set
it here since: one older than the last setting, by anyone, is not applied. Away agents were last set when they
went away (`away_since`); for the others nobody recorded it: null, which any notification is newer than.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0046_agent_away_set"
down_revision: str | Sequence[str] | None = "0045_reopens"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("agents", sa.Column("away_set_at", sa.DateTime(timezone=True), nullable=True))
    op.execute("UPDATE agents SET away_set_at = away_since WHERE away")


def downgrade() -> None:
    op.drop_column("agents", "away_set_at")
