"""vendor_tags: the tags a Zendesk or Intercom ticket had in the vendor's tool when a webhook last said

Revision ID: 0029_vendor_tags
Revises: 0028_ticket_tags
Create Date: 2026-12-05 09:00:00

A later webhook's list of the ticket's tags is compared with `vendor_tags`: what the vendor added is put on,
what it took off is taken off, and an agent's own tags here stay. `vendor_tags_at` is the vendor's time of
that list, so an older delivery arriving late changes nothing. No backfill: a ticket's tags today may
include an agent's, which a vendor's list without them must not take off; such a ticket's first vendor list
adds what is new and takes nothing off.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0029_vendor_tags"
down_revision: str | Sequence[str] | None = "0028_ticket_tags"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("tickets", sa.Column("vendor_tags", sa.JSON(none_as_null=True), nullable=True))
    op.add_column("tickets", sa.Column("vendor_tags_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    op.drop_column("tickets", "vendor_tags_at")
    op.drop_column("tickets", "vendor_tags")
