"""Re-enqueue stuck tickets: a loop inside the gateway, and `python -m gateway.sweeper --once` for cron.

Alerts and agents' replies and status moves not delivered when due (their task lost with Redis, or never
sent) are sent again the same way, tickets about to miss a reply or resolution target are alerted
(`gateway.services.due_alerts`), and tickets resolved AUTO_CLOSE_AFTER_HOURS ago are closed
(`gateway.services.lifecycle`), as are tickets left pending AUTO_SOLVE_PENDING_AFTER_HOURS (when set), and
tickets waiting for the automatic assignment go to the agents in the rotation who now have room
(`shared.routing`), and bulk jobs whose worker went quiet are sent again and those finished BULK_JOB_KEEP_DAYS
ago deleted (`gateway.services.bulk_jobs`).

Each pass also sends the index task again for knowledge-base articles left `pending`, and once per
`KB_RECONCILE_INTERVAL_S` asks a rag_worker to check its whole index against the table: a delete
whose task was lost leaves no row to sweep for.
`--retry-failed` re-runs the tickets that gave up after their retries, once the outage is fixed.

Only one gateway replica sweeps per interval (a Redis lock); duplicates would be harmless anyway,
since every pipeline step is idempotent. Each finished pass is added up in Redis for `GET /metrics`
(`record_pass`): when the last one finished, and what the passes sent again or moved.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import time
from typing import NamedTuple

import redis
import redis.asyncio as aioredis
from fastapi.concurrency import run_in_threadpool
from sqlalchemy.orm import Session, sessionmaker

from gateway.services.bulk_jobs import delete_old, resend_stale
from gateway.services.due_alerts import alert_due_tickets
from gateway.services.lifecycle import close_resolved, solve_pending
from shared.config import Settings, get_settings
from shared.db import get_sessionmaker
from shared.kb import request_reconcile, resend_pending_articles
from shared.outbox import ALERTS, REPLIES, STATUSES, resend_due
from shared.pipeline import failed_ticket_ids, retry_failed, sweep_stale
from shared.routing import route_waiting

log = logging.getLogger(__name__)
LOCK_KEY = "copilot:sweeper:lock"
RECONCILE_KEY = "copilot:sweeper:kb-reconciled"
PASSES_KEY = "support_copilot:sweeper"  # every pass's counts, for GET /metrics (`record_pass`)


class Swept(NamedTuple):
    tickets: list[str]  # re-enqueued ticket ids
    articles: list[str]  # article ids whose index task was sent again
    reconcile: bool = False  # whether an index check was requested
    alerts: tuple[str, ...] = ()  # alert ids whose delivery task was sent again
    due_alerts: tuple[str, ...] = ()  # alerts raised for tickets about to miss a target
    replies: tuple[int, ...] = ()  # reply message ids whose delivery task was sent again
    status_changes: tuple[str, ...] = ()  # status-change delivery ids whose task was sent again
    closed: tuple[str, ...] = ()  # resolved tickets closed after AUTO_CLOSE_AFTER_HOURS
    solved: tuple[str, ...] = ()  # pending tickets resolved after AUTO_SOLVE_PENDING_AFTER_HOURS
    assigned: tuple[str, ...] = ()  # tickets the rotation assigned, that had waited for an agent with room
    bulk_jobs: tuple[str, ...] = ()  # bulk jobs sent again, their worker quiet for SWEEP_STALE_AFTER_S
    bulk_jobs_deleted: tuple[str, ...] = ()  # bulk jobs finished BULK_JOB_KEEP_DAYS ago, deleted


def _redis(settings: Settings) -> redis.Redis:
    """A short-lived client for a pass's own keys, failing fast: the pass goes on without them."""
    return redis.Redis.from_url(settings.redis_url, socket_connect_timeout=1, socket_timeout=2)


def reconcile_due(settings: Settings) -> bool:
    """True at most once per `kb_reconcile_interval_s` across every sweeper (a key that expires);
    False while Redis is down, when the request could not be sent anyway."""
    try:
        with _redis(settings) as client:
            return bool(client.set(RECONCILE_KEY, "1", nx=True, px=int(settings.kb_reconcile_interval_s * 1000)))
    except redis.RedisError as exc:
        log.warning("index check not requested: %s", exc)
        return False


def sweep_once(factory: sessionmaker[Session], settings: Settings) -> Swept:
    """One pass over stuck tickets, pending knowledge-base articles and undelivered alerts, replies and status
    changes, the alerts owed for tickets about to miss a target, the tickets due to be solved or closed, and
    the tickets waiting for the automatic assignment."""
    stale = settings.sweep_stale_after_s
    with factory() as session:
        tickets = sweep_stale(session, older_than_s=stale)
        articles = resend_pending_articles(session, older_than_s=stale)
        alerts = resend_due(session, ALERTS, older_than_s=stale)
        replies = resend_due(session, REPLIES, older_than_s=stale)
        statuses = resend_due(session, STATUSES, older_than_s=stale)
        due = alert_due_tickets(session, settings)
        solved = solve_pending(session, settings)
        closed = close_resolved(session, settings)
        assigned = route_waiting(session, settings=settings)
        jobs = resend_stale(session, older_than_s=stale)
        deleted = delete_old(session, keep_days=settings.bulk_job_keep_days)
    return Swept(
        tickets,
        articles,
        alerts=tuple(alerts),
        due_alerts=tuple(due),
        replies=tuple(replies),
        status_changes=tuple(statuses),
        closed=tuple(closed),
        solved=tuple(solved),
        assigned=tuple(ticket_id for ticket_id, _ in assigned),
        bulk_jobs=tuple(jobs),
        bulk_jobs_deleted=tuple(deleted),
    )


def sweep_when_due(factory: sessionmaker[Session], settings: Settings) -> Swept:
    """`sweep_once`, with the index check when its interval has passed, recorded for `GET /metrics`. Asked
    after the pass, so a pass that fails (database down) does not use up the interval's check, and is not
    recorded: the last pass's time then says the sweeper has stopped working."""
    swept = sweep_once(factory, settings)
    if reconcile_due(settings):
        swept = swept._replace(reconcile=request_reconcile(expires=settings.kb_reconcile_interval_s))
    record_pass(settings, swept)
    return swept


def record_pass(settings: Settings, swept: Swept) -> None:
    """Add a finished pass to `PASSES_KEY`: one more pass, its time, and how many of each kind it sent again or
    moved (`Swept`'s fields; `reconcile` the index checks requested). Any sweeper's pass counts, any gateway's
    loop or cron's `--once`, so the sums are the deployment's. Logged, never raised: the pass is done."""
    try:
        with _redis(settings) as client, client.pipeline(transaction=False) as pipe:
            pipe.hincrby(PASSES_KEY, "passes", 1)
            pipe.hset(PASSES_KEY, "last_pass", repr(time.time()))
            for kind, value in swept._asdict().items():
                if value:
                    pipe.hincrby(PASSES_KEY, kind, 1 if value is True else len(value))
            pipe.execute()
    except redis.RedisError as exc:
        log.warning("sweep not recorded: %s", exc)


async def sweep_forever(factory: sessionmaker[Session], client: aioredis.Redis, settings: Settings) -> None:
    """Sweep every `sweep_interval_s` while the gateway runs; errors are logged, never fatal."""
    while True:
        await asyncio.sleep(settings.sweep_interval_s)
        try:
            ttl_ms = max(int(settings.sweep_interval_s * 900), 100)
            if await client.set(LOCK_KEY, "1", nx=True, px=ttl_ms):
                await run_in_threadpool(sweep_when_due, factory, settings)
        except Exception as exc:  # Redis or DB down: try again next interval
            log.warning("sweep skipped: %s", exc)


def retry_all_failed(factory: sessionmaker[Session]) -> list[str]:
    """Send every `failed` ticket back to the step it did not finish; returns their ids."""
    with factory() as session:
        return [ticket_id for ticket_id in failed_ticket_ids(session) if retry_failed(session, ticket_id)]


def main() -> None:
    parser = argparse.ArgumentParser(
        description="Re-enqueue tickets stuck in queued/classified, KB articles left pending and undelivered alerts,"
        " replies and status changes; solve and close tickets due; assign tickets waiting for the rotation;"
        " re-send bulk jobs whose worker went quiet and delete old ones;"
        " re-run failed tickets."
    )
    parser.add_argument("--once", action="store_true", help="one pass, then exit (default: loop)")
    parser.add_argument(
        "--retry-failed",
        action="store_true",
        help="re-run the tickets that gave up after their retries (oldest 10,000 per run), then exit",
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO)
    settings = get_settings()
    factory = get_sessionmaker()
    if args.retry_failed:
        print(f"re-ran {len(retry_all_failed(factory))} failed ticket(s)")
        return
    if args.once:
        swept = sweep_when_due(factory, settings)
        checked = "; requested an index check" if swept.reconcile else ""
        print(
            f"re-enqueued {len(swept.tickets)} ticket(s); re-sent {len(swept.articles)} pending KB article(s)"
            f", {len(swept.alerts)} undelivered alert(s), {len(swept.replies)} reply(ies) and"
            f" {len(swept.status_changes)} status change(s);"
            f" raised {len(swept.due_alerts)} due alert(s); resolved {len(swept.solved)} pending and closed"
            f" {len(swept.closed)} resolved ticket(s); assigned {len(swept.assigned)} waiting ticket(s)"
            f"; re-sent {len(swept.bulk_jobs)} bulk job(s) and deleted {len(swept.bulk_jobs_deleted)} old one(s)"
            f"{checked}"
        )
        return
    client = aioredis.Redis.from_url(settings.redis_url)
    asyncio.run(sweep_forever(factory, client, settings))


if __name__ == "__main__":
    main()
