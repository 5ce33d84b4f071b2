"""alerts: each alert's event, and the clock a due alert is about

Revision ID: 0023_due_alerts
Revises: 0022_erasure
Create Date: 2026-12-03 18:40:00

Alerts were only `ticket.urgent`, unique per (ticket, priority). A ticket whose reply or resolution target
is about to run out now alerts too (`gateway.services.due_alerts`), once per wait, so the key becomes
(ticket, event, priority, counted_from). Existing alerts are urgent ones, counted from their ticket's arrival.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0023_due_alerts"
down_revision: str | Sequence[str] | None = "0022_erasure"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UNDELIVERED = "delivered_at IS NULL"


def upgrade() -> None:
    # SQLite rebuilds the table to change its constraints: the partial index is made again after, with its WHERE.
    op.drop_index("idx_alerts_undelivered", table_name="alerts")
    op.add_column("alerts", sa.Column("event", sa.String(length=30), server_default="ticket.urgent", nullable=False))
    op.add_column("alerts", sa.Column("counted_from", sa.DateTime(timezone=True), nullable=True))
    op.execute(
        "UPDATE alerts SET counted_from = (SELECT tickets.created_at FROM tickets WHERE tickets.ticket_id = alerts.ticket_id)"
    )
    with op.batch_alter_table("alerts") as batch:
        batch.alter_column("counted_from", existing_type=sa.DateTime(timezone=True), nullable=False)
        batch.drop_constraint("uq_alerts_ticket_priority", type_="unique")
        batch.create_unique_constraint("uq_alerts_occasion", ["ticket_id", "event", "priority", "counted_from"])
    _undelivered_index()


def downgrade() -> None:
    op.drop_index("idx_alerts_undelivered", table_name="alerts")
    op.execute("DELETE FROM alerts WHERE event <> 'ticket.urgent'")  # the old key cannot hold them
    with op.batch_alter_table("alerts") as batch:
        batch.drop_constraint("uq_alerts_occasion", type_="unique")
        batch.create_unique_constraint("uq_alerts_ticket_priority", ["ticket_id", "priority"])
        batch.drop_column("counted_from")
        batch.drop_column("event")
    _undelivered_index()


def _undelivered_index() -> None:
    op.create_index(
        "idx_alerts_undelivered",
        "alerts",
        ["failed_at", "created_at"],
        unique=False,
        postgresql_where=sa.text(UNDELIVERED),
        sqlite_where=sa.text(UNDELIVERED),
    )
