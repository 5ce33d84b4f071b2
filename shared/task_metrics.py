"""What workers report for the gateway's `GET /metrics`, kept in Redis: each task run's outcome and time, and
which workers are alive on which queues.

Workers serve no HTTP, and a prefork pool's processes come and go, so nothing a scraper could reach lives in
them. Instead every pool process adds its runs to one Redis hash (`KEY`) as each run starts and ends, a
pipelined round trip each, and the gateway's scrape reads the hash with the queues' lengths: the figures are the
sum over every worker on any host, and survive a worker's restart (a Redis restarted empty resets them,
which Prometheus's `rate()` takes as a counter reset).

Fields, each a running total: `start|{task}` (runs begun), `count|{state}|{task}` (runs ended, by Celery's
state: success, failure, retry, ...), `sum|{task}` (their seconds) and `bucket|{bound}|{task}` (runs whose
time fell in that bucket: at most `bound` seconds and more than the one below). A run whose pool process is
killed is begun and never ended (a late-acknowledged message goes back and its rerun counts again): starts less ends
less what is running is what was lost. A message discarded unstarted (expired, revoked) is ended as such.

Each worker also beats (`Heartbeat`, every `WORKER_HEARTBEAT_S` from a thread of its main process) into one
sorted set, `WORKERS_KEY`: a member per worker naming its queues, scored with the time it will count as gone,
three beats on. The scrape counts the members not yet gone by queue, so a queue nobody consumes shows 0 (a
stopped worker's member is removed as it stops; a killed one's expires); any beat drops the expired members.

Recording never fails a task or stops a worker: a Redis that does not answer costs those figures, logged.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import redis
from celery import signals

log = logging.getLogger(__name__)

KEY = "support_copilot:task_metrics"
WORKERS_KEY = "support_copilot:workers"
MISSED_BEATS = 3  # a worker silent this many beats counts as gone
# From a delivery's POST (milliseconds) to an LLM's draft after retries (a minute or more).
BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)
INF = "+Inf"
_started: dict[str, float] = {}  # task id -> monotonic start, in the pool process running it


@lru_cache
def _client(url: str) -> redis.Redis:
    """One client per broker URL and process (redis-py's pool reconnects after a fork)."""
    return redis.Redis.from_url(url, socket_timeout=1, socket_connect_timeout=1)


def bucket_of(seconds: float) -> str:
    """The bound of the (non-cumulative) bucket a run of `seconds` falls in."""
    return next((repr(bound) for bound in BUCKETS if seconds <= bound), INF)


def _add(task: Any, name: str, seconds: float | None = None) -> None:
    """One more `name` (a field above) for `task`, and its run's `seconds` when timed."""
    try:
        with _client(task.app.conf.broker_url).pipeline(transaction=False) as pipe:
            pipe.hincrby(KEY, name, 1)
            if seconds is not None:
                pipe.hincrbyfloat(KEY, f"sum|{task.name}", seconds)
                pipe.hincrby(KEY, f"bucket|{bucket_of(seconds)}|{task.name}", 1)
            pipe.execute()
    except (redis.RedisError, OSError) as exc:
        log.warning("task metrics: not recorded for %s: %s", task.name, exc.__class__.__name__)


def _on_prerun(sender: Any, task_id: str, **_: Any) -> None:
    _add(sender, f"start|{sender.name}")
    _started[task_id] = time.monotonic()  # after the round trip: the run's time is the task's own


def _on_postrun(sender: Any, task_id: str, state: str | None = None, **_: Any) -> None:
    begun = _started.pop(task_id, None)  # None only for a run begun before `connect()`: counted, not timed
    outcome = (state or "unknown").lower()
    _add(sender, f"count|{outcome}|{sender.name}", None if begun is None else time.monotonic() - begun)


def _on_revoked(sender: Any, expired: bool = False, **_: Any) -> None:
    _add(sender, f"count|{'expired' if expired else 'revoked'}|{sender.name}")


class Heartbeat(threading.Thread):
    """Says, every `interval` seconds until stopped, that worker `hostname` is alive and consumes `queues`."""

    def __init__(self, client: redis.Redis, hostname: str, queues: list[str], interval: float) -> None:
        super().__init__(name="support-copilot-heartbeat", daemon=True)
        self.client, self.interval = client, interval
        self.member = f"{hostname}|{','.join(sorted(queues))}"
        self.stopped = threading.Event()

    def run(self) -> None:
        while True:
            self.beat()
            if self.stopped.wait(self.interval):
                return

    def beat(self) -> None:
        now = time.time()
        try:
            with self.client.pipeline(transaction=False) as pipe:
                pipe.zadd(WORKERS_KEY, {self.member: now + MISSED_BEATS * self.interval})
                pipe.zremrangebyscore(WORKERS_KEY, "-inf", now)  # anyone's that expired
                pipe.execute()
        except (redis.RedisError, OSError) as exc:
            log.warning("heartbeat: not sent: %s", exc.__class__.__name__)

    def stop(self) -> None:
        """Stop beating and leave the set at once: a worker stopped on purpose is gone now, not in 3 beats."""
        self.stopped.set()
        try:
            self.client.zrem(WORKERS_KEY, self.member)
        except (redis.RedisError, OSError) as exc:
            log.warning("heartbeat: not removed (it expires): %s", exc.__class__.__name__)


_heartbeats: list[Heartbeat] = []


def _on_worker_ready(sender: Any, **_: Any) -> None:
    from shared.config import get_settings

    queues = list(sender.app.amqp.queues.consume_from)
    beat = Heartbeat(_client(sender.app.conf.broker_url), sender.hostname, queues, get_settings().worker_heartbeat_s)
    _heartbeats.append(beat)
    beat.start()


def _on_worker_shutdown(**_: Any) -> None:
    while _heartbeats:
        _heartbeats.pop().stop()


def connect() -> None:
    """Record every task run in this process, and beat while it is a worker (idempotent; the workers' apps call
    it through `make_celery`)."""
    for signal, handler in (
        (signals.task_prerun, _on_prerun),
        (signals.task_postrun, _on_postrun),
        (signals.task_revoked, _on_revoked),
        (signals.worker_ready, _on_worker_ready),
        (signals.worker_shutdown, _on_worker_shutdown),
    ):
        signal.connect(handler, weak=False, dispatch_uid=f"support_copilot.task_metrics.{handler.__name__}")


def live_workers(members: list[bytes]) -> dict[str, int]:
    """Workers by queue, from the members of `WORKERS_KEY` not yet gone."""
    counts: dict[str, int] = {}
    for member in members:
        _, _, queues = member.decode(errors="replace").rpartition("|")
        for queue in filter(None, queues.split(",")):
            counts[queue] = counts.get(queue, 0) + 1
    return counts


@dataclass
class TaskFigures:
    """The hash read back: per task, runs begun, ended by state, and their times' histogram."""

    starts: dict[str, int] = field(default_factory=dict)
    ends: dict[tuple[str, str], int] = field(default_factory=dict)  # (task, state) -> runs
    seconds: dict[str, float] = field(default_factory=dict)
    buckets: dict[str, dict[float, int]] = field(default_factory=dict)  # task -> bound -> runs (not cumulative)

    def histogram(self, task: str) -> list[tuple[str, int]]:
        """`task`'s cumulative buckets, every bound of `BUCKETS` present, ending with `+Inf` (its run count)."""
        counts = self.buckets.get(task, {})
        bounds = sorted({*BUCKETS, *counts} - {float("inf")})
        total, cumulative = 0, []
        for bound in bounds:
            total += counts.get(bound, 0)
            cumulative.append((repr(bound), total))
        return [*cumulative, (INF, total + counts.get(float("inf"), 0))]


def parse(raw: Mapping[bytes, bytes]) -> TaskFigures:
    """The hash's fields as figures; a field this version does not know (or cannot read) is skipped."""
    figures = TaskFigures()
    for name, value in raw.items():
        try:
            kind, _, rest = name.decode().partition("|")
            if kind == "start":
                figures.starts[rest] = int(value)
            elif kind == "count":
                state, _, task = rest.partition("|")
                figures.ends[(task, state)] = int(value)
            elif kind == "sum":
                figures.seconds[rest] = float(value)
            elif kind == "bucket":
                bound, _, task = rest.partition("|")
                figures.buckets.setdefault(task, {})[float(bound)] = int(value)
        except (UnicodeDecodeError, ValueError):
            log.warning("task metrics: unreadable field %r", name)
    return figures
