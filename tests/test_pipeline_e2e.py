"""End to end with real processes: HTTP gateway -> Redis -> Celery classifier and RAG workers -> database.

Also the failure drills: a lost queue message (swept and re-sent) and a worker killed mid-task.
"""

from __future__ import annotations

import signal
import time
from datetime import timedelta

import pytest
import sqlalchemy as sa

from gateway.sweeper import sweep_once
from shared.celery import CLASSIFY_TASK
from shared.models import utcnow
from tests.conftest import _truncate, force_ticket, wait_until
from tests.prometheus_text import parse_samples

pytestmark = pytest.mark.slow

TICKET = {
    "customer_email": "maria@example.com",
    "customer_name": "Maria Lopez",
    "subject": "My order hasn't arrived",
    "description": "I ordered a lamp two weeks ago (order #2021) and it still hasn't been delivered. "
    "The tracking page has not updated for 5 days. Where is my package?",
    "order_id": "2021",
}


@pytest.fixture
def pg(pg_url: str, redis_client) -> str:  # type: ignore[no-untyped-def]
    _truncate(pg_url)
    return pg_url


def _state(url: str, ticket_id: str) -> str:
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        state = conn.execute(sa.text("SELECT processing_state FROM tickets WHERE ticket_id = :t"), {"t": ticket_id})
        value = state.scalar_one()
    engine.dispose()
    return value


def _start_pipeline(start_worker, url: str):  # type: ignore[no-untyped-def]
    return (
        start_worker("classifier_worker", url, queues="classify"),
        start_worker("rag_worker", url, queues="draft,kb"),
    )


def test_ticket_created_over_http_reaches_done(client_for, start_worker, pg):
    _start_pipeline(start_worker, pg)
    api = client_for(pg)
    rotation = {"agent_id": "AG-ROTA", "name": "Rota", "auto_assign": True, "categories": ["shipping", "order"]}
    assert api.post("/api/agents", json=rotation).status_code == 201

    response = api.post("/api/tickets/create", params={"wait": 30}, json=TICKET)

    assert response.status_code == 201
    ticket = response.json()["ticket"]
    if ticket["processing_state"] != "done":  # a cold worker may need longer than one wait
        ticket = api.get(f"/api/tickets/{ticket['ticket_id']}", params={"wait": 30}).json()
    assert ticket["processing_state"] == "done", ticket
    assert ticket["category"] in {"shipping", "order"}
    assert ticket["priority"] in {"low", "medium", "high", "critical"}
    assert ticket["sentiment"] in {"positive", "neutral", "negative"}
    assert 0 <= ticket["ai_confidence"] <= 1
    assert ticket["ai_suggested_reply"] and "Maria" in ticket["ai_suggested_reply"]
    cited = {a["article_id"] for a in ticket["kb_article_ids"]}
    assert cited & {"kb_001", "kb_006"}, ticket["kb_article_ids"]
    assert (ticket["assigned_to"], ticket["routing_requested_at"]) == ("AG-ROTA", None)  # the rotation took it

    # The customer writes back about something else: both workers run again, the rag_worker drafting from the
    # new message, the classifier scoring it (its cues are added, the priority can only go up).
    follow_up = "It came today, thanks! But I was charged twice for it. How do I get the extra charge back?"
    written = api.post(f"/api/tickets/{ticket['ticket_id']}/customer-messages", json={"body": follow_up})
    assert written.status_code == 201 and written.json()["ticket"]["processing_state"] == "queued", written.text
    assert wait_until(lambda: _state(pg, ticket["ticket_id"]) == "done", timeout=60)
    redrafted = api.get(f"/api/tickets/{ticket['ticket_id']}").json()
    assert "Thank you for getting back to us about order #2021" in redrafted["ai_suggested_reply"]
    assert redrafted["kb_article_ids"][0]["article_id"] == "kb_005", redrafted["kb_article_ids"]  # billing
    assert redrafted["category"] == ticket["category"]  # the opening message decides the category
    assert "charged twice" in redrafted["urgency_keywords"] and "The customer wrote again" in redrafted["ai_reasoning"]
    ranks = ["low", "medium", "high", "critical"]
    assert ranks.index(redrafted["priority"]) >= ranks.index(ticket["priority"])

    # A ticket that gave up (here: as if the database had been down through every retry) is re-run by
    # an agent once the cause is fixed, from classification since it never got one, through the workers.
    force_ticket(
        pg,
        ticket["ticket_id"],
        processing_state="failed",
        processing_error="OperationalError: db down",
        ai_suggested_category=None,
        ai_suggested_reply=None,
    )
    assert api.post(f"/api/tickets/{ticket['ticket_id']}/retry").json()["processing_state"] == "queued"
    assert wait_until(lambda: _state(pg, ticket["ticket_id"]) == "done", timeout=60)
    rerun = api.get(f"/api/tickets/{ticket['ticket_id']}").json()
    assert rerun["ai_suggested_category"] in {"shipping", "order"} and rerun["ai_suggested_reply"]
    assert rerun["processing_error"] is None


def test_a_closed_tickets_customer_gets_a_follow_up_ticket_drafted(client_for, start_worker, pg, settings_for):  # type: ignore[no-untyped-def]
    """Resolved, then closed by the sweeper once AUTO_CLOSE_AFTER_HOURS have passed; the customer writing again
    opens a follow-up ticket that the real workers classify and draft."""
    _start_pipeline(start_worker, pg)
    api = client_for(pg)
    ticket_id = api.post("/api/tickets/create", json=TICKET).json()["ticket"]["ticket_id"]
    assert api.put(f"/api/tickets/{ticket_id}/status", json={"status": "resolved"}).status_code == 200
    force_ticket(pg, ticket_id, resolved_at=utcnow() - timedelta(days=5))
    from shared.db import make_engine

    engine = make_engine(pg)
    swept = sweep_once(sa.orm.sessionmaker(bind=engine), settings_for(pg))
    engine.dispose()
    assert swept.closed == (ticket_id,) and api.get(f"/api/tickets/{ticket_id}").json()["status"] == "closed"

    body = "The lamp from order #2021 arrived broken. I would like a refund, please."
    written = api.post(f"/api/tickets/{ticket_id}/customer-messages", json={"body": body})
    assert written.status_code == 201, written.text
    follow_up = written.json()["follow_up"]["ticket_id"]
    assert wait_until(lambda: _state(pg, follow_up) == "done", timeout=90)
    drafted = api.get(f"/api/tickets/{follow_up}").json()
    assert drafted["follow_up_of"] == ticket_id and drafted["description"] == body
    assert drafted["category"] and drafted["priority"] and drafted["ai_suggested_reply"]
    assert drafted["kb_article_ids"], drafted
    assert api.get(f"/api/tickets/{ticket_id}").json()["status"] == "closed"


def test_lost_message_is_swept_and_the_ticket_completes(client_for, start_worker, pg, redis_client, settings_for):
    api = client_for(pg)
    ticket_id = api.post("/api/tickets/create", json=TICKET).json()["ticket"]["ticket_id"]
    redis_client.flushdb()  # Redis restarted without persistence: the queued message is gone
    _start_pipeline(start_worker, pg)
    time.sleep(2)
    assert _state(pg, ticket_id) == "queued"  # nothing will happen on its own

    settings = settings_for(pg, sweep_stale_after_s=0.001)
    from shared.db import make_engine

    engine = make_engine(pg)
    factory = sa.orm.sessionmaker(bind=engine, expire_on_commit=False)
    assert sweep_once(factory, settings).tickets == [ticket_id]
    engine.dispose()

    wait_until(lambda: _state(pg, ticket_id) == "done", timeout=90)


def _hold_row_lock(url: str, ticket_id: str):  # type: ignore[no-untyped-def]
    """Lock the ticket row so the worker blocks inside its task when it writes the result."""
    engine = sa.create_engine(url)
    conn = engine.connect()
    conn.execute(sa.text("SELECT 1 FROM tickets WHERE ticket_id = :t FOR UPDATE"), {"t": ticket_id})
    return engine, conn


def _worker_is_blocked(url: str) -> bool:
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        blocked = conn.execute(
            sa.text(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND wait_event_type = 'Lock' AND state = 'active'"
            )
        ).scalar_one()
    engine.dispose()
    return blocked > 0


def test_worker_process_killed_mid_task_and_ticket_still_completes(client_for, start_worker, pg):
    api = client_for(pg)
    ticket_id = api.post("/api/tickets/create", json=TICKET).json()["ticket"]["ticket_id"]
    engine, lock = _hold_row_lock(pg, ticket_id)
    classifier = start_worker("classifier_worker", pg, queues="classify")
    start_worker("rag_worker", pg, queues="draft,kb")

    # given: the pool process is inside the task, blocked writing its result
    wait_until(lambda: _worker_is_blocked(pg), timeout=90)
    (child,) = classifier.child_pids()
    # when: it is killed without warning, then the lock goes away
    import os

    os.kill(child, signal.SIGKILL)
    lock.rollback()
    lock.close()
    engine.dispose()
    # then: the message was not acknowledged, goes back to the queue and the ticket completes
    wait_until(lambda: _state(pg, ticket_id) == "done", timeout=120)
    assert "WorkerLostError" in classifier.log() or "SIGKILL" in classifier.log()
    # and the scrape shows the lost run: begun twice, ended once (counted once the rerun has returned)
    task = (("task", CLASSIFY_TASK),)

    def classify_runs() -> tuple[float, dict]:  # type: ignore[type-arg]
        samples = parse_samples(api.get("/metrics").text)
        ended = {k: v for k, v in samples.get("support_copilot_worker_tasks_total", {}).items() if task[0] in k}
        return samples["support_copilot_worker_task_starts_total"][task], ended

    wait_until(lambda: classify_runs()[1], timeout=10)
    assert classify_runs() == (2, {(("state", "success"), *task): 1})


def test_whole_worker_killed_mid_task_then_sweeper_recovers(client_for, start_worker, pg, settings_for):
    api = client_for(pg)
    ticket_id = api.post("/api/tickets/create", json=TICKET).json()["ticket"]["ticket_id"]
    engine, lock = _hold_row_lock(pg, ticket_id)
    doomed = start_worker("classifier_worker", pg, queues="classify")
    wait_until(lambda: _worker_is_blocked(pg), timeout=90)

    doomed.kill()  # parent and pool process: nobody is left to requeue the unacked message
    lock.rollback()
    lock.close()
    engine.dispose()
    _start_pipeline(start_worker, pg)
    assert _state(pg, ticket_id) == "queued"

    from shared.db import make_engine

    db = make_engine(pg)
    factory = sa.orm.sessionmaker(bind=db, expire_on_commit=False)
    assert sweep_once(factory, settings_for(pg, sweep_stale_after_s=0.001)).tickets == [ticket_id]
    db.dispose()
    wait_until(lambda: _state(pg, ticket_id) == "done", timeout=120)
