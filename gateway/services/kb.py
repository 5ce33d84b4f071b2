"""Knowledge-base articles and search for the gateway, which loads no model.

Articles are stored in `kb_articles`; the rag_worker owns the search index. Writes are sent to it as
Celery tasks on queue `kb` (waited for up to KB_TASK_TIMEOUT_S so the answer can say "indexed");
searches are a Celery call with the same timeout through the Redis result backend.
"""

from __future__ import annotations

import logging
import secrets
from typing import Any

from celery.exceptions import TimeoutError as CeleryTimeout
from sqlalchemy import select
from sqlalchemy.orm import Session

from gateway.services.erasure import ensure_not_erased
from gateway.services.tickets import get_ticket
from shared.celery import KB_DELETE_TASK, KB_INDEX_TASK, KB_QUEUE, KB_SEARCH_TASK, get_producer
from shared.config import Settings
from shared.db import claim_row
from shared.errors import Conflict, InvalidInput, NotFound, Unavailable
from shared.kb import live_hits
from shared.models import KBArticle, Ticket, utcnow
from shared.pipeline import never_classified, request_round, send_next
from shared.schemas import KBArticleCreate, KBHit, KBSearchResult, ProcessingState, clean_text

log = logging.getLogger(__name__)

MAX_N = 20


def get_article(session: Session, article_id: str) -> KBArticle:
    """The article, or NotFound naming the id."""
    article = session.get(KBArticle, article_id)
    if article is None:
        raise NotFound(f"knowledge-base article '{article_id}' not found")
    return article


def list_articles(session: Session, *, category: str | None, limit: int, offset: int) -> list[KBArticle]:
    """Articles by id, optionally of one category."""
    query = select(KBArticle).order_by(KBArticle.article_id).limit(limit).offset(offset)
    if category:
        query = query.where(KBArticle.category == category)
    return list(session.scalars(query))


def save_article(session: Session, data: KBArticleCreate, *, settings: Settings) -> tuple[KBArticle, bool]:
    """Create or replace an article and have it indexed; returns it and whether it was new."""
    article_id = data.article_id or f"kb_{secrets.token_hex(4)}"
    article = session.get(KBArticle, article_id)
    created = article is None
    if article is None:
        article = KBArticle(article_id=article_id)
        session.add(article)
    article.title = data.title
    article.content = data.content
    article.category = data.category.value if data.category else None
    article.tags = sorted({t.strip().lower() for t in data.tags if t.strip()})
    article.index_state = "pending"
    article.index_requested_at = utcnow()
    session.commit()
    _run_on_worker(KB_INDEX_TASK, [article_id], settings=settings)  # if it is not sent, the sweeper sends it
    session.refresh(article)
    return article, created


def delete_article(session: Session, article_id: str, *, settings: Settings) -> None:
    """Delete an article; search stops returning it at once, the index drops it shortly after."""
    session.delete(get_article(session, article_id))
    session.commit()
    _run_on_worker(KB_DELETE_TASK, [article_id], settings=settings)


def search(session: Session, query: str, *, category: str | None, n: int, settings: Settings) -> KBSearchResult:
    """The rag_worker's hits for `query`, minus articles deleted but not yet dropped from the index."""
    query = clean_text(query)
    if not query:
        raise InvalidInput("q must not be empty")
    if not 1 <= n <= MAX_N:
        raise InvalidInput(f"n must be between 1 and {MAX_N}")
    result = _run_on_worker(KB_SEARCH_TASK, [query, category, n], settings=settings, required=True)
    hits = live_hits(session, [KBHit.model_validate(h) for h in result or []])
    return KBSearchResult(query=query, category=category, hits=hits)


def request_draft(session: Session, ticket_id: str) -> Ticket:
    """Send a classified or finished ticket back to the rag_worker for a new draft."""
    ticket = get_ticket(session, ticket_id)
    ensure_not_erased(ticket)
    if ticket.processing_state == ProcessingState.queued.value:
        raise Conflict(f"ticket '{ticket_id}' is not classified yet; its draft follows automatically")
    if never_classified(ticket):  # it failed before it was classified
        raise Conflict(
            f"ticket '{ticket_id}' was never classified (processing failed: {ticket.processing_error}); "
            f"re-run it with POST /api/tickets/{ticket_id}/retry"
        )
    if not claim_row(session, Ticket, ticket_id, erased_at=None):  # erased since it was read: refused
        session.rollback()
        ensure_not_erased(get_ticket(session, ticket_id))
    request_round(session, ticket, ProcessingState.classified)
    session.commit()
    send_next(ticket_id, ProcessingState.classified)  # if the broker is down, the sweeper re-sends it
    return ticket


def _run_on_worker(task: str, args: list[Any], *, settings: Settings, required: bool = False) -> Any:
    """Send a task to queue `kb` and wait for its result; None (logged) when it is slow or unsendable.

    With `required`, failure to get an answer is an `Unavailable` error instead.
    """
    try:
        result = get_producer().send_task(task, args=args, queue=KB_QUEUE, retry=False)
    except Exception as exc:  # kombu raises several types; all mean "broker unreachable"
        log.warning("could not send %s: %s", task, exc)
        if required:
            raise Unavailable("the task queue is unreachable; retry shortly") from exc
        return None
    try:
        return result.get(timeout=settings.kb_task_timeout_s, propagate=True)
    except CeleryTimeout as exc:
        if required:
            raise Unavailable(
                f"the knowledge-base worker did not answer within {settings.kb_task_timeout_s:g}s; "
                "is the rag_worker running?"
            ) from exc
        log.info("%s still running after %ss; it completes in the background", task, settings.kb_task_timeout_s)
        return None
    except Exception as exc:
        if required:
            raise Unavailable(f"knowledge-base search failed: {exc}") from exc
        log.warning("%s failed: %s", task, exc)
        return None
    finally:
        if result.ready():
            result.forget()
