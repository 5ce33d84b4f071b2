"""The periodic index check: it drops articles whose delete task was lost without waiting for a search
to meet them, re-indexes `indexed` rows the index lost, and leaves everything else alone (SQLite and
PostgreSQL, the real Chroma index)."""

from __future__ import annotations

import pytest

from rag_worker.kb import Article, read_articles
from rag_worker.knowledge import reconcile_index, to_article, upsert_rows
from shared.models import KBArticle

LOST = Article(
    article_id="kb_recon_lost",
    title="Loyalty Points",
    content="## Loyalty points\nEvery dollar spent earns one loyalty point; 500 points are a $5 voucher.",
    category="billing",
    tags=("loyalty",),
)


@pytest.fixture
def shipped(session_factory, kb_dir, retriever):  # type: ignore[no-untyped-def]
    """The table holds the shipped articles, all `indexed`, as the module's index does."""
    with session_factory() as session:
        upsert_rows(session, read_articles(kb_dir))
        session.query(KBArticle).update({"index_state": "indexed"})
        session.commit()
    yield
    retriever.delete_article(LOST.article_id)
    for article in read_articles(kb_dir):
        retriever.index_article(article)  # put back what a test took out


def _reconcile(session_factory, retriever) -> dict[str, list[str]]:  # type: ignore[no-untyped-def]
    with session_factory() as session:
        result = reconcile_index(session, retriever)
        session.commit()
    return result


def _stored(session_factory, article_id: str) -> Article:  # type: ignore[no-untyped-def]
    """The article as its table row holds it."""
    with session_factory() as session:
        return to_article(session.get(KBArticle, article_id))


def test_an_index_in_step_with_the_table_is_left_alone(session_factory, retriever, shipped) -> None:  # type: ignore[no-untyped-def]
    version = retriever.index.version()

    assert _reconcile(session_factory, retriever) == {"removed": [], "reindexed": []}
    assert retriever.index.version() == version  # nothing was rewritten


def test_an_article_whose_delete_was_lost_is_dropped_without_a_search(session_factory, retriever, shipped) -> None:  # type: ignore[no-untyped-def]
    retriever.index_article(LOST)  # indexed, then its row deleted while the delete task was lost

    result = _reconcile(session_factory, retriever)

    assert result == {"removed": [LOST.article_id], "reindexed": []}
    assert LOST.article_id not in retriever.index.article_hashes()
    assert "kb_005" in retriever.index.article_hashes()
    assert LOST.article_id not in [h.article_id for h in retriever.search("how many loyalty points per dollar", n=3)]


def test_an_indexed_row_the_index_lost_is_indexed_again(session_factory, retriever, shipped) -> None:  # type: ignore[no-untyped-def]
    retriever.delete_article("kb_006")  # e.g. a Chroma volume restored from an older copy

    result = _reconcile(session_factory, retriever)

    assert result == {"removed": [], "reindexed": ["kb_006"]}
    with session_factory() as session:
        row = session.get(KBArticle, "kb_006")
        assert retriever.index.article_hashes()["kb_006"] == to_article(row).content_hash
        assert row.index_state == "indexed"


def test_a_pending_row_is_left_to_its_own_task(session_factory, retriever, shipped) -> None:  # type: ignore[no-untyped-def]
    with session_factory() as session:
        upsert_rows(session, [LOST])  # saved: pending, its index task not run yet
        session.commit()

    assert _reconcile(session_factory, retriever) == {"removed": [], "reindexed": []}
    assert LOST.article_id not in retriever.index.article_hashes()
    with session_factory() as session:
        assert session.get(KBArticle, LOST.article_id).index_state == "pending"


def test_an_article_created_after_the_table_was_read_is_kept(session_factory, retriever, shipped, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Saved and indexed between the check's read of the table and its read of the index: the index
    holds an article the check's copy of the table lacks, and the live table decides."""
    read_index = retriever.index.article_hashes

    def save_then_read():  # type: ignore[no-untyped-def]
        retriever.index_article(LOST)
        with session_factory() as other:
            upsert_rows(other, [LOST])
            other.commit()
        return read_index()

    monkeypatch.setattr(retriever.index, "article_hashes", save_then_read)

    assert _reconcile(session_factory, retriever) == {"removed": [], "reindexed": []}
    monkeypatch.undo()
    assert LOST.article_id in retriever.index.article_hashes()


def test_many_lost_entries_are_indexed_in_one_load(session_factory, retriever, shipped, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """A Chroma server that lost its volume: one embedding pass and one search reload, not one per article."""
    lost = ["kb_001", "kb_004", "kb_006", "kb_009"]
    for article_id in lost:
        retriever.delete_article(article_id)
    refreshes: list[bool] = []
    refresh = retriever.refresh
    monkeypatch.setattr(retriever, "refresh", lambda force=False: refreshes.append(force) or refresh(force=force))

    assert _reconcile(session_factory, retriever) == {"removed": [], "reindexed": lost}

    assert refreshes == [True]
    assert set(lost) <= set(retriever.index.article_hashes())


def test_a_lost_entry_saved_again_during_the_check_is_indexed_as_saved(
    session_factory, retriever, shipped, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    """The check read the old version; a save (and its index task) lands before the bulk load puts that
    version back: the article is indexed again as it is now."""
    from dataclasses import replace

    retriever.delete_article("kb_006")
    newer = replace(_stored(session_factory, "kb_006"), content="## Tracking\nTracking links now update hourly.")
    load = retriever.index.load_articles

    def save_then_load(articles, **options):  # type: ignore[no-untyped-def]
        with session_factory() as other:
            upsert_rows(other, [newer])
            other.commit()
        retriever.index_article(newer)  # the save's own task
        return load(articles, **options)

    monkeypatch.setattr(retriever.index, "load_articles", save_then_load)

    _reconcile(session_factory, retriever)

    assert retriever.index.article_hashes()["kb_006"] == newer.content_hash
