"""Articles deleted from `kb_articles` whose delete task was lost: the search that meets them drops
them from the index and gives their places to live articles (SQLite and PostgreSQL)."""

from __future__ import annotations

import pytest

from rag_worker.kb import Article, read_articles
from rag_worker.knowledge import live_search, upsert_rows
from shared.models import KBArticle

QUERY = "where is my parcel, the tracking has not moved"
STUCK = Article(
    article_id="kb_stuck_lost",
    title="Parcel Tracking Not Moving",
    content="## Tracking has not moved\nIf your parcel's tracking has not moved for 5 days, we open a carrier trace.",
    category="shipping",
    tags=("tracking", "parcel"),
)
WHERE = Article(
    article_id="kb_where_lost",
    title="Where Is My Parcel?",
    content="## Where is my parcel\nYour parcel's tracking link shows where it is; tracking can pause in transit.",
    category="shipping",
    tags=("parcel", "tracking"),
)


@pytest.fixture
def shipped(session_factory, kb_dir, retriever):  # type: ignore[no-untyped-def]
    """The table holds the shipped articles, which the module's index was built from."""
    with session_factory() as session:
        upsert_rows(session, read_articles(kb_dir))
        session.commit()
    yield
    for article in (STUCK, WHERE):
        retriever.delete_article(article.article_id)


def _lost_delete(session_factory, retriever, *articles: Article) -> None:  # type: ignore[no-untyped-def]
    """Saved and indexed, then deleted from the table while the delete task was lost."""
    for article in articles:
        retriever.index_article(article)
    with session_factory() as session:
        for article in articles:
            session.query(KBArticle).filter_by(article_id=article.article_id).delete()
        session.commit()


def _search(session_factory, retriever, **options):  # type: ignore[no-untyped-def]
    with session_factory() as session:
        hits = live_search(session, retriever, QUERY, n=3, **options)
        session.commit()
    return [hit.article_id for hit in hits]


def test_a_deleted_article_left_in_the_index_is_dropped_and_its_place_filled(
    session_factory, retriever, shipped
) -> None:  # type: ignore[no-untyped-def]
    expected = _search(session_factory, retriever)
    _lost_delete(session_factory, retriever, STUCK)
    assert retriever.search(QUERY, n=3)[0].article_id == STUCK.article_id  # it would take the top place

    got = _search(session_factory, retriever)

    assert got == expected and len(got) == 3  # three live articles, as before it was added
    assert STUCK.article_id not in retriever.index.article_hashes()  # gone from the index, not only filtered
    assert STUCK.article_id not in [h.article_id for h in retriever.search(QUERY, n=3)]


def test_several_stale_articles_are_dropped_in_one_search(session_factory, retriever, shipped) -> None:  # type: ignore[no-untyped-def]
    expected = _search(session_factory, retriever, category="shipping", strict_category=True)
    _lost_delete(session_factory, retriever, STUCK, WHERE)

    got = _search(session_factory, retriever, category="shipping", strict_category=True)

    assert got == expected
    assert not {STUCK.article_id, WHERE.article_id} & set(retriever.index.article_hashes())


def test_an_article_the_table_holds_is_kept(session_factory, retriever, shipped) -> None:  # type: ignore[no-untyped-def]
    retriever.index_article(STUCK)
    with session_factory() as session:
        upsert_rows(session, [STUCK])
        session.commit()

    got = _search(session_factory, retriever)

    assert got[0] == STUCK.article_id
    assert STUCK.article_id in retriever.index.article_hashes()
