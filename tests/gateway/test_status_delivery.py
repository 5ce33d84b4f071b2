"""Agents' moves of web and API tickets to REPLY_WEBHOOK_STATUSES POSTed to the channel's backend
(REPLY_WEBHOOK_URL): the outbox row written with the move, which moves and tickets are sent, delivery with
signing, the failed list and its re-send, the sweeper's re-send of a task lost with Redis, and erasure.
Each database, a real receiver, real Redis."""

from __future__ import annotations

import json
import time

import pytest
from pydantic import ValidationError

from classifier_worker.delivery import deliver
from gateway.sweeper import sweep_once
from shared.celery import STATUS_TASK
from shared.config import Settings
from shared.models import StatusDelivery
from shared.outbox import STATUSES, verify
from shared.schemas import Status
from tests.conftest import wait_until
from tests.gateway.conftest import CHANNEL_SECRET, queued_replies, stored, web_ticket


def _move(api, ticket_id: str, status: str) -> dict:  # type: ignore[no-untyped-def]
    response = api.put(f"/api/tickets/{ticket_id}/status", json={"status": status})
    assert response.status_code == 200, response.text
    return response.json()


def _rows(session_factory) -> list[StatusDelivery]:  # type: ignore[no-untyped-def]
    return stored(session_factory, StatusDelivery, StatusDelivery.created_at)


def test_a_resolve_is_written_with_the_move_and_delivered_signed(channel, session_factory, receiver, redis_client):  # type: ignore[no-untyped-def]
    api, settings = channel
    ticket_id = web_ticket(api)
    _move(api, ticket_id, "in_progress")  # not one of the default statuses
    assert _rows(session_factory) == [] and queued_replies(redis_client) == []
    moved = _move(api, ticket_id, "resolved")
    (row,) = _rows(session_factory)
    assert (row.ticket_id, row.previous_status, row.status) == (ticket_id, "in_progress", "resolved")
    (task,) = queued_replies(redis_client)
    assert task["headers"]["task"] == STATUS_TASK and task["headers"]["argsrepr"] == repr([row.delivery_id])

    assert deliver(row.delivery_id, settings=settings, factory=session_factory, outbox=STATUSES).status == "delivered"
    (received,) = receiver.received
    assert received.headers["x-copilot-event-id"] == row.delivery_id
    assert verify(CHANNEL_SECRET, received.headers["x-copilot-signature"], received.body, now=int(time.time()))
    body = json.loads(received.body)
    assert body["id"] == row.delivery_id and body["event"] == "ticket.status"
    assert body["status"] == {"from": "in_progress", "to": "resolved", "automatic": False}
    assert body["created_at"] == moved["updated_at"].replace("Z", "+00:00")
    assert body["ticket"]["ticket_id"] == ticket_id and body["ticket"]["status"] == "resolved"
    assert body["ticket"]["source"] == "web" and body["ticket"]["subject"] == "Refund?"
    assert body["ticket"]["customer"]["email"] == "ann@example.com" and body["ticket"]["customer"]["name"] == "Ann Lee"
    assert deliver(row.delivery_id, settings=settings, factory=session_factory, outbox=STATUSES).status == "skipped"

    _move(api, ticket_id, "resolved")  # no move: nothing to tell
    _move(api, ticket_id, "closed")
    listed = api.get("/api/status-changes").json()
    assert [(r["previous_status"], r["status"], r["state"]) for r in listed] == [
        ("resolved", "closed", "pending"),
        ("in_progress", "resolved", "delivered"),
    ]
    assert listed[1]["delivery_id"] == row.delivery_id and listed[1]["ticket_id"] == ticket_id
    assert len(queued_replies(redis_client)) == 2 and len(receiver.received) == 1


def test_only_agents_moves_of_web_and_api_tickets_to_the_chosen_statuses_are_sent(  # type: ignore[no-untyped-def]
    client_for, db_url, session_factory, redis_client, receiver
):
    api = client_for(db_url, reply_webhook_url=receiver.url, reply_webhook_statuses="pending, open")
    ticket_id = web_ticket(api, source="api")
    _move(api, ticket_id, "pending")
    _move(api, ticket_id, "resolved")  # not chosen here
    _move(api, ticket_id, "open")  # an agent reopening it is
    assert [(r.previous_status, r.status) for r in _rows(session_factory)] == [("new", "pending"), ("resolved", "open")]
    _move(api, ticket_id, "pending")
    # The customer writing back reopens it; the backend that relayed the message reads the status in the answer.
    answer = api.post(f"/api/tickets/{ticket_id}/customer-messages", json={"body": "It is still broken."})
    assert answer.status_code == 201 and answer.json()["ticket"]["status"] == "open"
    vendor = web_ticket(api, source="zendesk")
    _move(api, vendor, "pending")  # its customer reads Zendesk
    assert len(_rows(session_factory)) == 3 and len(queued_replies(redis_client)) == 3

    other = web_ticket(api)
    for off in (client_for(db_url), client_for(db_url, reply_webhook_url=receiver.url, reply_webhook_statuses="")):
        _move(off, other, "pending")  # URL unset, or no status chosen
        _move(off, other, "open")
    assert len(_rows(session_factory)) == 3 and len(queued_replies(redis_client)) == 3
    counts = client_for(db_url).get("/api/overview").json()["status_changes"]
    assert (counts["pending"], counts["failed"]) == (3, 0) and counts["oldest_pending_since"] is not None


def test_a_refused_status_change_fails_is_listed_and_sent_again(channel, session_factory, receiver, redis_client):  # type: ignore[no-untyped-def]
    api, settings = channel
    ticket_id = web_ticket(api)
    _move(api, ticket_id, "resolved")
    receiver.answer(410)
    (row,) = _rows(session_factory)
    assert deliver(row.delivery_id, settings=settings, factory=session_factory, outbox=STATUSES).status == "failed"
    (failed,) = api.get("/api/status-changes", params={"state": "failed"}).json()
    assert failed["delivery_id"] == row.delivery_id and failed["last_error"].startswith("HTTP 410")
    assert api.get("/api/status-changes", params={"state": "pending"}).json() == []
    assert api.get("/api/status-changes", params={"ticket_id": "TKT-20990101-00000000"}).json() == []
    assert api.get("/api/overview").json()["status_changes"]["failed"] == 1

    for bad, status in (("no-such-delivery", 404), ("x" * 37, 422)):
        response = api.post(f"/api/status-changes/{bad}/retry")
        assert response.status_code == status, response.text
    redis_client.delete("replies")
    again = api.post(f"/api/status-changes/{row.delivery_id}/retry")
    assert again.status_code == 202 and again.json()["state"] == "pending" and again.json()["attempts"] == 0
    assert [t["headers"]["argsrepr"] for t in queued_replies(redis_client)] == [repr([row.delivery_id])]
    conflict = api.post(f"/api/status-changes/{row.delivery_id}/retry")
    assert conflict.status_code == 409 and "still being delivered" in conflict.json()["detail"]
    assert deliver(row.delivery_id, settings=settings, factory=session_factory, outbox=STATUSES).status == "delivered"
    assert [json.loads(r.body)["id"] for r in receiver.received] == [row.delivery_id] * 2


def test_a_status_change_whose_task_was_lost_is_swept_and_an_erased_one_never_sent(  # type: ignore[no-untyped-def]
    channel, db_url, session_factory, receiver, redis_client, settings_for
):
    api, settings = channel
    kept_ticket = web_ticket(api)
    erased_ticket = web_ticket(api, customer_email="bo@example.com")
    _move(api, kept_ticket, "resolved")
    _move(api, erased_ticket, "resolved")
    kept, erased = (row.delivery_id for row in _rows(session_factory))
    redis_client.flushdb()  # both tasks lost with Redis

    assert api.post(f"/api/tickets/{erased_ticket}/erase").status_code == 200  # its body holds the address
    assert [row.delivery_id for row in _rows(session_factory)] == [kept]
    swept = sweep_once(session_factory, settings_for(db_url, reply_webhook_url=receiver.url, sweep_stale_after_s=0.001))
    assert swept.status_changes == (kept,)
    assert [t["headers"]["argsrepr"] for t in queued_replies(redis_client)] == [repr([kept])]
    assert deliver(erased, settings=settings, factory=session_factory, outbox=STATUSES).status == "skipped"
    assert deliver(kept, settings=settings, factory=session_factory, outbox=STATUSES).status == "delivered"
    assert [json.loads(r.body)["id"] for r in receiver.received] == [kept]
    assert sweep_once(session_factory, settings_for(db_url, sweep_stale_after_s=0.001)).status_changes == ()


def test_the_statuses_are_read_from_a_comma_separated_list() -> None:
    url = "https://forms.example.com/hooks/replies"
    assert Settings().reply_webhook_statuses == [Status.resolved, Status.closed]
    assert Settings(reply_webhook_url=url).sent_statuses == {Status.resolved, Status.closed}
    assert Settings(reply_webhook_statuses="resolved").sent_statuses == frozenset()  # no URL, nothing sent
    chosen = Settings(reply_webhook_url=url, reply_webhook_statuses=" pending ,closed,")
    assert chosen.sent_statuses == {Status.pending, Status.closed}
    assert Settings(reply_webhook_url=url, reply_webhook_statuses="").sent_statuses == frozenset()
    with pytest.raises(ValidationError, match="reply_webhook_statuses"):
        Settings(reply_webhook_statuses="resolved,solved")


@pytest.mark.slow
def test_a_resolve_reaches_the_channel_through_the_alert_worker(  # type: ignore[no-untyped-def]
    client_for, start_worker, pg_url, receiver, redis_client
):
    """The gateway writes the delivery with the move; the alert worker, consuming `alerts,replies` as the
    Procfile and compose start it, delivers it after a 503."""
    from tests.conftest import _truncate

    _truncate(pg_url)
    env = {"REPLY_WEBHOOK_URL": receiver.url, "REPLY_WEBHOOK_SECRET": CHANNEL_SECRET}
    start_worker("classifier_worker", pg_url, queues="alerts,replies", app="alert_worker", **env)
    api = client_for(pg_url, reply_webhook_url=receiver.url, reply_webhook_secret=CHANNEL_SECRET)
    receiver.answer(503)
    ticket_id = web_ticket(api)
    _move(api, ticket_id, "resolved")
    wait_until(lambda: len(receiver.received) >= 2, timeout=60)
    first, second = receiver.received[:2]
    assert first.body == second.body and json.loads(second.body)["status"]["to"] == "resolved"
    assert verify(CHANNEL_SECRET, second.headers["x-copilot-signature"], second.body, now=int(time.time()))
    listed = lambda: api.get("/api/status-changes", params={"ticket_id": ticket_id}).json()[0]  # noqa: E731
    wait_until(lambda: listed()["state"] == "delivered", timeout=30)
    assert listed()["attempts"] == 2 and listed()["last_error"].startswith("HTTP 503")
