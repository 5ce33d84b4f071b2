"""Agents' replies on web and API tickets POSTed to the channel's backend (REPLY_WEBHOOK_URL): the outbox row
written with the reply, delivery with signing, retries and give-up rules, the failed list and its re-send,
the sweeper's re-send of a task lost with Redis, and erasure. Each database, a real receiver, real Redis."""

from __future__ import annotations

import json
import time

import pytest
from pydantic import ValidationError

from classifier_worker.delivery import deliver
from gateway.sweeper import sweep_once
from shared.celery import REPLY_TASK
from shared.config import Settings
from shared.models import ReplyDelivery
from shared.outbox import REPLIES, verify
from tests.conftest import wait_until
from tests.gateway.conftest import CHANNEL_SECRET, queued_replies, stored, web_ticket


def _post(api, ticket_id: str, path: str = "messages", expected: int = 201, **body: object) -> dict:  # type: ignore[no-untyped-def]
    response = api.post(f"/api/tickets/{ticket_id}/{path}", json=body)
    assert response.status_code == expected, response.text
    return response.json()["message"]


def _rows(session_factory) -> list[ReplyDelivery]:  # type: ignore[no-untyped-def]
    return stored(session_factory, ReplyDelivery, ReplyDelivery.message_id)


def test_a_public_reply_is_written_with_it_and_delivered_signed(channel, session_factory, receiver, redis_client):  # type: ignore[no-untyped-def]
    api, settings = channel
    ticket_id = web_ticket(api)
    note = _post(api, ticket_id, body="VIP customer; check the refund queue.", internal=True)
    assert note["delivery"] is None and _rows(session_factory) == []  # a note goes to nobody
    reply = _post(api, ticket_id, body="Refunded to card 4111 1111 1111 1111 today.", client_message_id="r-1")
    assert reply["delivery"]["state"] == "pending" and reply["delivery"]["attempts"] == 0
    (task,) = queued_replies(redis_client)
    assert task["headers"]["task"] == REPLY_TASK and task["headers"]["argsrepr"] == repr([reply["id"]])
    (row,) = _rows(session_factory)
    assert row.message_id == reply["id"] and row.ticket_id == ticket_id

    slack_alerts = settings.model_copy(update={"alert_format": "slack"})  # for alerts only: the backend gets ours
    assert deliver(reply["id"], settings=slack_alerts, factory=session_factory, outbox=REPLIES).status == "delivered"
    (received,) = receiver.received
    assert received.headers["x-copilot-message-id"] == str(reply["id"])
    assert verify(CHANNEL_SECRET, received.headers["x-copilot-signature"], received.body, now=int(time.time()))
    body = json.loads(received.body)
    assert body["id"] == reply["id"] and body["event"] == "ticket.reply"
    assert body["ticket"]["ticket_id"] == ticket_id and body["ticket"]["source"] == "web"
    assert body["ticket"]["customer"]["email"] == "ann@example.com" and body["ticket"]["customer"]["name"] == "Ann Lee"
    assert body["message"]["body"] == reply["body"] and "1111 1111" not in body["message"]["body"]  # masked
    assert body["message"]["author_name"] == reply["author_name"]
    assert body["message"]["created_at"] == body["created_at"]

    assert deliver(reply["id"], settings=settings, factory=session_factory, outbox=REPLIES).status == "skipped"
    body_again = {"body": "Refunded to card 4111 1111 1111 1111 today.", "client_message_id": "r-1"}
    again = _post(api, ticket_id, expected=200, **body_again)
    assert again["delivery"]["state"] == "delivered" and len(queued_replies(redis_client)) == 1  # no second delivery
    thread = api.get(f"/api/tickets/{ticket_id}/messages").json()
    assert [m["delivery"] and m["delivery"]["state"] for m in thread] == [None, "delivered"]
    assert len(receiver.received) == 1


def test_nothing_is_sent_without_the_url_for_customers_messages_or_for_vendor_tickets(  # type: ignore[no-untyped-def]
    channel, client_for, db_url, session_factory, redis_client
):
    api, _ = channel
    ticket_id = web_ticket(api)
    assert _post(api, ticket_id, "customer-messages", body="Any news?")["delivery"] is None
    vendor = web_ticket(api, source="zendesk")
    assert _post(api, vendor, body="Refund approved by finance.", internal=True)["delivery"] is None
    assert _rows(session_factory) == [] and queued_replies(redis_client) == []

    off = client_for(db_url)  # REPLY_WEBHOOK_URL unset: the backend reads the messages, as before
    assert _post(off, ticket_id, body="We are on it.")["delivery"] is None
    assert _rows(session_factory) == [] and queued_replies(redis_client) == []
    assert off.get("/api/overview").json()["replies"] == {"pending": 0, "failed": 0, "oldest_pending_since": None}


def test_a_refused_reply_fails_is_listed_and_sent_again(channel, session_factory, receiver, redis_client):  # type: ignore[no-untyped-def]
    api, settings = channel
    ticket_id = web_ticket(api)
    refused = _post(api, ticket_id, body="First answer.")["id"]
    busy = _post(api, ticket_id, body="Second answer.")["id"]
    receiver.answer(410)
    receiver.answer(503, {"retry-after": "7"})
    assert deliver(refused, settings=settings, factory=session_factory, outbox=REPLIES).status == "failed"
    retried = deliver(busy, settings=settings, factory=session_factory, outbox=REPLIES)
    assert retried.status == "retry" and retried.countdown == 7

    listed = api.get("/api/replies").json()
    assert [(r["message_id"], r["state"]) for r in listed] == [(busy, "pending"), (refused, "failed")]
    (failed,) = api.get("/api/replies", params={"state": "failed"}).json()
    assert failed["message_id"] == refused and failed["ticket_id"] == ticket_id
    assert failed["last_error"].startswith("HTTP 410")
    assert [r["message_id"] for r in api.get("/api/replies", params={"ticket_id": ticket_id}).json()] == [busy, refused]
    assert api.get("/api/replies", params={"ticket_id": "TKT-20990101-00000000"}).json() == []
    counts = api.get("/api/overview").json()["replies"]
    assert counts["pending"] == 1 and counts["failed"] == 1
    thread = api.get(f"/api/tickets/{ticket_id}/messages").json()
    assert [m["delivery"]["state"] for m in thread] == ["failed", "pending"]

    for bad, status in (("12345678", 404), ("abc", 422), ("0", 422), (str(2**31), 422), (str(busy), 409)):
        response = api.post(f"/api/replies/{bad}/retry")
        assert response.status_code == status, response.text
    assert "still being delivered" in api.post(f"/api/replies/{busy}/retry").json()["detail"]
    assert "message_id" in api.post("/api/replies/abc/retry").json()["detail"]
    redis_client.delete("replies")
    again = api.post(f"/api/replies/{refused}/retry")
    assert again.status_code == 202 and again.json()["state"] == "pending" and again.json()["attempts"] == 0
    assert [t["headers"]["argsrepr"] for t in queued_replies(redis_client)] == [repr([refused])]
    assert deliver(refused, settings=settings, factory=session_factory, outbox=REPLIES).status == "delivered"
    assert api.get("/api/replies", params={"state": "failed"}).json() == []
    assert api.post(f"/api/replies/{refused}/retry").status_code == 409


def test_a_reply_whose_task_was_lost_is_swept_and_an_erased_one_never_sent(  # type: ignore[no-untyped-def]
    channel, db_url, session_factory, receiver, redis_client, settings_for
):
    api, settings = channel
    kept = _post(api, web_ticket(api), body="Your refund is on its way.")["id"]
    erased_ticket = web_ticket(api, customer_email="bo@example.com")
    erased = _post(api, erased_ticket, body="Bo, your refund is on its way.")["id"]
    redis_client.flushdb()  # both tasks lost with Redis

    assert api.post(f"/api/tickets/{erased_ticket}/erase").status_code == 200
    swept = sweep_once(session_factory, settings_for(db_url, reply_webhook_url=receiver.url, sweep_stale_after_s=0.001))
    assert swept.replies == (kept,)
    assert [t["headers"]["argsrepr"] for t in queued_replies(redis_client)] == [repr([kept])]
    assert deliver(erased, settings=settings, factory=session_factory, outbox=REPLIES).status == "skipped"
    assert deliver(kept, settings=settings, factory=session_factory, outbox=REPLIES).status == "delivered"
    assert [json.loads(r.body)["id"] for r in receiver.received] == [kept]
    assert sweep_once(session_factory, settings_for(db_url, sweep_stale_after_s=0.001)).replies == ()


def test_the_reply_url_is_checked_at_start() -> None:
    with pytest.raises(ValidationError, match="reply_webhook_url"):
        Settings(reply_webhook_url="forms.example.com/hooks")
    empty = Settings(reply_webhook_url="", reply_webhook_secret="")  # compose passes them through empty
    assert empty.reply_webhook_url is None and empty.reply_webhook_secret is None


@pytest.mark.slow
def test_a_reply_reaches_the_channel_through_the_alert_worker(client_for, start_worker, pg_url, receiver, redis_client):  # type: ignore[no-untyped-def]
    """The gateway writes the delivery with the reply; the alert worker, consuming `alerts,replies` as the
    Procfile and compose start it, delivers it after a 503. The gateway's scrape shows the worker's runs: the
    retry, the success, and a message that expired before any worker took it."""
    from shared.celery import REPLIES_QUEUE, send_quietly
    from tests.conftest import _truncate
    from tests.prometheus_text import parse_samples

    _truncate(pg_url)
    assert send_quietly(REPLY_TASK, 999_999, REPLIES_QUEUE, expires=0.2)
    time.sleep(0.3)
    env = {"REPLY_WEBHOOK_URL": receiver.url, "REPLY_WEBHOOK_SECRET": CHANNEL_SECRET}
    start_worker("classifier_worker", pg_url, queues="alerts,replies", app="alert_worker", **env)
    api = client_for(pg_url, reply_webhook_url=receiver.url, reply_webhook_secret=CHANNEL_SECRET)
    receiver.answer(503)
    ticket_id = web_ticket(api)
    reply = _post(api, ticket_id, body="Your refund was sent today.")
    wait_until(lambda: len(receiver.received) >= 2, timeout=60)
    first, second = receiver.received[:2]
    assert first.body == second.body and json.loads(second.body)["message"]["id"] == reply["id"]
    assert verify(CHANNEL_SECRET, second.headers["x-copilot-signature"], second.body, now=int(time.time()))
    delivered = lambda: api.get(f"/api/tickets/{ticket_id}/messages").json()[0]["delivery"]  # noqa: E731
    wait_until(lambda: delivered()["state"] == "delivered", timeout=30)
    assert delivered()["attempts"] == 2 and delivered()["last_error"].startswith("HTTP 503")

    def runs() -> dict[str, float]:
        samples = parse_samples(api.get("/metrics").text)
        ended = {
            labels["state"]: v
            for labels, v in ((dict(k), v) for k, v in samples["support_copilot_worker_tasks_total"].items())
            if labels["task"] == REPLY_TASK
        }
        return {"started": samples["support_copilot_worker_task_starts_total"][(("task", REPLY_TASK),)], **ended}

    wait_until(lambda: runs().get("success"), timeout=10)  # counted once the task has returned
    assert runs() == {"started": 2, "retry": 1, "success": 1, "expired": 1}
