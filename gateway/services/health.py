"""Readiness: the gateway is useful only when it can store (DB) and enqueue (Redis)."""

from __future__ import annotations

import redis.asyncio as aioredis
from sqlalchemy.orm import Session, sessionmaker

from shared.db import schema_gap


def check_database(factory: sessionmaker[Session]) -> str:
    """'ok', or the error text: unreachable, or reachable but missing migrations this code needs."""
    try:
        with factory() as session:
            gap = schema_gap(session.connection())
        return f"error: {gap}" if gap else "ok"
    except Exception as exc:
        return f"error: {type(exc).__name__}: {exc}"[:300]


async def check_redis(client: aioredis.Redis) -> str:
    """'ok' or the error text."""
    try:
        await client.ping()
        return "ok"
    except Exception as exc:
        return f"error: {type(exc).__name__}: {exc}"[:300]
