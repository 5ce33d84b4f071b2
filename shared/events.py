"""Ticket progress notifications over Redis pub/sub, so `?wait=N` long-polls without hammering the DB."""

from __future__ import annotations

import json
import logging
from functools import lru_cache

import redis

from shared.config import get_settings

log = logging.getLogger(__name__)


def channel(ticket_id: str) -> str:
    """The pub/sub channel that carries one ticket's processing-state changes."""
    return f"copilot:ticket:{ticket_id}"


@lru_cache
def _client() -> redis.Redis:
    return redis.Redis.from_url(get_settings().redis_url, socket_timeout=2, socket_connect_timeout=2)


def publish_state(ticket_id: str, state: str) -> None:
    """Tell waiting pollers a ticket moved on; best effort, the DB stays the truth."""
    try:
        _client().publish(channel(ticket_id), json.dumps({"ticket_id": ticket_id, "state": state}))
    except redis.RedisError as exc:  # a lost notification only costs a poller its timeout
        log.warning("could not publish state of %s: %s", ticket_id, exc)
