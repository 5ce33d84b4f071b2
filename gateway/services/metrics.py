"""Prometheus metrics: the queue's state in the text format a scraper reads, for alert rules and dashboards.

Every figure is read at the scrape from what all processes share, the database (the overview's counts:
`gateway.services.overview`) and Redis (the Celery queues' lengths, and the task runs and heartbeats the
workers keep there: `shared.task_metrics`), never kept in a process: any gateway process, with `--workers 2`
or after a restart, answers the same, and nothing needs aggregating across processes. Ages are in seconds
and 0 when nothing waits, so a rule like `> 600` needs no `absent()`.

The HTTP requests' counts and times (`shared.fastapi_metrics`) come with them, summed over the processes.

A store that does not answer is reported, not raised: `support_copilot_up{component=...}` is 0 and its
figures are left out, so a scrape during a database outage still says Redis's queues are growing.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import redis.asyncio as aioredis
from fastapi.concurrency import run_in_threadpool
from kombu.transport import redis as redis_transport
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from gateway.services.overview import ticket_overview
from gateway.sweeper import PASSES_KEY, Swept
from shared import task_metrics
from shared.celery import TASK_ROUTES
from shared.config import Targets
from shared.fastapi_metrics import PREFIX, encode
from shared.schemas import TicketOverview

log = logging.getLogger(__name__)

QUEUES = tuple(dict.fromkeys(route["queue"] for route in TASK_ROUTES.values()))


def read_overview(factory: sessionmaker[Session], targets: Targets) -> TicketOverview | None:
    """The overview, or None (logged) when the database does not answer."""
    try:
        with factory() as session:
            return ticket_overview(session, targets)
    except DBAPIError as exc:
        log.warning("metrics: database unavailable: %s", exc.__class__.__name__)
        return None


@dataclass
class RedisFigures:
    """What Redis said: messages waiting by queue, messages workers hold, the workers' task runs, the live
    workers by queue, and the sweeper's passes."""

    waiting: dict[str, int]
    unacked: int
    tasks: task_metrics.TaskFigures
    workers: dict[str, int]
    sweeper: dict[str, float]  # `gateway.sweeper.record_pass`'s sums, and the last pass's time


async def read_redis(client: aioredis.Redis) -> RedisFigures | None:
    """Messages waiting in each Celery queue (every priority's list, as kombu counts a queue's size), the
    messages taken by a worker and not yet acknowledged (running, or held for a countdown), the workers' task
    runs and the workers still beating (`shared.task_metrics`), and the sweeper's passes, in one round trip;
    None (logged) when Redis does not answer."""
    steps = redis_transport.PRIORITY_STEPS
    sep, unacked = redis_transport.Channel.sep, redis_transport.Channel.unacked_key
    try:
        async with client.pipeline(transaction=False) as pipe:
            for queue in QUEUES:
                for step in steps:
                    pipe.llen(f"{queue}{sep}{step}" if step else queue)
            pipe.hlen(unacked)
            pipe.hgetall(task_metrics.KEY)
            pipe.zrangebyscore(task_metrics.WORKERS_KEY, time.time(), "+inf")
            pipe.hgetall(PASSES_KEY)
            *sizes, held, runs, alive, passes = await pipe.execute()
    except (aioredis.RedisError, OSError) as exc:
        log.warning("metrics: redis unavailable: %s", exc.__class__.__name__)
        return None
    waiting = {q: sum(sizes[i * len(steps) : (i + 1) * len(steps)]) for i, q in enumerate(QUEUES)}
    return RedisFigures(waiting, held, task_metrics.parse(runs), task_metrics.live_workers(alive), _numbers(passes))


def _numbers(fields: Mapping[bytes, bytes]) -> dict[str, float]:
    """A hash's fields as numbers; one that is not a number (not written by this version) is skipped."""
    numbers = {}
    for name, value in fields.items():
        try:
            numbers[name.decode(errors="replace")] = float(value)
        except ValueError:
            log.warning("metrics: unreadable field %r", name)
    return numbers


async def scrape(
    factory: sessionmaker[Session], client: aioredis.Redis, targets: Targets, accept: str | None
) -> tuple[bytes, str]:
    """One scrape: the body and its content type (`shared.fastapi_metrics.encode`)."""
    overview = await run_in_threadpool(read_overview, factory, targets)
    return encode(families(overview, await read_redis(client)), accept)


def families(overview: TicketOverview | None, queues: RedisFigures | None) -> list[Metric]:
    """The figures of what answered, and which did."""
    return [*_up(overview, queues), *_tickets(overview), *_queues(queues), *_tasks(queues), *_sweeper(queues)]


def _gauge(name: str, doc: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(PREFIX + name, doc, value=value)


def _by(
    name: str,
    doc: str,
    labels: Sequence[str],
    values: Mapping[Any, float],
    kind: type[GaugeMetricFamily] | type[CounterMetricFamily] = GaugeMetricFamily,
) -> GaugeMetricFamily | CounterMetricFamily:
    """A gauge (or a counter, by `kind`) with one sample per key of `values`: a label's value, or a tuple of them
    for several labels."""
    family = kind(PREFIX + name, doc, labels=labels)
    for key, value in values.items():
        family.add_metric(list(key) if isinstance(key, tuple) else [key], value)
    return family


def _age(since: datetime | None, now: datetime) -> float:
    return max(0.0, (now - since).total_seconds()) if since is not None else 0.0


def _up(overview: TicketOverview | None, queues: object) -> list[Metric]:
    answered = {"database": float(overview is not None), "redis": float(queues is not None)}
    doc = "1 when the store answered this scrape, 0 when it did not (its figures are then left out)"
    return [_by("up", doc, ["component"], answered)]


def _tickets(o: TicketOverview | None) -> list[Metric]:
    if o is None:
        return []
    now = o.as_of
    created = CounterMetricFamily(PREFIX + "tickets_created", "Tickets taken in since the first (none is deleted)")
    created.add_metric([], o.total)
    overdue = {("resolution", p): n for p, n in o.unresolved_overdue_by_priority.items()}
    overdue |= {("first_response", p): n for p, n in o.unanswered_overdue_by_priority.items()}
    overdue |= {("next_reply", p): n for p, n in o.reply_overdue_by_priority.items()}
    kinds = {"alert": o.alerts, "reply": o.replies, "status_change": o.status_changes}
    waited = o.oldest_waiting.age_s if o.oldest_waiting else 0.0
    families: list[Metric] = [
        created,
        _by("tickets", "Tickets by status", ["status"], o.by_status),
        _by("ai_tickets", "Tickets by where the AI's work on them stands", ["state"], o.processing),
        _gauge("ai_oldest_waiting_seconds", "How long the longest-waiting round of AI work has waited", waited),
        _by("unresolved_tickets", "Unresolved tickets by priority (unclassified: not rated yet)", ["priority"],
            o.unresolved_by_priority),
        _by("unresolved_tickets_by_category", "Unresolved tickets by category", ["category"],
            o.unresolved_by_category),
        _gauge("unassigned_tickets", "Unresolved tickets assigned to nobody", o.unresolved_unassigned),
        _gauge("awaiting_assignment_tickets", "Tickets waiting for the automatic assignment", o.awaiting_assignment),
        _gauge("awaiting_assignment_oldest_seconds", "How long the longest wait for the automatic assignment is",
               _age(o.oldest_awaiting_assignment_since, now)),
        _gauge("needs_review_tickets", "Unresolved tickets the AI flagged for review", o.unresolved_needs_review),
        _gauge("needs_review_oldest_seconds", "How long the oldest review flag has been up",
               _age(o.oldest_needs_review_since, now)),
        _gauge("awaiting_reply_tickets", "Unresolved tickets whose customer waits for a reply", o.awaiting_reply),
        _gauge("awaiting_reply_oldest_seconds", "How long the longest-waiting customer has waited for a reply",
               _age(o.oldest_awaiting_reply_since, now)),
        _by("overdue_tickets", "Unresolved tickets past a target, by target and priority", ["target", "priority"],
            overdue),
        _by("deliveries", "Undelivered webhook POSTs: pending (being tried) or failed (attempts spent)",
            ["kind", "state"], {(k, s): getattr(c, s) for k, c in kinds.items() for s in ("pending", "failed")}),
        _by("delivery_oldest_pending_seconds", "How long the oldest pending delivery of each kind has waited",
            ["kind"], {k: _age(c.oldest_pending_since, now) for k, c in kinds.items()}),
    ]  # fmt: skip
    if o.business_hours is not None:
        open_now = float(o.business_hours.open_now)
        families.append(_gauge("business_hours_open", "1 while the team's business hours are open", open_now))
    return families


def _queues(queues: RedisFigures | None) -> list[Metric]:
    if queues is None:
        return []
    return [
        _by("queue_messages", "Celery messages waiting in each queue for a worker", ["queue"], queues.waiting),
        _gauge("queue_unacked_messages", "Celery messages workers hold: running, or held for a retry's countdown",
               queues.unacked),
        _by("workers", "Workers alive (beating), by queue they consume: 0 is a queue nobody takes from", ["queue"],
            dict.fromkeys(QUEUES, 0) | queues.workers),
    ]  # fmt: skip


def _tasks(queues: RedisFigures | None) -> list[Metric]:
    """The workers' task runs: begun, ended by state, and their times (what a worker killed mid-run never ends)."""
    if queues is None:
        return []
    runs = queues.tasks
    ended = "Task runs ended, by task and Celery state (success, failure, retry; expired, revoked: discarded unrun)"
    starts = _by("worker_task_starts", "Task runs begun, by task", ["task"], dict(sorted(runs.starts.items())),
                 CounterMetricFamily)  # fmt: skip
    ends = _by("worker_tasks", ended, ["task", "state"], dict(sorted(runs.ends.items())), CounterMetricFamily)
    seconds = HistogramMetricFamily(PREFIX + "worker_task_duration_seconds", "Runs' times, by task", labels=["task"])
    for task in sorted(runs.buckets.keys() | runs.seconds.keys()):
        seconds.add_metric([task], runs.histogram(task), runs.seconds.get(task, 0.0))
    return [starts, ends, seconds]


def _sweeper(queues: RedisFigures | None) -> list[Metric]:
    """The sweeper's passes: how many, the last one's time (absent before the first), and what they sent again
    or moved, by kind (every kind, 0 until a pass meets one)."""
    if queues is None:
        return []
    passes = CounterMetricFamily(PREFIX + "sweeper_passes", "Sweeper passes finished, any gateway's or cron's")
    passes.add_metric([], queues.sweeper.get("passes", 0.0))
    doc = ("Items the sweeper's passes sent again or moved, by kind: tickets (re-enqueued), articles, alerts, replies,"
           " status_changes, bulk_jobs (sent again), due_alerts (raised), solved, closed, assigned, bulk_jobs_deleted,"
           " reconcile (index checks requested)")  # fmt: skip
    kinds = {kind: queues.sweeper.get(kind, 0.0) for kind in Swept._fields}
    items = _by("sweeper_items", doc, ["kind"], kinds, CounterMetricFamily)
    families: list[Metric] = [passes, items]
    if "last_pass" in queues.sweeper:
        families.append(_gauge("sweeper_last_pass_timestamp_seconds", "When the last sweeper pass finished (Unix "
                               "time): `time() - ` this beyond a few intervals means no sweeper works",
                               queues.sweeper["last_pass"]))  # fmt: skip
    return families
