"""The knowledge base's database side, as the rag_worker sees it.

The `kb_articles` table is the source of truth (the gateway writes it); the Chroma index is derived
from it. Each worker process reconciles the index with the table at start, the `rag_worker.kb.*`
tasks keep them in step as articles are created, changed and deleted, and the sweeper asks for a
reconciliation every `KB_RECONCILE_INTERVAL_S` to catch a delete whose task was lost.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from rag_worker.kb import Article, read_articles
from rag_worker.retrieval import Retriever
from shared.db import claim_row
from shared.kb import live_hits
from shared.models import KBArticle, utcnow
from shared.schemas import KBHit

log = logging.getLogger(__name__)


def to_article(row: KBArticle) -> Article:
    """The indexable form of a table row."""
    return Article(
        article_id=row.article_id,
        title=row.title,
        content=row.content,
        category=row.category,
        tags=tuple(str(t).lower() for t in row.tags or ()),
    )


def upsert_rows(session: Session, articles: list[Article]) -> int:
    """Insert or update table rows from parsed articles; returns how many rows changed."""
    changed = 0
    for article in articles:
        row = session.get(KBArticle, article.article_id)
        if row is not None and to_article(row).content_hash == article.content_hash:
            continue
        if row is None:
            row = KBArticle(article_id=article.article_id)
            session.add(row)
        row.title = article.title
        row.content = article.content
        row.category = article.category
        row.tags = list(article.tags)
        row.index_state = "pending"
        changed += 1
    return changed


def index_article(session: Session, retriever: Retriever, article_id: str) -> str:
    """Bring the index in line with one article row: `indexed`, `unchanged`, `deleted` (row gone), or
    `superseded`: saved again while this ran, so left `pending` for the task that save sent."""
    row = session.get(KBArticle, article_id, populate_existing=True)  # as committed now, not as first read
    if row is None:
        retriever.delete_article(article_id)
        return "deleted"
    changed = retriever.index_article(to_article(row))
    # Every save stamps updated_at; "indexed" is written only over the version that was indexed.
    if not claim_row(session, KBArticle, article_id, updated_at=row.updated_at):
        return "superseded"
    row.index_state = "indexed"
    row.indexed_at = utcnow()
    return "indexed" if changed else "unchanged"


def delete_article(session: Session, retriever: Retriever, article_id: str) -> str:
    """Drop an article from the index unless it was re-created meanwhile: `deleted`, `absent` or `kept`."""
    if session.get(KBArticle, article_id) is not None:
        return "kept"
    return "deleted" if retriever.delete_article(article_id) else "absent"


def drop_orphans(session: Session, retriever: Retriever, indexed: Iterable[str], wanted: set[str]) -> list[str]:
    """Drop indexed articles missing from `wanted` (the table as read) that the table still lacks."""
    unknown = sorted(set(indexed) - wanted)
    return [article_id for article_id in unknown if delete_article(session, retriever, article_id) == "deleted"]


def load_as_read(session: Session, retriever: Retriever, rows: list[KBArticle]) -> tuple[dict[str, int], set[str]]:
    """Bulk-index `rows` as read, then index each one saved again or deleted since as it is now (the
    bulk load may have put back the version read); returns the load's counts and those ids.

    One embedding pass and no search reload per article: re-indexing one at a time reloads the
    worker's passages (and rebuilds BM25) after each.
    """
    counts = retriever.index.load_articles(to_article(row) for row in rows)
    versions = dict(session.execute(select(KBArticle.article_id, KBArticle.updated_at)).tuples().all())
    moved = {row.article_id for row in rows if versions.get(row.article_id) != row.updated_at}
    for article_id in sorted(moved):
        index_article(session, retriever, article_id)
    return counts, moved


def reconcile_index(session: Session, retriever: Retriever) -> dict[str, list[str]]:
    """Bring the running index back in line with the table: drop articles the table no longer has,
    re-index `indexed` rows whose index entry is missing or differs.

    It catches what no task will: a delete whose task was lost (no row is left to sweep for), and
    an index that lost entries (a Chroma volume restored from an older copy). `pending` rows are
    left to their own task and the sweeper. The table is read before the index, so an article
    saved or deleted in between is judged again live (`delete_article`, `load_as_read`).
    """
    rows = {row.article_id: row for row in session.scalars(select(KBArticle))}
    indexed = retriever.index.article_hashes()
    removed = drop_orphans(session, retriever, indexed, set(rows))
    differs = [
        article_id
        for article_id, row in sorted(rows.items())
        if row.index_state == "indexed" and indexed.get(article_id) != to_article(row).content_hash
    ]
    if differs:
        load_as_read(session, retriever, [rows[article_id] for article_id in differs])
        retriever.refresh(force=True)
    if removed or differs:
        log.warning(
            "index reconciled with the table: dropped %s; re-indexed %s",
            ", ".join(removed) or "none",
            ", ".join(differs) or "none",
        )
    return {"removed": removed, "reindexed": differs}


HEAL_ROUNDS = 3


def live_search(session: Session, retriever: Retriever, query: str, **options: Any) -> list[KBHit]:
    """`retriever.search`, minus articles the table no longer holds, which are dropped from the index.

    Such an article's delete task was lost (broker down, Redis restart, retries spent), and nothing
    sends it again: the row it would be found by is gone. The search that meets it removes it and
    searches again, so the places it took go to live articles; a few rounds cover several at once.
    """
    hits: list[KBHit] = []
    for _ in range(HEAL_ROUNDS):
        found = retriever.search(query, **options)
        hits = live_hits(session, found)
        stale = {hit.article_id for hit in found} - {hit.article_id for hit in hits}
        if not stale:
            break
        removed = [
            article_id for article_id in sorted(stale) if delete_article(session, retriever, article_id) == "deleted"
        ]
        if removed:  # "kept" ones were re-created meanwhile and are found live on the next round
            log.warning("dropped %d deleted article(s) still in the index: %s", len(removed), ", ".join(removed))
    return hits


def sync_index(session: Session, retriever: Retriever, *, seed_dir: Path | None) -> dict[str, int]:
    """Make the index match the table; an empty table is first seeded from `seed_dir` (the shipped KB).

    The gateway keeps saving and deleting while a worker starts, and the tasks those send can run
    in between: an article created meanwhile is not dropped, and one saved again or deleted after
    the table was read is indexed as it is now (the bulk load may have put the version read back).
    """
    rows = list(session.scalars(select(KBArticle)))
    seeded = 0
    if not rows and seed_dir is not None:
        seeded = upsert_rows(session, read_articles(seed_dir))
        session.flush()
        rows = list(session.scalars(select(KBArticle)))
    removed = len(drop_orphans(session, retriever, retriever.index.article_hashes(), {r.article_id for r in rows}))
    counts, moved = load_as_read(session, retriever, rows)
    now = utcnow()
    for row in rows:
        if row.article_id in moved or row.index_state == "indexed":
            continue
        if claim_row(session, KBArticle, row.article_id, updated_at=row.updated_at):
            row.index_state, row.indexed_at = "indexed", now
    retriever.refresh(force=True)
    return {"seeded": seeded, "removed": removed, "redone": len(moved), **counts}


def hits_payload(hits: list[Any]) -> list[dict[str, Any]]:
    """KBHits as plain JSON for the Celery result backend."""
    return [hit.model_dump() for hit in hits]
