"""The knowledge base's table and its search index, kept honest while an index task is lost or late.

`kb_articles` is the source of truth; the rag_worker's Chroma index follows it through the
`rag_worker.kb.*` tasks the gateway sends on every save and delete. A task sent while the broker was
down, lost with a Redis restart, or given up after its retries would leave the two apart until a
worker restarted: so every search and draft drops hits of articles the table no longer has (the
rag_worker also drops them from its index then), and the sweeper sends the index task again for
articles left `pending`. A lost delete leaves no row to sweep for, so the sweeper also asks a
rag_worker to check its whole index against the table now and then (`request_reconcile`).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from shared.celery import KB_INDEX_TASK, KB_QUEUE, KB_RECONCILE_TASK, send_quietly
from shared.models import KBArticle, utcnow
from shared.schemas import KBHit

log = logging.getLogger(__name__)


def live_hits(session: Session, hits: Sequence[KBHit]) -> list[KBHit]:
    """`hits` minus articles deleted from the table but not yet dropped from the index."""
    if not hits:
        return []
    ids = {hit.article_id for hit in hits}
    alive = set(session.scalars(select(KBArticle.article_id).where(KBArticle.article_id.in_(ids))))
    return [hit for hit in hits if hit.article_id in alive]


def resend_pending_articles(
    session: Session, *, older_than_s: float, now: datetime | None = None, limit: int = 500
) -> list[str]:
    """Send the index task again for articles `pending` for longer than `older_than_s`; returns their ids.

    `index_requested_at` is bumped, so an article whose task keeps failing is sent once per
    `older_than_s`, not on every pass; `updated_at` is kept, since it is the version the task claims.
    """
    now = now or utcnow()
    cutoff = now - timedelta(seconds=older_than_s)
    due = session.scalars(
        select(KBArticle.article_id)
        .where(
            KBArticle.index_state == "pending",
            or_(KBArticle.index_requested_at.is_(None), KBArticle.index_requested_at < cutoff),
        )
        .order_by(KBArticle.updated_at)
        .limit(limit)
    ).all()
    sent: list[str] = []
    for article_id in due:
        if send_quietly(KB_INDEX_TASK, article_id, KB_QUEUE):
            session.execute(
                update(KBArticle)
                .where(KBArticle.article_id == article_id)
                .values(index_requested_at=now, updated_at=KBArticle.updated_at)
            )
            sent.append(article_id)
    session.commit()
    if sent:
        log.info("sweeper re-sent the index task for %d pending article(s)", len(sent))
    return sent


def request_reconcile(*, expires: float) -> bool:
    """Ask one rag_worker to check its index against the table; the request lapses after `expires`
    seconds, so requests piled up while no worker ran do not each scan the whole index."""
    return send_quietly(KB_RECONCILE_TASK, utcnow().isoformat(), KB_QUEUE, expires=expires)
