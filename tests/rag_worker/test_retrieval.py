"""Hybrid retrieval over the shipped KB in a real (embedded) Chroma store."""

from __future__ import annotations

import pytest

from rag_worker.kb import Article
from rag_worker.retrieval import Retriever, relevance


def test_late_order_finds_shipping_or_tracking(retriever: Retriever) -> None:
    hits = retriever.search("My order #2021 still hasn't arrived, it's been 10 days", n=3)

    assert hits[0].article_id in {"kb_001", "kb_006"}
    assert len({h.article_id for h in hits}) == len(hits)  # one passage per article
    assert all(0 <= h.relevance_score <= 1 for h in hits)
    assert hits[0].passage and hits[0].title


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("I forgot my password and the reset email never came", "kb_004"),
        ("I was charged twice for the same order", "kb_005"),
        ("How do I cancel my subscription before it renews?", "kb_010"),
        ("My package is stuck at customs", "kb_009"),
    ],
)
def test_questions_find_their_article(retriever: Retriever, query: str, expected: str) -> None:
    assert retriever.search(query, n=1)[0].article_id == expected


def test_relevance_is_monotonic_and_bounded() -> None:
    cosines = [-1.0, -0.2, 0.0, 0.2, 0.4, 0.6, 0.8, 1.0]
    scores = [relevance(c) for c in cosines]

    assert all(0 <= s <= 1 for s in scores)
    assert scores == sorted(scores) and len(set(scores)) == len(scores)
    assert relevance(0.4, bm25=8.0) > relevance(0.4, bm25=1.0) > relevance(0.4)


def test_threshold_drops_off_topic_queries(retriever: Retriever) -> None:
    assert retriever.search("Can you recommend a good movie for tonight?") == []
    loose = retriever.search("Can you recommend a good movie for tonight?", min_relevance=0.0)
    assert len(loose) == 3
    assert all(h.relevance_score < retriever.threshold for h in loose)


def test_category_filter_and_hint(retriever: Retriever) -> None:
    query = "I want a refund for the renewal you charged me"
    strict = retriever.search(query, category="subscription", strict_category=True, n=5, min_relevance=0)
    assert strict and {h.category for h in strict} == {"subscription"}
    assert retriever.search(query, category="refund", strict_category=True, n=5)[0].article_id == "kb_002"
    # As a hint, a wrong category does not hide the right article.
    hinted = retriever.search("I forgot my password", category="billing", n=3)
    assert hinted[0].article_id == "kb_004"


@pytest.mark.parametrize(("kwargs", "message"), [({"query": "  "}, "empty"), ({"query": "x", "n": 0}, "between")])
def test_bad_arguments_are_rejected(retriever: Retriever, kwargs: dict, message: str) -> None:
    query = kwargs.pop("query")
    with pytest.raises(ValueError, match=message):
        retriever.search(query, **kwargs)


def test_index_update_and_delete_are_seen_by_search(retriever: Retriever) -> None:
    article = Article("kb_test", "Gift wrapping", "## Gift wrapping\nWe gift wrap any order for $3.50 with a card.")

    assert retriever.index_article(article) is True
    assert retriever.index_article(article) is False  # same content: nothing to do
    assert retriever.search("Can you gift wrap my order?", n=1)[0].article_id == "kb_test"

    assert retriever.delete_article("kb_test") is True
    assert all(h.article_id != "kb_test" for h in retriever.search("Can you gift wrap my order?", n=5))
    assert retriever.delete_article("kb_test") is False


def test_loading_twice_changes_nothing(retriever: Retriever, kb_dir) -> None:  # type: ignore[no-untyped-def]
    from rag_worker.kb import read_articles

    before = retriever.index.count()
    counts = retriever.index.load_articles(read_articles(kb_dir))

    assert counts == {"indexed": 0, "unchanged": 10, "passages": before}


def test_another_process_sees_writes(kb_settings, retriever: Retriever) -> None:  # type: ignore[no-untyped-def]
    """Two workers on one embedded store: a write by one is searchable in the other after refresh."""
    import subprocess
    import sys
    import textwrap

    script = textwrap.dedent(
        f"""
        from shared.config import Settings
        from rag_worker.kb import Article
        from rag_worker.retrieval import load_retriever
        r = load_retriever(Settings(chroma_path={str(kb_settings.chroma_path)!r}))
        r.index_article(Article("kb_other", "Loyalty points", "## Points\\nEvery dollar earns 5 loyalty points."))
        """
    )
    subprocess.run([sys.executable, "-c", script], check=True, timeout=120)

    retriever.refresh(force=True)
    assert retriever.search("how many loyalty points do I earn per dollar", n=1)[0].article_id == "kb_other"
    retriever.delete_article("kb_other")
