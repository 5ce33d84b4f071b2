"""Celery tasks of the rag_worker; the work itself is in `service`, `retrieval` and `drafting`."""

from __future__ import annotations

import logging

from celery.signals import worker_process_init

from rag_worker import knowledge, service
from rag_worker.worker import app, get_drafter, get_retriever
from shared.celery import (
    DRAFT_TASK,
    KB_DELETE_TASK,
    KB_INDEX_TASK,
    KB_RECONCILE_TASK,
    KB_SEARCH_TASK,
    pipeline_task,
    retry_transient,
    transient_errors,
)
from shared.config import Settings, get_settings

log = logging.getLogger(__name__)


@pipeline_task(app, DRAFT_TASK)
def draft_reply(ticket_id: str) -> str:
    """Retrieve KB passages for one ticket, draft a cited reply, store it and mark the ticket done."""
    return service.draft_reply(ticket_id, retriever=get_retriever(), drafter=get_drafter())


# --------------------------------------------------------------------------- knowledge base (queue `kb`)


def kb_write_task(name: str, settings: Settings | None = None):  # type: ignore[no-untyped-def]
    """Register an index write keyed by article id: late ack, requeued if the worker dies, transient
    errors retried with the pipeline's spacing (`retry_countdown`, `TASK_MAX_RETRIES`).

    Celery's autoretry with full jitter could spend every retry within seconds of an outage. After
    the last retry the error is raised: a save stays `pending` and the sweeper sends it again; a
    delete is healed by the next search that meets the article, or by the sweeper's reconcile.
    """
    settings = settings or get_settings()
    retryable = transient_errors()

    def decorator(fn):  # type: ignore[no-untyped-def]
        @app.task(name=name, bind=True, acks_late=True, reject_on_worker_lost=True, ignore_result=False)
        def write(self, article_id: str) -> str:  # type: ignore[no-untyped-def]
            try:
                return fn(article_id)
            except retryable as exc:
                retry_transient(self, exc, settings)
                raise

        return write

    return decorator


@kb_write_task(KB_INDEX_TASK)
def index_article(article_id: str) -> str:
    """Index (or re-index) one article from the `kb_articles` table; marks the row indexed."""
    from shared.db import session_scope

    with session_scope() as session:
        return knowledge.index_article(session, get_retriever(), article_id)


@kb_write_task(KB_DELETE_TASK)
def delete_article(article_id: str) -> str:
    """Remove a deleted article from the index (kept if it was re-created meanwhile)."""
    from shared.db import session_scope

    with session_scope() as session:
        return knowledge.delete_article(session, get_retriever(), article_id)


@app.task(name=KB_RECONCILE_TASK, acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def reconcile(requested_at: str) -> dict[str, list[str]]:
    """Check the whole index against `kb_articles` (sent by the sweeper; `requested_at` is for the logs).

    Not retried: the next request, one `KB_RECONCILE_INTERVAL_S` later, does the whole job again.
    """
    from shared.db import session_scope

    with session_scope() as session:
        return knowledge.reconcile_index(session, get_retriever())


# Search is a read the gateway waits for: a lost message just times out, so no late ack.
@app.task(name=KB_SEARCH_TASK, ignore_result=False)
def search(query: str, category: str | None = None, n: int = 3) -> list[dict]:
    """The hits for a query as JSON (what `GET /api/kb/search` returns); strict category filter."""
    from shared.db import session_scope

    with session_scope() as session:
        hits = knowledge.live_search(
            session, get_retriever(), query, category=category, n=n, strict_category=bool(category)
        )
    return knowledge.hits_payload(hits)


@worker_process_init.connect
def _sync_knowledge_base(**_: object) -> None:
    """Reconcile the index with the `kb_articles` table (seeding it from the shipped KB when empty)."""
    import redis

    from shared.config import get_settings
    from shared.db import session_scope

    settings = get_settings()
    try:
        # One process at a time: several children starting together would write the same articles.
        lock = redis.Redis.from_url(settings.redis_url).lock("rag_worker:kb-sync", timeout=300, blocking_timeout=300)
        with lock, session_scope() as session:
            counts = knowledge.sync_index(session, get_retriever(), seed_dir=settings.resolved_path(settings.kb_dir))
        log.info("knowledge base in sync with the database: %s", counts)
    except Exception as exc:  # a worker without a reachable, migrated database still drafts from the index
        log.warning("knowledge base not synced with the database: %s", exc)
