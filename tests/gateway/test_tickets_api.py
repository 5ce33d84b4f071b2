"""The seed's ticket API over HTTP, on SQLite and PostgreSQL: shapes, validation, workflow, long-poll."""

from __future__ import annotations

import base64
import json
import threading
import time

import pytest
from sqlalchemy.orm import Session

from shared.db import make_engine
from shared.events import publish_state
from shared.models import Ticket

GOOD = {
    "customer_email": "john@example.com",
    "customer_name": "John Doe",
    "subject": "Order hasn't shipped",
    "description": "My order #2021 was placed a week ago and still shows processing.",
    "order_id": "2021",
    "source": "web",
}


def _create(api, **overrides):  # type: ignore[no-untyped-def]
    response = api.post("/api/tickets/create", json={**GOOD, **overrides})
    assert response.status_code == 201, response.text
    return response.json()["ticket"]


def test_create_returns_seed_shape_and_enqueues_classification(api, redis_client):
    ticket = _create(api)
    for key in ("ticket_id", "customer_id", "customer_email", "subject", "description", "category", "priority",
                "status", "ai_suggested_category", "ai_suggested_priority", "ai_confidence", "sentiment",
                "urgency_keywords", "ai_suggested_reply", "created_at"):  # fmt: skip
        assert key in ticket
    assert ticket["status"] == "new" and ticket["processing_state"] == "queued"
    assert ticket["source"] == "web" and ticket["metadata"] == {"order_id": "2021"}
    # the message Celery will consume: task name in the headers, the ticket id as the only argument
    message = json.loads(redis_client.lindex("classify", 0))
    assert message["headers"]["task"] == "classifier_worker.classify_ticket"
    args, kwargs, _ = json.loads(base64.b64decode(message["body"]))
    assert args == [ticket["ticket_id"]] and kwargs == {}


@pytest.mark.parametrize(
    ("body", "field", "reason"),
    [
        ({**GOOD, "customer_email": "not-an-email"}, "customer_email", "valid email"),
        ({**GOOD, "subject": ""}, "subject", "at least 1"),
        ({**GOOD, "subject": "   "}, "subject", "empty"),
        ({**GOOD, "description": "x" * 20_001}, "description", "at most 20000"),
        ({k: v for k, v in GOOD.items() if k != "description"}, "description", "required"),
        ({**GOOD, "priority": "high"}, "priority", "unknown field"),
        ({**GOOD, "source": "Web Form!"}, "source", "pattern"),
        ({**GOOD, "subject": 42}, "subject", "string"),
    ],
)
def test_create_rejects_bad_input_naming_the_field(api, redis_client, body, field, reason):
    response = api.post("/api/tickets/create", json=body)
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert field in detail and reason in detail, detail
    assert redis_client.llen("classify") == 0


def test_malformed_json_and_wrong_content_get_clear_4xx(api):
    response = api.post("/api/tickets/create", content=b"{not json", headers={"content-type": "application/json"})
    assert response.status_code == 422 and "not valid JSON" in response.json()["detail"]
    response = api.post("/api/tickets/create", content=b"[1, 2]", headers={"content-type": "application/json"})
    assert response.status_code == 422


def test_get_unknown_ticket_is_404_with_message(api):
    response = api.get("/api/tickets/TKT-20250101-DEADBEEF")
    assert response.status_code == 404
    assert response.json() == {"detail": "ticket 'TKT-20250101-DEADBEEF' not found"}


def test_list_filters_and_bounds(api):
    first = _create(api, subject="first")
    second = _create(api, subject="second")
    listed = api.get("/api/tickets/", params={"status": "new", "limit": 10}).json()
    assert [t["ticket_id"] for t in listed] == [second["ticket_id"], first["ticket_id"]]
    assert api.get("/api/tickets/", params={"status": "resolved"}).json() == []
    for params, field in (({"limit": 0}, "limit"), ({"limit": 201}, "limit"), ({"offset": -1}, "offset"),
                          ({"priority": "urgent"}, "priority"), ({"category": "pets"}, "category")):  # fmt: skip
        response = api.get("/api/tickets/", params=params)
        assert response.status_code == 422 and field in response.json()["detail"]


def test_status_workflow_over_http(api):
    ticket = _create(api)
    url = f"/api/tickets/{ticket['ticket_id']}/status"
    response = api.put(url, json={"status": "in_progress"})
    assert response.status_code == 200 and response.json()["status"] == "in_progress"
    response = api.put(url, json={"status": "resolved"})
    assert response.json()["resolved_at"] is not None
    response = api.put(url, json={"status": "new"})
    assert response.status_code == 409 and "allowed: closed, open" in response.json()["detail"]
    response = api.put(url, json={"status": "done"})
    assert response.status_code == 422 and "status" in response.json()["detail"]
    assert api.put("/api/tickets/TKT-x/status", json={"status": "open"}).status_code == 404


def test_agents_and_assignment(api):
    ticket = _create(api)
    url = f"/api/tickets/{ticket['ticket_id']}/assign"
    response = api.put(url, json={"agent_id": "AGENT-001"})
    assert response.status_code == 404 and "POST /api/agents" in response.json()["detail"]
    created = api.post("/api/agents", json={"agent_id": "AGENT-001", "name": "Ann", "email": "ann@example.com"})
    assert created.status_code == 201
    assert api.post("/api/agents", json={"agent_id": "AGENT-001", "name": "Ann"}).status_code == 409
    assert api.post("/api/agents", json={"name": ""}).status_code == 422
    generated = api.post("/api/agents", json={"name": "Bo"}).json()
    assert generated["agent_id"].startswith("AGENT-")
    assert {a["agent_id"] for a in api.get("/api/agents").json()} == {"AGENT-001", generated["agent_id"]}
    response = api.put(url, json={"agent_id": "AGENT-001"})
    assert response.status_code == 200 and response.json()["assigned_to"] == "AGENT-001"
    listed = api.get("/api/tickets/", params={"assigned_to": "AGENT-001"}).json()
    assert [t["ticket_id"] for t in listed] == [ticket["ticket_id"]]


def test_queues_by_assignment_and_review_flag_and_unassigning(api, session_factory):
    first, second, third = (_create(api)["ticket_id"] for _ in range(3))
    api.post("/api/agents", json={"agent_id": "AGENT-001", "name": "Ann"})
    assert api.put(f"/api/tickets/{first}/assign", json={"agent_id": "AGENT-001"}).status_code == 200
    with session_factory() as session:
        session.get(Ticket, second).needs_review = True
        session.commit()

    def ids(**params):  # type: ignore[no-untyped-def]
        return [t["ticket_id"] for t in api.get("/api/tickets/", params=params).json()]

    assert ids(assigned="false") == [third, second]  # the unassigned queue, newest first
    assert ids(assigned="true") == [first]
    assert ids(needs_review="true") == [second]
    assert ids(needs_review="false", assigned="false") == [third]
    other = _create(api, customer_email="someone.else@example.com")
    assert ids(customer_id=other["customer_id"]) == [other["ticket_id"]]
    assert ids(customer_id=_create(api)["customer_id"])[1:] == [third, second, first]  # John's, newest first
    bad = api.get("/api/tickets/", params={"assigned": "maybe"})
    assert bad.status_code == 422 and bad.json()["detail"].startswith("query.assigned:")

    unassigned = api.put(f"/api/tickets/{first}/assign", json={"agent_id": None})
    assert unassigned.status_code == 200 and unassigned.json()["assigned_to"] is None
    assert ids(assigned="true") == []
    history = api.get(f"/api/tickets/{first}/history").json()
    assert [(h["old_value"], h["new_value"]) for h in history if h["field"] == "assigned_to"] == [
        (None, "AGENT-001"),
        ("AGENT-001", None),
    ]
    assert api.put(f"/api/tickets/{first}/assign", json={}).status_code == 422  # null unassigns; absent is an error


def test_a_customers_tickets_are_found_by_email_whatever_the_channel_and_case(api):
    mine = _create(api, customer_email="Pat.Doe@Example.com")["ticket_id"]
    _create(api, customer_email="someone.else@example.com")
    zendesk = {"ticket": {"id": 4077, "subject": "Still waiting", "description": "Any news on my refund?",
                          "requester": {"email": "PAT.DOE@example.com", "name": "Pat"}}}  # fmt: skip
    hook = api.post("/api/tickets/webhook/zendesk", json=zendesk)
    assert hook.status_code in (200, 201), hook.text

    def ids(email: str) -> list[str]:
        response = api.get("/api/tickets/", params={"customer_email": email})
        assert response.status_code == 200, response.text
        return [t["ticket_id"] for t in response.json()]

    assert ids("pat.doe@example.com") == [hook.json()["ticket"]["ticket_id"], mine]  # newest first
    assert ids("PAT.DOE@EXAMPLE.COM") == ids("pat.doe@example.com")
    assert ids("nobody@example.com") == []
    bad = api.get("/api/tickets/", params={"customer_email": "not-an-email"})
    assert bad.status_code == 422 and bad.json()["detail"].startswith("query.customer_email:"), bad.text


def test_agents_are_renamed_deactivated_and_reactivated(api):
    ticket = _create(api)
    assign = f"/api/tickets/{ticket['ticket_id']}/assign"
    api.post("/api/agents", json={"agent_id": "AGENT-001", "name": "Ann", "email": "ann@example.com"})
    api.post("/api/agents", json={"agent_id": "AGENT-002", "name": "Bo", "email": "bo@example.com"})
    assert api.put(assign, json={"agent_id": "AGENT-001"}).status_code == 200
    assert api.get("/api/agents/AGENT-001").json()["name"] == "Ann"
    missing = api.patch("/api/agents/AGENT-404", json={"active": False})
    assert missing.status_code == 404 and "AGENT-404" in missing.json()["detail"]

    renamed = api.patch("/api/agents/AGENT-001", json={"name": "  Ann Lee ", "email": "ANN@example.com"})
    assert renamed.status_code == 200
    assert (renamed.json()["name"], renamed.json()["email"]) == ("Ann Lee", "ann@example.com")
    taken = api.patch("/api/agents/AGENT-002", json={"email": "ann@example.com"})
    assert taken.status_code == 409 and "ann@example.com" in taken.json()["detail"]
    assert api.patch("/api/agents/AGENT-002", json={"email": None}).json()["email"] is None
    for body, says in (({}, "nothing to change"), ({"name": None}, "must not be null"), ({"name": " "}, "empty")):
        response = api.patch("/api/agents/AGENT-001", json=body)
        assert response.status_code == 422 and says in response.json()["detail"], (body, response.text)

    # Deactivated: existing assignments stay, new ones are refused with the way back named.
    assert api.patch("/api/agents/AGENT-001", json={"active": False}).json()["active"] is False
    assert api.get(f"/api/tickets/{ticket['ticket_id']}").json()["assigned_to"] == "AGENT-001"
    refused = api.put(assign, json={"agent_id": "AGENT-001"})
    assert refused.status_code == 409 and "PATCH /api/agents/AGENT-001" in refused.json()["detail"]
    assert [a["agent_id"] for a in api.get("/api/agents", params={"active": False}).json()] == ["AGENT-001"]
    assert api.patch("/api/agents/AGENT-001", json={"active": True}).status_code == 200
    assert api.put(assign, json={"agent_id": "AGENT-001"}).status_code == 200


def test_wait_returns_when_processing_finishes(api, db_url):
    ticket = _create(api)
    ticket_id = ticket["ticket_id"]
    engine = make_engine(db_url)

    def finish_later() -> None:
        time.sleep(0.5)
        with engine.begin() as conn:
            conn.execute(Ticket.__table__.update().where(Ticket.ticket_id == ticket_id).values(processing_state="done"))
        publish_state(ticket_id, "done")

    threading.Thread(target=finish_later).start()
    started = time.monotonic()
    response = api.get(f"/api/tickets/{ticket_id}", params={"wait": 10})
    elapsed = time.monotonic() - started
    engine.dispose()
    assert response.json()["processing_state"] == "done"
    assert elapsed < 5  # woken by the notification, not by the 10 s timeout


def test_wait_times_out_with_the_ticket_as_it_is(api):
    ticket = _create(api)
    started = time.monotonic()
    response = api.get(f"/api/tickets/{ticket['ticket_id']}", params={"wait": 1})
    assert response.status_code == 200 and response.json()["processing_state"] == "queued"
    assert time.monotonic() - started >= 0.9
    assert api.get(f"/api/tickets/{ticket['ticket_id']}", params={"wait": 31}).status_code == 422


def test_health_and_ready(api, client_for, db_url):
    assert api.get("/health").json()["status"] == "ok"
    ready = api.get("/ready")
    assert ready.status_code == 200 and ready.json()["checks"] == {"database": "ok", "redis": "ok"}
    broken = client_for(db_url, redis_url="redis://127.0.0.1:1/0")
    response = broken.get("/ready")
    assert response.status_code == 503 and response.json()["checks"]["redis"].startswith("error")


def test_ticket_accepted_while_broker_is_down_is_sent_by_the_sweeper(api, db_url, redis_client, monkeypatch):
    from shared import celery, pipeline
    from shared.celery import make_producer
    from shared.config import Settings

    unreachable = make_producer(Settings(redis_url="redis://127.0.0.1:1/0"))
    monkeypatch.setattr(celery, "get_producer", lambda: unreachable)
    started = time.monotonic()
    ticket = _create(api)  # accepted and stored although nothing could be enqueued
    assert time.monotonic() - started < 5
    assert redis_client.llen("classify") == 0
    monkeypatch.undo()

    engine = make_engine(db_url)
    with Session(engine) as session:
        assert pipeline.sweep_stale(session, older_than_s=0) == [ticket["ticket_id"]]
    engine.dispose()
    assert redis_client.llen("classify") == 1
