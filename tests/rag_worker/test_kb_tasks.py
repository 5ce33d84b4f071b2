"""The index write tasks ride out a transient failure with the pipeline's retry spacing (run eagerly,
retries inline and countdowns recorded, against a real database: SQLite and PostgreSQL)."""

from __future__ import annotations

import pytest

from rag_worker.kb import Article
from rag_worker.knowledge import to_article, upsert_rows
from shared.errors import TransientError
from shared.models import KBArticle

ARTICLE = Article(
    article_id="kb_retry",
    title="Store Credit",
    content="## Store credit\nStore credit never expires and can be spent on any order.",
    category="billing",
)


class Flaky:
    """The real retriever, whose index write fails transiently `failures` times first."""

    def __init__(self, retriever, failures: int) -> None:  # type: ignore[no-untyped-def]
        self.retriever, self.failures, self.attempts = retriever, failures, 0

    def index_article(self, article: Article) -> bool:
        self.attempts += 1
        if self.attempts <= self.failures:
            raise TransientError("chroma is busy")
        return self.retriever.index_article(article)


@pytest.fixture
def run(session_factory, monkeypatch):  # type: ignore[no-untyped-def]
    """`index_article` as the worker runs it, on the test database; returns (result, waits)."""
    from rag_worker import tasks
    from shared import celery, db

    with session_factory() as session:
        upsert_rows(session, [ARTICLE])
        session.commit()
    monkeypatch.setattr(db, "get_sessionmaker", lambda: session_factory)
    waits: list[float] = []
    countdown = celery.retry_countdown
    monkeypatch.setattr(celery, "retry_countdown", lambda retries: waits.append(countdown(retries)) or waits[-1])

    def run(retriever):  # type: ignore[no-untyped-def]
        monkeypatch.setattr(tasks, "get_retriever", lambda: retriever)
        return tasks.index_article.apply(args=[ARTICLE.article_id]), waits

    return run


def test_a_transient_failure_is_retried_and_the_article_indexed(run, retriever, session_factory) -> None:  # type: ignore[no-untyped-def]
    flaky = Flaky(retriever, failures=2)

    result, waits = run(flaky)

    assert result.get() in {"indexed", "unchanged"} and flaky.attempts == 3
    assert len(waits) == 2 and 1 <= waits[0] <= 2 and 2 <= waits[1] <= 4  # half fixed, half jittered
    with session_factory() as session:
        row = session.get(KBArticle, ARTICLE.article_id)
        assert row.index_state == "indexed"
        assert retriever.index.article_hashes()[ARTICLE.article_id] == to_article(row).content_hash
    retriever.delete_article(ARTICLE.article_id)


def test_retries_end_after_task_max_retries_spread_over_half_a_minute(run, retriever, session_factory) -> None:  # type: ignore[no-untyped-def]
    """Celery's autoretry with full jitter, used before, could spend all of them within seconds."""
    from shared.config import get_settings

    flaky = Flaky(retriever, failures=100)

    result, waits = run(flaky)

    assert result.failed() and isinstance(result.result, TransientError)
    assert flaky.attempts == 1 + get_settings().task_max_retries == 1 + len(waits)
    assert sum(waits) >= 31
    with session_factory() as session:  # left for the sweeper to send again
        assert session.get(KBArticle, ARTICLE.article_id).index_state == "pending"
