"""The knowledge base's table rules that cover a lost index task (SQLite and PostgreSQL, real Redis)."""

from __future__ import annotations

import json
from datetime import timedelta

from shared.kb import live_hits, resend_pending_articles
from shared.models import KBArticle, utcnow
from shared.schemas import KBHit


def _article(article_id: str, **values: object) -> KBArticle:
    return KBArticle(article_id=article_id, title="Returns", content="Return items within 30 days.", **values)


def _hit(article_id: str) -> KBHit:
    return KBHit(article_id=article_id, title="Returns", passage="Return items.", relevance_score=0.9)


def test_pending_articles_are_sent_again_once_per_interval(session_factory, redis_client) -> None:  # type: ignore[no-untyped-def]
    """An article saved while the broker was down (or whose task was lost or gave up) is sent again;
    indexed ones, and ones sent moments ago, are not."""
    old = utcnow() - timedelta(minutes=10)
    with session_factory() as session:
        session.add_all(
            [
                _article("kb_lost", index_state="pending", index_requested_at=old),
                _article("kb_legacy", index_state="pending"),  # saved before the column existed
                _article("kb_in_flight", index_state="pending", index_requested_at=utcnow()),
                _article("kb_done", index_state="indexed", index_requested_at=old),
            ]
        )
        session.commit()
        versions = dict(session.query(KBArticle.article_id, KBArticle.updated_at).all())

    with session_factory() as session:
        sent = resend_pending_articles(session, older_than_s=60)

    assert sorted(sent) == ["kb_legacy", "kb_lost"]
    messages = [json.loads(m) for m in redis_client.lrange("kb", 0, -1)]
    assert sorted(m["headers"]["argsrepr"] for m in messages) == ["['kb_legacy']", "['kb_lost']"]
    assert all(m["headers"]["task"] == "rag_worker.kb.index_article" for m in messages)
    with session_factory() as session:
        assert resend_pending_articles(session, older_than_s=60) == []  # bumped: not sent on every pass
        rows = {row.article_id: row for row in session.query(KBArticle)}
        assert rows["kb_lost"].index_requested_at > old
        # updated_at is the version the index task claims: sending again must not move it
        assert {a: row.updated_at for a, row in rows.items()} == versions


def test_an_unreachable_broker_leaves_the_article_due(session_factory, redis_client, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from shared import celery
    from shared.celery import make_producer
    from shared.config import Settings

    with session_factory() as session:
        session.add(_article("kb_lost", index_state="pending"))
        session.commit()
    unreachable = make_producer(Settings(redis_url="redis://127.0.0.1:1/0"))
    monkeypatch.setattr(celery, "get_producer", lambda: unreachable)
    with session_factory() as session:
        assert resend_pending_articles(session, older_than_s=0) == []
    monkeypatch.undo()
    with session_factory() as session:
        assert resend_pending_articles(session, older_than_s=0) == ["kb_lost"]
    assert redis_client.llen("kb") == 1


def test_hits_of_deleted_articles_are_dropped_in_order(session_factory) -> None:  # type: ignore[no-untyped-def]
    with session_factory() as session:
        session.add_all([_article("kb_a", index_state="indexed"), _article("kb_c", index_state="indexed")])
        session.commit()
        hits = [_hit("kb_c"), _hit("kb_gone"), _hit("kb_a")]
        assert [h.article_id for h in live_hits(session, hits)] == ["kb_c", "kb_a"]
        assert live_hits(session, []) == []
