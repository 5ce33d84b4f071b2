"""A worker's start-up sync of the index with `kb_articles` while the gateway saves and deletes
articles, and their tasks run, at the same time (SQLite and PostgreSQL).

Each test commits the other write at an exact point of `sync_index`: just before it reads what the
index holds, or just before its bulk load writes the rows it read at the start.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rag_worker.knowledge import index_article, sync_index, to_article
from shared.models import KBArticle

V1 = "## Returns\nReturn items within 30 days of delivery for a full refund."
V2 = "## Returns\nReturn items within 60 days of delivery for a full refund."


class _Index:
    def __init__(self, index: Any, at: str, write: Callable[[], None]) -> None:
        self._index, self._at, self._write, self.fired = index, at, write, False

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._index, name)
        if name != self._at or self.fired:
            return method
        self.fired = True
        self._write()
        return method


class WriteDuringSync:
    """The real retriever, whose index commits `write` once, just before its method `at` runs."""

    def __init__(self, retriever: Any, at: str, write: Callable[[], None]) -> None:
        self._retriever = retriever
        self.index = _Index(retriever.index, at, write)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._retriever, name)


def _add(session_factory, article_id: str, content: str, retriever=None) -> None:  # type: ignore[no-untyped-def]
    """What the gateway's save does, then (with `retriever`) what the save's index task does."""
    with session_factory() as session:
        row = session.get(KBArticle, article_id) or KBArticle(article_id=article_id, title="Returns")
        row.content, row.index_state = content, "pending"
        session.add(row)
        session.commit()
    if retriever is not None:
        with session_factory() as session:
            assert index_article(session, retriever, article_id) in {"indexed", "unchanged"}
            session.commit()


def _indexed_hash(retriever, article_id: str) -> str | None:  # type: ignore[no-untyped-def]
    return retriever.index.article_hashes().get(article_id)


def _sync(session_factory, retriever) -> dict[str, int]:  # type: ignore[no-untyped-def]
    with session_factory() as session:
        counts = sync_index(session, retriever, seed_dir=None)
        session.commit()
    return counts


def test_an_article_saved_again_during_the_sync_is_indexed_at_its_new_version(session_factory, retriever) -> None:  # type: ignore[no-untyped-def]
    """The sync read version 1; version 2 was saved and indexed by its own task before the bulk load.
    The load puts version 1 back: the sync must index version 2 again, not leave version 1 searchable
    under a row that says `indexed`."""
    _add(session_factory, "kb_sync_saved", V1)
    proxy = WriteDuringSync(retriever, "load_articles", lambda: _add(session_factory, "kb_sync_saved", V2, retriever))

    counts = _sync(session_factory, proxy)

    assert proxy.index.fired and counts["redone"] == 1
    with session_factory() as session:
        row = session.get(KBArticle, "kb_sync_saved")
        assert row.content == V2 and row.index_state == "indexed"
        assert _indexed_hash(retriever, "kb_sync_saved") == to_article(row).content_hash


def test_an_article_deleted_during_the_sync_is_not_put_back(session_factory, retriever) -> None:  # type: ignore[no-untyped-def]
    _add(session_factory, "kb_sync_deleted", V1, retriever)

    def admin_deletes() -> None:
        with session_factory() as session:
            session.delete(session.get(KBArticle, "kb_sync_deleted"))
            session.commit()
        retriever.delete_article("kb_sync_deleted")  # the delete task

    proxy = WriteDuringSync(retriever, "load_articles", admin_deletes)
    _sync(session_factory, proxy)

    assert proxy.index.fired
    assert _indexed_hash(retriever, "kb_sync_deleted") is None


def test_an_article_created_during_the_sync_is_kept(session_factory, retriever) -> None:  # type: ignore[no-untyped-def]
    """Created and indexed by its own task after the sync read the table: not in the rows read, but
    in the table, so it is not an orphan to drop."""
    _add(session_factory, "kb_sync_kept", V1)
    proxy = WriteDuringSync(
        retriever, "article_hashes", lambda: _add(session_factory, "kb_sync_created", V2, retriever)
    )

    _sync(session_factory, proxy)

    assert proxy.index.fired
    assert _indexed_hash(retriever, "kb_sync_created") is not None
    with session_factory() as session:
        assert session.get(KBArticle, "kb_sync_created").index_state == "indexed"
        assert session.get(KBArticle, "kb_sync_kept").index_state == "indexed"
