"""One factory for every Celery app in the project, so producers and consumers agree on the wire.

The gateway sends tasks by name (it never imports a worker module, which would pull in torch);
the names and queues below are the contract.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cached_property, lru_cache
from typing import Any

from celery import Celery, Task
from kombu import Exchange, Queue
from kombu.transport import redis as redis_transport

from shared import task_metrics
from shared.config import Settings, get_settings

log = logging.getLogger(__name__)

CLASSIFY_QUEUE = "classify"
DRAFT_QUEUE = "draft"
KB_QUEUE = "kb"
ALERTS_QUEUE = "alerts"
REPLIES_QUEUE = "replies"  # the alert worker's too: agents' replies and status moves to a web or API ticket's channel
BULK_QUEUE = "bulk"  # the gateway's bulk worker: one change made to many tickets

CLASSIFY_TASK = "classifier_worker.classify_ticket"
DRAFT_TASK = "rag_worker.draft_reply"
KB_INDEX_TASK = "rag_worker.kb.index_article"
KB_DELETE_TASK = "rag_worker.kb.delete_article"
KB_SEARCH_TASK = "rag_worker.kb.search"
KB_RECONCILE_TASK = "rag_worker.kb.reconcile"
ALERT_TASK = "classifier_worker.alerts.deliver"
REPLY_TASK = "classifier_worker.replies.deliver"
STATUS_TASK = "classifier_worker.replies.deliver_status"
BULK_TASK = "gateway.bulk_jobs.run"

TASK_ROUTES = {
    CLASSIFY_TASK: {"queue": CLASSIFY_QUEUE},
    DRAFT_TASK: {"queue": DRAFT_QUEUE},
    "rag_worker.kb.*": {"queue": KB_QUEUE},
    ALERT_TASK: {"queue": ALERTS_QUEUE},
    REPLY_TASK: {"queue": REPLIES_QUEUE},
    STATUS_TASK: {"queue": REPLIES_QUEUE},
    BULK_TASK: {"queue": BULK_QUEUE},
}


def make_celery(name: str, settings: Settings | None = None) -> Celery:
    """A Celery app over Redis: JSON only, late acks, requeue on worker loss, prefetch 1; each task run this
    process makes is counted and timed in Redis (`shared.task_metrics`)."""
    settings = settings or get_settings()
    task_metrics.connect()
    app = Celery(name, broker=settings.redis_url, backend=settings.redis_url)
    app.conf.update(
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        # Each queue on its own exchange and key: a bare Queue(name) is bound to the default queue's
        # exchange and key, so anything published there would reach every queue.
        task_queues=[
            Queue(q, Exchange(q, type="direct"), routing_key=q)
            for q in (CLASSIFY_QUEUE, DRAFT_QUEUE, KB_QUEUE, ALERTS_QUEUE, REPLIES_QUEUE, BULK_QUEUE)
        ],
        task_default_queue=CLASSIFY_QUEUE,
        task_routes=TASK_ROUTES,
        task_ignore_result=True,
        result_expires=3600,
        broker_connection_retry_on_startup=True,
        # On a broker blip, let a running task finish: its message is restored and redelivered, and
        # the rerun is skipped (idempotent). Celery 6 flips this default to cancelling the task, which
        # would kill the pool process mid-LLM-call and reload its models on every Redis restart.
        worker_cancel_long_running_tasks_on_connection_loss=False,
        # A message taken by a worker that then dies unannounced returns to the queue after this.
        broker_transport_options={"visibility_timeout": settings.broker_visibility_timeout_s},
        result_backend_transport_options={"visibility_timeout": settings.broker_visibility_timeout_s},
        # Pool processes load their models in worker_process_init (seconds, longer under load); Celery's
        # default 4 s "UP" deadline would kill and respawn them in a loop after a crash.
        worker_proc_alive_timeout=120,
        worker_hijack_root_logger=False,
        worker_send_task_events=False,
        timezone="UTC",
    )
    return app


class _PublishingChannel(redis_transport.Channel):
    """The stock Redis channel builds a new `redis.Redis` client for every message it publishes
    (~0.15 ms of CPU, a fifth of a publish); this one reuses one pooled, thread-safe client."""

    @contextmanager
    def conn_or_acquire(self, client: Any = None) -> Iterator[Any]:
        yield client or self._shared_client

    @cached_property
    def _shared_client(self) -> Any:
        return self._create_client()


class PublishingRedisTransport(redis_transport.Transport):
    """kombu's Redis transport with `_PublishingChannel`; producers only (workers use the stock one)."""

    Channel = _PublishingChannel


def make_producer(settings: Settings | None = None) -> Celery:
    """An app for producers (gateway, sweeper, workers chaining a step) to send tasks by name.

    It fails fast when the broker is down instead of blocking the request for seconds: the ticket is
    already committed, and the sweeper sends it once Redis is back. The result backend (the same
    Redis, used by the knowledge-base calls that wait for an answer) fails fast too: its default
    reconnect policy held each such request for 19 s, a threadpool thread each, while Redis was down.
    """
    settings = settings or get_settings()
    app = make_celery("support_copilot", settings)
    if settings.redis_url.startswith("redis://"):
        app.conf.broker_transport = "shared.celery:PublishingRedisTransport"
    app.conf.broker_connection_timeout = 1
    app.conf.broker_transport_options = {
        **app.conf.broker_transport_options,
        "max_retries": 0,
        "interval_start": 0,
        "interval_step": 0.2,
    }
    app.conf.result_backend_transport_options = {
        **app.conf.result_backend_transport_options,
        "retry_policy": {"max_retries": 0},
    }
    app.conf.redis_socket_connect_timeout = 1
    return app


@lru_cache
def get_producer() -> Celery:
    """The process-wide producer for the configured REDIS_URL."""
    return make_producer()


def send_quietly(
    task: str, key: str | int, queue: str, *, expires: float | None = None, countdown: float | None = None
) -> bool:
    """Send `task(key)` to `queue` without waiting, retrying or raising; False (logged) when not sent.

    Callers commit first and leave what was not sent to the sweeper, which sends it again once the
    broker is back (tickets left queued or classified, articles left pending). A message not started
    within `expires` seconds is discarded by the worker (for requests a later one supersedes); one with a
    `countdown` starts no sooner than that many seconds after sending.
    """
    try:
        # declare=[]: Celery publishes to a direct queue on the default exchange, keyed by the queue's
        # name, so the message reaches the queue's list with no binding declared (a Redis restarted
        # empty included); declaring per message would cost a fifth of the publish. argsrepr skips
        # saferepr.
        get_producer().send_task(
            task,
            args=[key],
            queue=queue,
            retry=False,
            ignore_result=True,
            declare=[],
            argsrepr=repr([key]),
            kwargsrepr="{}",
            expires=expires,
            countdown=countdown,
        )
    except Exception as exc:  # kombu raises several types; every one means "not sent"
        log.warning("could not send %s for %s (the sweeper sends it again): %s", task, key, exc)
        return False
    return True


def transient_errors() -> tuple[type[BaseException], ...]:
    """Exceptions that mean "try again later": broker/DB/network hiccups and LLM timeouts or 429s."""
    import redis
    from kombu.exceptions import OperationalError as KombuOperationalError
    from sqlalchemy.exc import InterfaceError, OperationalError

    from shared.errors import TransientError

    return (
        TransientError,
        OperationalError,
        InterfaceError,
        redis.RedisError,
        KombuOperationalError,
        ConnectionError,
        TimeoutError,
    )


def retry_countdown(retries: int, *, factor: float = 2.0, maximum: float = 60.0) -> float:
    """Seconds before retry number `retries + 1`: exponential, with the upper half jittered.

    Full jitter (anywhere from 0 to the backoff) spread workers apart but, measured on a PostgreSQL
    restart, spent all 5 retries within 3.5 s, long before the database was back. Half-fixed, the
    5 default retries wait 31-62 s in all, which rides out a restart; a longer outage leaves the
    ticket waiting for the sweeper.
    """
    from celery.utils.time import get_exponential_backoff_interval

    backoff = get_exponential_backoff_interval(factor=factor, retries=retries, maximum=maximum, full_jitter=False)
    return backoff / 2 + random.uniform(0, backoff / 2)


def retry_transient(task: Task, exc: BaseException, settings: Settings) -> None:
    """Schedule the next try of the running `task` (raises celery's Retry) while `TASK_MAX_RETRIES`
    allows; returns once they are spent, for the caller to give up its own way."""
    if task.request.retries < settings.task_max_retries:
        # max_retries: Celery's own default (3) would otherwise end the retries first.
        countdown = retry_countdown(task.request.retries)
        raise task.retry(exc=exc, countdown=countdown, max_retries=settings.task_max_retries) from exc


def pipeline_task(app: Celery, name: str, settings: Settings | None = None):  # type: ignore[no-untyped-def]
    """Register a ticket-pipeline step: late ack, requeue on worker loss, bounded exponential retries.

    The wrapped function takes the ticket id only. After the last retry, or at once on an error that
    is not transient, the ticket is recorded `failed` with the reason instead of vanishing.
    """
    settings = settings or get_settings()
    retryable = transient_errors()

    def decorator(fn):  # type: ignore[no-untyped-def]
        @app.task(name=name, bind=True, acks_late=True, reject_on_worker_lost=True)
        def step(self, ticket_id: str):  # type: ignore[no-untyped-def]
            from shared.db import session_scope
            from shared.pipeline import record_failure

            try:
                return fn(ticket_id)
            except retryable as exc:
                retry_transient(self, exc, settings)
                with session_scope() as session:
                    record_failure(ticket_id, exc, session)
                return "failed"
            except Exception as exc:
                with session_scope() as session:
                    record_failure(ticket_id, exc, session)
                raise

        return step

    return decorator
