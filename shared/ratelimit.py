"""Fixed-window rate limits in Redis, shared by the gateway and the forecast service.

One INCR+EXPIRE per request in a MULTI block: counters are exact across processes and expire on
their own. A fixed window can let up to twice the limit through around a window boundary; for
abuse protection that is acceptable and far cheaper than a sorted-set sliding log. The `limits`
package would do the same in more code and one more dependency.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass

import redis.asyncio as aioredis
from redis.exceptions import RedisError

log = logging.getLogger(__name__)

KEY_PREFIX = "copilot:ratelimit"


@dataclass(frozen=True)
class RateDecision:
    allowed: bool
    limit: int
    remaining: int
    retry_after_s: int  # seconds until the window resets; 0 when allowed

    def headers(self) -> dict[str, str]:
        """`Retry-After` when refused, plus the draft RateLimit-* fields for well-behaved clients."""
        out = {"RateLimit-Limit": str(self.limit), "RateLimit-Remaining": str(self.remaining)}
        if not self.allowed:
            out["Retry-After"] = str(self.retry_after_s)
        return out


async def hit(
    client: aioredis.Redis, bucket: str, *, limit: int, window_s: int, now: float | None = None
) -> RateDecision:
    """Count one request against `bucket`; refused once the window's count exceeds `limit`.

    Redis being down lets the request through (logged): the limiter protects the service, it must
    not take it down; /ready reports Redis separately.
    """
    now = time.time() if now is None else now
    window = int(now // window_s)
    key = f"{KEY_PREFIX}:{bucket}:{window}"
    try:
        async with client.pipeline(transaction=True) as pipe:
            pipe.incr(key)
            pipe.expire(key, window_s + 1)
            count, _ = await pipe.execute()
    except (RedisError, OSError) as exc:
        log.warning("rate limiter unavailable, letting %s through: %s", bucket, exc)
        return RateDecision(True, limit, limit, 0)
    count = int(count)
    if count <= limit:
        return RateDecision(True, limit, limit - count, 0)
    retry_after = max(1, math.ceil((window + 1) * window_s - now))
    return RateDecision(False, limit, 0, retry_after)
