"""api_keys.agent_id: the agent who uses a key

Revision ID: 0038_key_agents
Revises: 0037_resolution_counted_from
Create Date: 2026-12-06 23:00:00

A key named a role, not a person, so nothing could answer "my tickets", a reply carried the key's name, and
deactivating an agent left their key working. A key linked to an agent (`POST /api/keys` or
`PATCH /api/keys/{id}` with `agent_id`) is read as that agent: `assigned_to=me` lists their tickets, their
replies carry their name, and the key is refused while they are deactivated. Existing keys stay unlinked
(NULL), as keys for services stay. No foreign key, as `tickets.follow_up_of` has none: agents are never
deleted, and the link is checked when it is written.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0038_key_agents"
down_revision: str | Sequence[str] | None = "0037_resolution_counted_from"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("api_keys", sa.Column("agent_id", sa.String(20), nullable=True))


def downgrade() -> None:
    op.drop_column("api_keys", "agent_id")
