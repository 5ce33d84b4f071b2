"""One factory for every Celery app in the project, so producers and consumers agree on the wire.

The gateway sends tasks by name (it never imports a worker module, which would pull in torch);
the names and queues below are the contract.
"""

from __future__ import annotations

from functools import lru_cache

from celery import Celery
from kombu import Queue

from shared.config import Settings, get_settings

CLASSIFY_QUEUE = "classify"
DRAFT_QUEUE = "draft"
KB_QUEUE = "kb"

CLASSIFY_TASK = "classifier_worker.classify_ticket"
DRAFT_TASK = "rag_worker.draft_reply"

TASK_ROUTES = {
    CLASSIFY_TASK: {"queue": CLASSIFY_QUEUE},
    DRAFT_TASK: {"queue": DRAFT_QUEUE},
    "rag_worker.kb.*": {"queue": KB_QUEUE},
}


def make_celery(name: str, settings: Settings | None = None) -> Celery:
    """A Celery app over Redis: JSON only, late acks, requeue on worker loss, prefetch 1."""
    settings = settings or get_settings()
    app = Celery(name, broker=settings.redis_url, backend=settings.redis_url)
    app.conf.update(
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_queues=[Queue(CLASSIFY_QUEUE), Queue(DRAFT_QUEUE), Queue(KB_QUEUE)],
        task_default_queue=CLASSIFY_QUEUE,
        task_routes=TASK_ROUTES,
        task_ignore_result=True,
        result_expires=3600,
        broker_connection_retry_on_startup=True,
        # A message taken by a worker that then dies unannounced returns to the queue after this.
        broker_transport_options={"visibility_timeout": settings.broker_visibility_timeout_s},
        result_backend_transport_options={"visibility_timeout": settings.broker_visibility_timeout_s},
        worker_hijack_root_logger=False,
        worker_send_task_events=False,
        timezone="UTC",
    )
    return app


@lru_cache
def get_producer() -> Celery:
    """The app producers (gateway, sweeper) use to send tasks by name."""
    return make_celery("support_copilot")
