"""alerts.route: the ALERT_ROUTES category an alert was sent by

Revision ID: 0042_alert_routes
Revises: 0041_business_seconds
Create Date: 2026-12-07 06:00:00

Every alert went to the one ALERT_WEBHOOK_URL, so a billing team's critical tickets landed in the same
channel as a platform outage. With ALERT_ROUTES an alert about a ticket of a routed category goes to that
category's webhook; the route is stored when the alert is raised, so its retries and a retry after failing
go where it was first sent, whatever the ticket's category becomes. Existing alerts went to
ALERT_WEBHOOK_URL: NULL.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0042_alert_routes"
down_revision: str | Sequence[str] | None = "0041_business_seconds"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("alerts", sa.Column("route", sa.String(20), nullable=True))


def downgrade() -> None:
    op.drop_column("alerts", "route")
