"""The knowledge-base API end to end: gateway -> Redis -> a real rag_worker with Chroma on disk -> database."""

from __future__ import annotations

import time

import pytest

from tests.conftest import _truncate, force_ticket, wait_until

pytestmark = pytest.mark.slow

ARTICLE = {
    "article_id": "kb_giftwrap",
    "title": "Gift Wrapping",
    "category": "order",
    "tags": ["gift", "wrapping"],
    "content": "## Gift wrapping\nWe gift wrap any order for $3.50 and add a handwritten card.\n\n"
    "## How to add it\n1. Open the basket.\n2. Tick 'Gift wrap this order'.\n3. Type your card message.",
}


@pytest.fixture(scope="module")
def kb_env(pg_url: str, tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """One rag_worker (queues draft,kb) on a fresh PostgreSQL database, shared by this module's tests."""
    import os
    import subprocess
    import sys
    import time
    import uuid
    from pathlib import Path

    from tests.conftest import REDIS_URL, ROOT, WorkerProcess

    _truncate(pg_url)
    tmp = tmp_path_factory.mktemp("kb_api")
    name = f"rag_worker-{uuid.uuid4().hex[:6]}@test"
    log_path = Path(tmp) / "worker.log"
    env = {**os.environ, "DATABASE_URL": pg_url, "REDIS_URL": REDIS_URL, "CHROMA_PATH": str(tmp / "chroma")}
    cmd = [sys.executable, "-m", "celery", "-A", "rag_worker.worker", "worker", "-Q", "draft,kb", "-c", "1",
           "-n", name, "--without-gossip", "--without-mingle", "--without-heartbeat", "--loglevel", "INFO"]  # fmt: skip
    with open(log_path, "wb") as log_file:
        proc = subprocess.Popen(
            cmd, cwd=ROOT, env=env, stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True
        )
    worker = WorkerProcess(proc, log_path, name)
    try:
        deadline = time.monotonic() + 180
        while "knowledge base in sync" not in worker.log():
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"rag_worker did not start:\n{worker.log()[-4000:]}")
            time.sleep(0.2)
        yield pg_url, tmp
    finally:
        worker.stop()


@pytest.fixture
def api(kb_env, redis_client):  # type: ignore[no-untyped-def]
    from fastapi.testclient import TestClient

    from gateway.main import create_app
    from shared.config import Settings
    from tests.conftest import REDIS_URL

    url, tmp = kb_env
    settings = Settings(database_url=url, redis_url=REDIS_URL, chroma_path=str(tmp / "chroma"), kb_task_timeout_s=30)
    with TestClient(create_app(settings, sweeper=False)) as client:
        yield client


def test_shipped_articles_are_seeded_and_listed(api) -> None:  # type: ignore[no-untyped-def]
    articles = api.get("/api/kb/articles").json()

    assert [a["article_id"] for a in articles if a["article_id"].startswith("kb_0")] == [
        f"kb_{i:03d}" for i in range(1, 11)
    ]
    assert all(a["index_state"] == "indexed" for a in articles)
    one = api.get("/api/kb/articles/kb_006").json()
    assert one["title"] == "Order Tracking" and "tracking number" in one["content"]


def test_search_returns_cited_hits(api) -> None:  # type: ignore[no-untyped-def]
    response = api.get("/api/kb/search", params={"q": "my parcel hasn't arrived, where is it?", "n": 2})

    assert response.status_code == 200
    hits = response.json()["hits"]
    assert 1 <= len(hits) <= 2
    assert hits[0]["article_id"] in {"kb_001", "kb_006"}
    assert all(0.5 <= h["relevance_score"] <= 1 for h in hits)

    billing = api.get("/api/kb/search", params={"q": "refund my money", "category": "billing"}).json()["hits"]
    assert all(h["category"] == "billing" for h in billing)


def test_create_update_and_delete_article(api) -> None:  # type: ignore[no-untyped-def]
    # given a new article
    created = api.post("/api/kb/articles", json=ARTICLE)
    assert created.status_code == 201, created.text
    assert created.json()["index_state"] == "indexed"
    # then search finds it
    hits = api.get("/api/kb/search", params={"q": "can you gift wrap my order?", "n": 1}).json()["hits"]
    assert hits[0]["article_id"] == "kb_giftwrap"

    # when it is replaced, search sees the new text
    updated = api.post("/api/kb/articles", json={**ARTICLE, "content": "## Gift wrapping\nGift wrap costs $4.99."})
    assert updated.status_code == 200
    hit = api.get("/api/kb/search", params={"q": "how much is gift wrapping?", "n": 1}).json()["hits"][0]
    assert hit["article_id"] == "kb_giftwrap" and "$4.99" in hit["passage"]

    # when it is deleted, it is gone from the API and from search
    assert api.delete("/api/kb/articles/kb_giftwrap").status_code == 204
    assert api.get("/api/kb/articles/kb_giftwrap").status_code == 404
    hits = api.get("/api/kb/search", params={"q": "can you gift wrap my order?", "n": 5}).json()["hits"]
    assert all(h["article_id"] != "kb_giftwrap" for h in hits)


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "status", "detail"),
    [
        ("get", "/api/kb/search", {"params": {"q": ""}}, 422, "q"),
        ("get", "/api/kb/search", {"params": {"q": "   "}}, 422, "q must not be empty"),
        ("get", "/api/kb/search", {"params": {"q": "refund", "n": 0}}, 422, "n"),
        ("get", "/api/kb/search", {"params": {"q": "refund", "n": 500}}, 422, "n"),
        ("get", "/api/kb/search", {"params": {"q": "refund", "category": "pets"}}, 422, "category"),
        ("get", "/api/kb/articles/kb_999", {}, 404, "kb_999"),
        ("delete", "/api/kb/articles/kb_999", {}, 404, "kb_999"),
        ("post", "/api/kb/articles", {"json": {"title": "T"}}, 422, "content"),
        ("post", "/api/kb/articles", {"json": {**ARTICLE, "article_id": "bad id"}}, 422, "article_id"),
        ("post", "/api/kb/articles", {"json": {**ARTICLE, "content": "  "}}, 422, "content"),
        ("post", "/api/tickets/TKT-NOPE/draft", {}, 404, "TKT-NOPE"),
    ],
)
def test_bad_input_gets_a_clear_4xx(api, method, path, kwargs, status, detail) -> None:  # type: ignore[no-untyped-def]
    response = getattr(api, method)(path, **kwargs)

    assert response.status_code == status
    assert detail in response.json()["detail"]


def test_redraft_sends_a_classified_ticket_back_to_the_worker(api, kb_env) -> None:  # type: ignore[no-untyped-def]
    url, _ = kb_env
    ticket = api.post(
        "/api/tickets/create",
        json={
            "customer_email": "sam@example.com",
            "customer_name": "Sam Reed",
            "subject": "Late delivery",
            "description": "Order #5150 was due last week and the tracking has not moved for 6 days.",
        },
    ).json()["ticket"]
    # given a ticket the classifier has handled (no classifier worker in this module: set it by hand)
    force_ticket(
        url, ticket["ticket_id"], processing_state="classified", ai_suggested_category="shipping", sentiment="negative"
    )

    response = api.post(f"/api/tickets/{ticket['ticket_id']}/draft")

    assert response.status_code == 202
    done = wait_until(
        lambda: (
            (t := api.get(f"/api/tickets/{ticket['ticket_id']}", params={"wait": 5}).json())["processing_state"]
            == "done"
            and t
        ),
        timeout=60,
    )
    assert done["ai_suggested_reply"].startswith("Hi Sam,")
    assert "order #5150" in done["ai_suggested_reply"]
    assert {a["article_id"] for a in done["kb_article_ids"]} & {"kb_001", "kb_006"}


def test_an_article_saved_or_deleted_while_the_broker_is_down_catches_up(api, kb_env, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """The save's index task could not be sent: the sweeper sends it. The delete's task could not be
    sent either, so the worker's index still holds the article: drafts must not cite it."""
    from sqlalchemy.orm import sessionmaker

    from gateway.services import kb as kb_service
    from gateway.sweeper import sweep_once
    from shared.celery import make_producer
    from shared.config import Settings
    from shared.db import make_engine
    from tests.conftest import REDIS_URL

    url, _ = kb_env
    unreachable = make_producer(Settings(redis_url="redis://127.0.0.1:1/0"))
    article = {**ARTICLE, "article_id": "kb_offline"}
    monkeypatch.setattr(kb_service, "get_producer", lambda: unreachable)
    started = time.monotonic()
    saved = api.post("/api/kb/articles", json=article)
    # Not held for the result backend's reconnects (19 s by Celery's default policy): stored, pending.
    assert time.monotonic() - started < 5
    searched = api.get("/api/kb/search", params={"q": "gift wrap"})
    assert searched.status_code == 503 and "unreachable" in searched.json()["detail"]
    assert time.monotonic() - started < 10
    monkeypatch.undo()
    assert saved.status_code == 201 and saved.json()["index_state"] == "pending"

    engine = make_engine(url)
    swept = sweep_once(sessionmaker(engine), Settings(database_url=url, redis_url=REDIS_URL, sweep_stale_after_s=0.001))
    engine.dispose()
    assert swept.articles == ["kb_offline"]
    wait_until(lambda: api.get("/api/kb/articles/kb_offline").json()["index_state"] == "indexed", timeout=60)
    hits = api.get("/api/kb/search", params={"q": "can you gift wrap my order?", "n": 1}).json()["hits"]
    assert hits[0]["article_id"] == "kb_offline"

    ticket_id = api.post(
        "/api/tickets/create",
        json={
            "customer_email": "gift@example.com",
            "subject": "Gift wrap",
            "description": "Can you gift wrap order #5151 and add a card? It is a birthday present.",
        },
    ).json()["ticket"]["ticket_id"]
    force_ticket(url, ticket_id, processing_state="classified", ai_suggested_category="order", category="order")

    def drafted_citations() -> set[str]:
        assert api.post(f"/api/tickets/{ticket_id}/draft").status_code == 202
        done = wait_until(
            lambda: (
                (t := api.get(f"/api/tickets/{ticket_id}", params={"wait": 5}).json())["processing_state"] == "done"
                and t
            ),
            timeout=60,
        )
        return {a["article_id"] for a in done["kb_article_ids"]}

    assert "kb_offline" in drafted_citations()
    monkeypatch.setattr(kb_service, "get_producer", lambda: unreachable)
    assert api.delete("/api/kb/articles/kb_offline").status_code == 204
    monkeypatch.undo()
    assert "kb_offline" not in drafted_citations()
    # The draft's search met it and dropped it from the worker's index: its lost delete is healed.
    from rag_worker.retrieval import KBIndex

    index = KBIndex(Settings(chroma_path=str(kb_env[1] / "chroma"), chroma_host=None), embedder=None)
    assert "kb_offline" not in index.article_hashes()
    assert "kb_006" in index.article_hashes()


def test_a_delete_lost_with_the_broker_is_healed_by_the_sweepers_index_check(api, kb_env, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """No search meets the article: the worker drops it when the sweeper's periodic check arrives."""
    from sqlalchemy.orm import sessionmaker

    from gateway.services import kb as kb_service
    from gateway.sweeper import sweep_when_due
    from rag_worker.retrieval import KBIndex
    from shared.celery import make_producer
    from shared.config import Settings
    from shared.db import make_engine
    from tests.conftest import REDIS_URL

    url, tmp = kb_env
    article = {**ARTICLE, "article_id": "kb_unseen", "title": "Engraving"}
    assert api.post("/api/kb/articles", json=article).status_code == 201
    wait_until(lambda: api.get("/api/kb/articles/kb_unseen").json()["index_state"] == "indexed", timeout=60)
    unreachable = make_producer(Settings(redis_url="redis://127.0.0.1:1/0"))
    monkeypatch.setattr(kb_service, "get_producer", lambda: unreachable)
    assert api.delete("/api/kb/articles/kb_unseen").status_code == 204
    monkeypatch.undo()
    index = KBIndex(Settings(chroma_path=str(tmp / "chroma"), chroma_host=None), embedder=None)
    assert "kb_unseen" in index.article_hashes()  # the delete task was never sent

    engine = make_engine(url)
    settings = Settings(database_url=url, redis_url=REDIS_URL, sweep_stale_after_s=0.001)
    swept = sweep_when_due(sessionmaker(engine), settings)  # the first pass of an interval
    engine.dispose()

    assert swept.reconcile is True
    wait_until(lambda: "kb_unseen" not in index.article_hashes(), timeout=60)
    assert "kb_006" in index.article_hashes()
