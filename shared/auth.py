"""API keys and roles, shared by the gateway and the forecast service (one `api_keys` table).

A key is 32 random bytes (256 bits) from `secrets`, shown once. Only its SHA-256 is stored. A slow
password hash (bcrypt, argon2) exists to make guessing low-entropy human passwords expensive; a
256-bit random key cannot be guessed, so a fast hash loses nothing and keeps the per-request check
to one indexed lookup. Looking a key up by its hash also means no stored secret is ever compared
byte by byte with the caller's input, so there is no timing side channel to exploit.

No web framework here: `shared.fastapi_auth` turns this into FastAPI dependencies.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.orm import Session

from shared.errors import Conflict, InvalidInput, NotFound
from shared.models import Agent, ApiKey, current_actor, utcnow
from shared.schemas import SERVICE_KEY_UNLINKED, clean_text

KEY_PREFIX = "sc_"
PREFIX_SHOWN = 10  # characters of the key kept in clear to tell keys apart in `list`
LAST_USED_RESOLUTION = timedelta(minutes=1)  # avoids a write on every request


class Role(StrEnum):
    """Each role includes every permission of the roles before it."""

    monitor = "monitor"  # read the metrics (`GET /metrics`): a scraper's key, which can change nothing
    integration = "integration"  # create tickets, post webhooks
    agent = "agent"  # read/update tickets, KB search, corrections
    manager = "manager"  # forecasts and analytics
    admin = "admin"  # KB writes, agents, keys

    @property
    def rank(self) -> int:
        return list(Role).index(self)

    def allows(self, needed: Role) -> bool:
        """True when this role may call a route that needs `needed`."""
        return self.rank >= needed.rank


@dataclass(frozen=True)
class Principal:
    """Who is calling: the key's id, name and role (id None when auth is disabled or for a signed webhook), and
    the agent using the key, if it is linked to one."""

    key_id: int | None
    name: str
    role: Role
    agent_id: str | None = None
    agent_name: str | None = None
    agent_email: str | None = None

    @property
    def author(self) -> str:
        """How a message this caller writes is signed: their agent's name, else the key's."""
        return self.agent_name or self.name

    @property
    def actor(self) -> str:
        """How the audit log names this caller."""
        return f"key:{self.key_id}:{self.name}" if self.key_id is not None else self.name


def generate_key() -> str:
    """A new key in clear: `sc_` + 43 url-safe characters (32 random bytes)."""
    return KEY_PREFIX + secrets.token_urlsafe(32)


def hash_key(key: str) -> str:
    """The stored form of a key: hex SHA-256."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def parse_role(value: str) -> Role:
    """The role named `value`, or InvalidInput listing the valid ones."""
    try:
        return Role(value.strip().lower())
    except ValueError:
        raise InvalidInput(f"unknown role '{value}'; one of: {', '.join(r.value for r in Role)}") from None


class AgentDeactivated(Exception):
    """A valid key whose agent is deactivated: refused until they are active again (the message says so)."""


def create_key(session: Session, *, name: str, role: Role | str, agent_id: str | None = None) -> tuple[ApiKey, str]:
    """Store a new key (hashed), linked to `agent_id` if given, and return the row and the key in clear, which
    is never stored."""
    name = clean_text(name)  # the API's notion of blank, so the CLI and HTTP agree
    if not name or len(name) > 100:
        raise InvalidInput("key name must be 1-100 characters")
    parsed = parse_role(role)
    if agent_id is not None:
        if not parsed.allows(Role.agent):
            raise InvalidInput(SERVICE_KEY_UNLINKED)
        _check_linkable(session, agent_id)
    key = generate_key()
    row = ApiKey(
        name=name,
        role=parsed.value,
        key_prefix=key[:PREFIX_SHOWN],
        key_hash=hash_key(key),
        created_by=current_actor(),
        agent_id=agent_id,
    )
    session.add(row)
    session.commit()
    return row, key


def link_key(session: Session, *, key_id: int, agent_id: str | None) -> ApiKey:
    """Link the key to an active agent, or unlink it (None); NotFound for an unknown key, Conflict for a
    revoked one (a new key is made instead) or an integration key linked to an agent (the key's state, not the
    body, is what refuses it)."""
    row = _get_key(session, key_id)
    if row.revoked_at is not None:
        raise Conflict(f"API key {key_id} is revoked; create a new key with agent_id instead")
    if agent_id is not None:
        if not Role(row.role).allows(Role.agent):
            raise Conflict(f"API key {key_id}: {SERVICE_KEY_UNLINKED}")
        _check_linkable(session, agent_id)
    row.agent_id = agent_id
    session.commit()
    return row


def _check_linkable(session: Session, agent_id: str) -> None:
    """A key is linked only to an agent who exists and is active (a deactivated agent's key would be refused at
    once)."""
    agent = session.get(Agent, agent_id)
    if agent is None:
        raise NotFound(f"agent '{agent_id}' not found; create it with POST /api/agents")
    if not agent.active:
        raise Conflict(f"agent '{agent_id}' is deactivated; activate them first (PATCH /api/agents/{agent_id})")


def authenticate(session: Session, key: str) -> Principal | None:
    """The principal owning `key`, or None for an unknown or revoked key; refreshes `last_used_at`.

    AgentDeactivated for the key of a deactivated agent: leaving the team ends their access without an admin
    having to find and revoke their keys, and a return restores it.
    """
    if not key.startswith(KEY_PREFIX) or len(key) > 200:
        return None
    query = (
        select(ApiKey, Agent.active, Agent.name, Agent.email)
        .outerjoin(Agent, Agent.agent_id == ApiKey.agent_id)
        .where(ApiKey.key_hash == hash_key(key))
    )
    found = session.execute(query).first()
    if found is None or found[0].revoked_at is not None:
        return None
    row, agent_active, agent_name, agent_email = found
    if row.agent_id is not None and not agent_active:
        raise AgentDeactivated(
            f"API key '{row.name}' belongs to agent '{row.agent_id}', who is deactivated; "
            f"an admin reactivates them (PATCH /api/agents/{row.agent_id} with active true)"
        )
    now = utcnow()
    if row.last_used_at is None or now - row.last_used_at > LAST_USED_RESOLUTION:
        row.last_used_at = now
        session.commit()
    return Principal(
        key_id=row.id,
        name=row.name,
        role=Role(row.role),
        agent_id=row.agent_id,
        agent_name=agent_name,
        agent_email=agent_email,
    )


def list_keys(session: Session, *, include_revoked: bool = False) -> list[ApiKey]:
    """Keys, oldest first (their hashes never leave this module's callers as anything but rows)."""
    query = select(ApiKey).order_by(ApiKey.id)
    if not include_revoked:
        query = query.where(ApiKey.revoked_at.is_(None))
    return list(session.scalars(query))


def revoke_key(session: Session, *, key_id: int, caller_key_id: int | None = None) -> ApiKey:
    """Mark the key revoked (kept for the audit trail); NotFound for an unknown id.

    A key may not revoke itself over the API: an admin would lock themselves out by one slip.
    """
    row = _get_key(session, key_id)
    if caller_key_id is not None and key_id == caller_key_id:
        raise Conflict(
            f"API key {key_id} is the key making this request and cannot revoke itself; "
            "use another admin key or `python -m gateway.keys revoke`"
        )
    if row.revoked_at is None:
        row.revoked_at = utcnow()
        row.revoked_by = current_actor()
        session.commit()
    return row


def _get_key(session: Session, key_id: int) -> ApiKey:
    row = session.get(ApiKey, key_id)
    if row is None:
        raise NotFound(f"API key {key_id} not found")
    return row


def has_active_admin(session: Session) -> bool:
    """True when at least one unrevoked admin key exists."""
    query = select(ApiKey.id).where(ApiKey.role == Role.admin.value, ApiKey.revoked_at.is_(None)).limit(1)
    return session.scalars(query).first() is not None
