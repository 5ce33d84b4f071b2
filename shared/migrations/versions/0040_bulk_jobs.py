"""bulk jobs: one change made to many tickets in the background

Revision ID: 0040_bulk_jobs
Revises: 0039_message_agents
Create Date: 2026-12-07 01:30:00

`POST /api/tickets/bulk` changes at most 100 named tickets within one request. An outage's 2,000 tickets, or
every ticket a view holds, need more: `bulk_jobs` holds the change and who asked for it, `bulk_job_items` the
tickets chosen when the job was created, in order, each with how its change went. The bulk worker writes an
item's outcome after changing its ticket, so a job resumed after a crash starts where it stopped.
`idx_bulk_jobs_unfinished` holds only the jobs not finished, which the sweeper looks through.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0040_bulk_jobs"
down_revision: str | Sequence[str] | None = "0039_message_agents"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UNFINISHED = "state IN ('queued', 'running')"


def upgrade() -> None:
    op.create_table(
        "bulk_jobs",
        sa.Column("job_id", sa.String(length=30), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("source", sa.JSON(), nullable=False),
        sa.Column("changes", sa.JSON(), nullable=False),
        sa.Column("created_by", sa.String(length=120), nullable=False),
        sa.Column("key_id", sa.Integer(), nullable=True),
        sa.Column("key_name", sa.String(length=100), nullable=False),
        sa.Column("agent_id", sa.String(length=20), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("cancelled_by", sa.String(length=120), nullable=True),
        sa.Column("detail", sa.String(length=500), nullable=True),
        sa.PrimaryKeyConstraint("job_id"),
    )
    op.create_index(
        "idx_bulk_jobs_unfinished",
        "bulk_jobs",
        ["heartbeat_at"],
        postgresql_where=sa.text(UNFINISHED),
        sqlite_where=sa.text(UNFINISHED),
    )
    op.create_index("idx_bulk_jobs_created", "bulk_jobs", ["created_at"])
    op.create_table(
        "bulk_job_items",
        sa.Column("job_id", sa.String(length=30), nullable=False),
        sa.Column("ticket_id", sa.String(length=30), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("ok", sa.Boolean(), nullable=True),
        sa.Column("applied", sa.JSON(), nullable=True),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("detail", sa.String(length=500), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["job_id"], ["bulk_jobs.job_id"]),
        sa.PrimaryKeyConstraint("job_id", "ticket_id"),
    )
    op.create_index("idx_bulk_job_items_position", "bulk_job_items", ["job_id", "position"], unique=True)


def downgrade() -> None:
    op.drop_index("idx_bulk_job_items_position", table_name="bulk_job_items")
    op.drop_table("bulk_job_items")
    op.drop_index("idx_bulk_jobs_created", table_name="bulk_jobs")
    op.drop_index("idx_bulk_jobs_unfinished", table_name="bulk_jobs")
    op.drop_table("bulk_jobs")
