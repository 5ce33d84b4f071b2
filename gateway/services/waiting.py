"""Long-polling: wait until a ticket's AI results are in, woken by Redis pub/sub, with DB polling as backstop."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from gateway.services.tickets import is_finished
from shared.events import channel
from shared.models import Ticket

log = logging.getLogger(__name__)
RECHECK_S = 2.0  # a missed notification costs at most this much


async def wait_for_ticket(
    client: aioredis.Redis, ticket_id: str, timeout: float, load: Callable[[], Awaitable[Ticket]]
) -> Ticket:
    """The ticket once processing finished, or as it is when `timeout` seconds have passed."""
    ticket = await load()
    if timeout <= 0 or is_finished(ticket):
        return ticket
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    try:
        async with client.pubsub() as pubsub:
            await pubsub.subscribe(channel(ticket_id))
            ticket = await load()  # re-read after subscribing so no wake-up falls between the two
            while not is_finished(ticket):
                remaining = deadline - loop.time()
                if remaining <= 0:
                    break
                await pubsub.get_message(ignore_subscribe_messages=True, timeout=min(remaining, RECHECK_S))
                ticket = await load()
    except (RedisError, OSError) as exc:
        log.warning("pub/sub unavailable (%s); polling the database instead", exc)
        while not is_finished(ticket) and loop.time() < deadline:
            await asyncio.sleep(min(0.5, max(0.0, deadline - loop.time())))
            ticket = await load()
    return ticket
