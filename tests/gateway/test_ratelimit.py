"""Rate limits in real Redis: per key and per webhook source, 429 with Retry-After, then recovery."""

from __future__ import annotations

import asyncio
import time

import redis.asyncio as aioredis

from shared import ratelimit
from shared.auth import Role, create_key
from tests.conftest import REDIS_URL


def test_fixed_window_counts_refuses_and_resets(redis_client) -> None:
    async def run() -> list[ratelimit.RateDecision]:
        client = aioredis.Redis.from_url(REDIS_URL)
        try:
            base = 1_000_040.0  # 20 s into a 60 s window (1_000_020 is a boundary)
            hits = [await ratelimit.hit(client, "unit", limit=2, window_s=60, now=base + i) for i in range(3)]
            hits.append(await ratelimit.hit(client, "unit", limit=2, window_s=60, now=base + 41))  # next window
            hits.append(await ratelimit.hit(client, "other", limit=2, window_s=60, now=base + 2))
            return hits
        finally:
            await client.aclose()

    first, second, third, next_window, other_bucket = asyncio.run(run())
    assert first.allowed and first.remaining == 1 and second.allowed and second.remaining == 0
    assert not third.allowed and third.retry_after_s == 38 and third.headers()["Retry-After"] == "38"
    assert next_window.allowed and other_bucket.allowed
    assert all(ttl <= 61 for ttl in (redis_client.ttl(k) for k in redis_client.keys("copilot:ratelimit:*")))


def _start_of_window(window_s: int) -> None:
    """Sleep to just after a window boundary so a burst lands in one window."""
    time.sleep(window_s - (time.time() % window_s) + 0.05)


def test_per_key_limit_answers_429_then_recovers(client_for, db_url, redis_client, session_factory) -> None:
    api = client_for(db_url, auth_disabled=False, rate_limit_per_key=3, rate_limit_window_s=2)
    with session_factory() as session:
        alice = create_key(session, name="alice", role=Role.agent)[1]
        bob = create_key(session, name="bob", role=Role.agent)[1]
    _start_of_window(2)
    codes = [api.get("/api/tickets/", headers={"X-API-Key": alice}).status_code for _ in range(3)]
    refused = api.get("/api/tickets/", headers={"X-API-Key": alice})
    assert codes == [200, 200, 200]
    assert refused.status_code == 429 and "rate limit" in refused.json()["detail"]
    retry_after = int(refused.headers["Retry-After"])
    assert 1 <= retry_after <= 2
    # Another key has its own budget.
    assert api.get("/api/tickets/", headers={"X-API-Key": bob}).status_code == 200
    time.sleep(retry_after)
    assert api.get("/api/tickets/", headers={"X-API-Key": alice}).status_code == 200


def test_per_webhook_source_limit(client_for, db_url, redis_client) -> None:
    api = client_for(db_url, rate_limit_per_webhook_source=2, rate_limit_window_s=2)  # auth disabled
    body = {"conversation_id": "c1", "user": {"email": "a@example.com"}, "conversation_parts": [{"body": "hi"}]}
    _start_of_window(2)
    codes = [api.post("/api/tickets/webhook/intercom", json=body).status_code for _ in range(3)]
    assert codes == [201, 200, 429]
    # The other vendor is counted separately.
    zd = {"ticket": {"id": 5, "subject": "s", "description": "d", "requester": {"email": "b@example.com"}}}
    assert api.post("/api/tickets/webhook/zendesk", json=zd).status_code == 201
