"""views.owner: an agent's personal views

Revision ID: 0043_personal_views
Revises: 0042_alert_routes
Create Date: 2026-12-07 11:30:00

Views were the team's only: an agent who wanted "my billing tickets past target, oldest first" asked an admin
for a view every agent then saw. A personal view (`POST /api/views` with `personal: true`, by any agent whose
key is linked to an agent) is listed, opened, counted, exported, written and deleted by that agent alone.
Existing views are the team's: NULL.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0043_personal_views"
down_revision: str | Sequence[str] | None = "0042_alert_routes"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("views", sa.Column("owner", sa.String(20), nullable=True))
    op.create_index("idx_views_owner", "views", ["owner"])


def downgrade() -> None:
    op.drop_index("idx_views_owner", table_name="views")
    op.drop_column("views", "owner")
