"""ticket_messages.agent_id: the agent who wrote a reply or note here

Revision ID: 0039_message_agents
Revises: 0038_key_agents
Create Date: 2026-12-06 23:30:00

Since migration 0038 a key may be linked to an agent; a message posted with it records that agent, so each
agent's replies, notes, first responses and next replies can be counted (`GET /api/agents/{id}/activity`).
Messages from before, from keys linked to no agent and from the vendors' own agents stay NULL: a name on a
message is not an identity. `idx_ticket_messages_agent` holds only attributed messages, as the macro index
holds only macros' messages.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0039_message_agents"
down_revision: str | Sequence[str] | None = "0038_key_agents"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ATTRIBUTED = "agent_id IS NOT NULL"


def upgrade() -> None:
    op.add_column("ticket_messages", sa.Column("agent_id", sa.String(20), nullable=True))
    op.create_index(
        "idx_ticket_messages_agent",
        "ticket_messages",
        ["agent_id", "created_at"],
        postgresql_where=sa.text(ATTRIBUTED),
        sqlite_where=sa.text(ATTRIBUTED),
    )


def downgrade() -> None:
    op.drop_index("idx_ticket_messages_agent", table_name="ticket_messages")
    op.drop_column("ticket_messages", "agent_id")
