"""Webhook endpoints end to end on both databases and real Redis: signatures, idempotency, replies, limits."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from gateway.webhooks import ZENDESK_TEST_SECRET, sign_intercom, sign_zendesk
from shared.auth import create_key
from shared.models import Customer, Ticket, TicketMessage

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "webhooks"
ZD = "/api/tickets/webhook/zendesk"
IC = "/api/tickets/webhook/intercom"
ZD_SECRET = "zd-signing-secret"
IC_SECRET = "ic-client-secret"


def raw(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def zendesk_headers(body: bytes, *, secret: str = ZD_SECRET, at: datetime | None = None) -> dict[str, str]:
    ts = (at or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "Content-Type": "application/json",
        "X-Zendesk-Webhook-Signature": sign_zendesk(secret, body, ts),
        "X-Zendesk-Webhook-Signature-Timestamp": ts,
    }


def intercom_headers(body: bytes, *, secret: str = IC_SECRET) -> dict[str, str]:
    return {"Content-Type": "application/json", "X-Hub-Signature": sign_intercom(secret, body)}


@pytest.fixture
def signed_api(client_for: Callable, db_url: str, redis_client) -> Iterator:  # type: ignore[no-untyped-def]
    """Auth on, both vendor secrets configured: webhooks authenticate by signature alone."""
    yield client_for(db_url, auth_disabled=False, zendesk_webhook_secret=ZD_SECRET, intercom_client_secret=IC_SECRET)


def count(session_factory, model) -> int:  # type: ignore[no-untyped-def]
    with session_factory() as session:
        return session.scalar(select(func.count()).select_from(model))


# --------------------------------------------------------------------------- Zendesk


def test_zendesk_signed_event_creates_once_and_redelivery_returns_it(signed_api, session_factory) -> None:
    body = raw("zendesk_event_ticket_created.json")
    first = signed_api.post(ZD, content=body, headers=zendesk_headers(body))
    assert first.status_code == 201, first.text
    ticket = first.json()["ticket"]
    assert first.json()["status"] == "created"
    assert (ticket["source"], ticket["external_id"], ticket["customer_email"]) == ("zendesk", "5158", None)
    assert ticket["metadata"]["zendesk_priority"] == "high"

    # Zendesk retries with a fresh timestamp and signature: same ticket, nothing new.
    again = signed_api.post(ZD, content=body, headers=zendesk_headers(body))
    assert again.status_code == 200 and again.json()["status"] == "duplicate"
    assert again.json()["ticket"]["ticket_id"] == ticket["ticket_id"]
    assert count(session_factory, Ticket) == 1
    with session_factory() as session:
        customer = session.scalars(select(Customer)).one()
        assert (customer.email, customer.source, customer.external_id) == (None, "zendesk", "8447388090494")


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("missing", "missing"),
        ("wrong_secret", "does not match"),
        ("tampered", "does not match"),
        ("zendesk_test_secret", "does not match"),
        ("replayed", "replayed"),
        ("future", "in the future"),
        ("bad_timestamp", "does not match"),
    ],
)
def test_zendesk_bad_signatures_get_401(signed_api, session_factory, case: str, expected: str) -> None:
    body = raw("zendesk_seed.json")
    headers = {
        "missing": {"Content-Type": "application/json"},
        "wrong_secret": zendesk_headers(body, secret="not-the-secret"),
        "tampered": zendesk_headers(body.replace(b"Help needed", b"Help NEEDED")),
        "zendesk_test_secret": zendesk_headers(body, secret=ZENDESK_TEST_SECRET),
        "replayed": zendesk_headers(body, at=datetime.now(UTC) - timedelta(minutes=6)),
        "future": zendesk_headers(body, at=datetime.now(UTC) + timedelta(minutes=6)),
        "bad_timestamp": zendesk_headers(body) | {"X-Zendesk-Webhook-Signature-Timestamp": "yesterday"},
    }[case]
    resp = signed_api.post(ZD, content=body, headers=headers)
    assert resp.status_code == 401, resp.text
    assert expected in resp.json()["detail"]
    assert count(session_factory, Ticket) == 0


def test_zendesk_comment_appends_a_message_once(signed_api, session_factory) -> None:
    created = raw("zendesk_event_ticket_created.json")
    ticket_id = signed_api.post(ZD, content=created, headers=zendesk_headers(created)).json()["ticket"]["ticket_id"]
    comment = raw("zendesk_event_comment_added.json")
    for expected in ("appended", "duplicate"):
        resp = signed_api.post(ZD, content=comment, headers=zendesk_headers(comment))
        assert resp.status_code == 200 and resp.json()["status"] == expected
        assert resp.json()["ticket"]["ticket_id"] == ticket_id
    assert count(session_factory, Ticket) == 1
    with session_factory() as session:
        message = session.scalars(select(TicketMessage)).one()
        assert message.ticket_id == ticket_id and message.external_id == "31987654321"
        assert message.body == "I reinstalled the app and it still says 'invalid session'."


def _comment(comment_id: str, *, staff: bool, public: bool = True) -> bytes:
    body = json.loads(raw("zendesk_event_comment_added.json"))
    body["id"] = f"delivery-{comment_id}"
    author = {"id": "1", "is_staff": staff, "name": "Someone"}
    body["event"]["comment"].update(id=comment_id, author=author, is_public=public)
    return json.dumps(body).encode()


def test_the_first_agent_reply_sets_first_response_at_once(signed_api, session_factory) -> None:
    created = raw("zendesk_event_ticket_created.json")
    ticket_id = signed_api.post(ZD, content=created, headers=zendesk_headers(created)).json()["ticket"]["ticket_id"]

    def post(comment_id: str, *, staff: bool, public: bool = True) -> dict:  # type: ignore[type-arg]
        body = _comment(comment_id, staff=staff, public=public)
        response = signed_api.post(ZD, content=body, headers=zendesk_headers(body))
        assert response.status_code == 200 and response.json()["status"] == "appended", response.text
        return response.json()["ticket"]

    assert post("c1", staff=False)["first_response_at"] is None  # the customer again: no answer yet
    assert post("n1", staff=True, public=False)["first_response_at"] is None  # an internal note answers nobody
    answered = post("c2", staff=True)
    first = answered["first_response_at"]
    assert first is not None
    assert post("c3", staff=True)["first_response_at"] == first  # later replies do not move it
    with session_factory() as session:
        reply = session.scalars(select(TicketMessage).where(TicketMessage.external_id == "c2")).one()
        assert datetime.fromisoformat(first) == reply.created_at
    key = {"X-API-Key": _key(session_factory, "agent")}
    thread = signed_api.get(f"/api/tickets/{ticket_id}/messages", headers=key).json()
    assert [(m["external_id"], m["internal"]) for m in thread] == [
        ("c1", False), ("n1", True), ("c2", False), ("c3", False),
    ]  # fmt: skip
    stored = signed_api.get(f"/api/tickets/{ticket_id}", headers=key).json()
    assert stored["first_response_at"] == first and stored["updated_at"] == answered["updated_at"]


def test_a_ticket_opened_by_an_agent_reply_has_no_first_response(signed_api) -> None:
    body = _comment("c9", staff=True)
    response = signed_api.post(ZD, content=body, headers=zendesk_headers(body))
    assert response.status_code == 201 and response.json()["ticket"]["first_response_at"] is None


def test_the_customers_comment_reopens_a_ticket_waiting_for_them(signed_api, session_factory) -> None:
    created = raw("zendesk_event_ticket_created.json")
    ticket_id = signed_api.post(ZD, content=created, headers=zendesk_headers(created)).json()["ticket"]["ticket_id"]
    key = {"X-API-Key": _key(session_factory, "agent")}
    moved = signed_api.put(f"/api/tickets/{ticket_id}/status", json={"status": "pending"}, headers=key)
    assert moved.status_code == 200, moved.text

    def post(comment_id: str, *, staff: bool) -> str:
        body = _comment(comment_id, staff=staff)
        response = signed_api.post(ZD, content=body, headers=zendesk_headers(body))
        assert response.status_code == 200 and response.json()["status"] == "appended", response.text
        return response.json()["ticket"]["status"]

    assert post("c1", staff=True) == "pending"  # the agent's reply: still waiting for the customer
    assert post("c2", staff=False) == "open"  # the customer answered
    assert signed_api.get(f"/api/tickets/{ticket_id}", headers=key).json()["status"] == "open"
    history = signed_api.get(f"/api/tickets/{ticket_id}/history", headers=key).json()
    assert [(h["old_value"], h["new_value"]) for h in history if h["field"] == "status"] == [
        ("new", "pending"), ("pending", "open"),
    ]  # fmt: skip


def test_the_customers_comment_asks_for_a_new_round(signed_api, session_factory, redis_client) -> None:
    """The stored draft answered the ticket's opening message; an agent's comment leaves it (and stops the
    customer's wait), a customer's sends the ticket back to be classified and drafted (and starts it again)."""
    created = raw("zendesk_event_ticket_created.json")
    ticket_id = signed_api.post(ZD, content=created, headers=zendesk_headers(created)).json()["ticket"]["ticket_id"]
    with session_factory() as session:
        ticket = session.get(Ticket, ticket_id)
        ticket.ai_suggested_category, ticket.processing_state = "account", "done"
        session.commit()
    redis_client.delete("draft", "classify")

    def post(comment_id: str, *, staff: bool) -> str:
        body = _comment(comment_id, staff=staff)
        response = signed_api.post(ZD, content=body, headers=zendesk_headers(body))
        assert response.status_code == 200 and response.json()["status"] == "appended", response.text
        return response.json()["ticket"]["processing_state"]

    assert post("c1", staff=True) == "done" and redis_client.llen("classify") == 0
    key = {"X-API-Key": _key(session_factory, "agent")}
    assert signed_api.get(f"/api/tickets/{ticket_id}", headers=key).json()["awaiting_reply_since"] is None  # replied
    assert post("c2", staff=False) == "queued"
    assert redis_client.llen("classify") == 1
    assert signed_api.get(f"/api/tickets/{ticket_id}", headers=key).json()["awaiting_reply_since"] is not None


def test_zendesk_comment_for_an_unknown_ticket_creates_it(signed_api, session_factory) -> None:
    comment = raw("zendesk_event_comment_added.json")
    resp = signed_api.post(ZD, content=comment, headers=zendesk_headers(comment))
    assert resp.status_code == 201 and resp.json()["ticket"]["subject"] == "Cannot login to mobile app"
    assert count(session_factory, TicketMessage) == 1


# --------------------------------------------------------------------------- Intercom


def test_intercom_signed_conversation_html_to_text_and_replayed_delivery(signed_api, session_factory) -> None:
    body = raw("intercom_conversation_user_created_v2.json")
    first = signed_api.post(IC, content=body, headers=intercom_headers(body))
    assert first.status_code == 201, first.text
    ticket = first.json()["ticket"]
    assert ticket["customer_email"] == "dana.reyes@example.com"
    assert ticket["description"].startswith('Hi, my order #48213 never arrived.\n\nTracking says "delivered"')
    assert "<p>" not in ticket["description"]
    # The exact same signed request again (a replay, or Intercom's retry): nothing new.
    replay = signed_api.post(IC, content=body, headers=intercom_headers(body))
    assert replay.status_code == 200 and replay.json()["status"] == "duplicate"
    assert replay.json()["ticket"]["ticket_id"] == ticket["ticket_id"]

    reply = raw("intercom_conversation_user_replied_v2.json")
    for expected in ("appended", "duplicate"):
        resp = signed_api.post(IC, content=reply, headers=intercom_headers(reply))
        assert resp.status_code == 200 and resp.json()["status"] == expected
    assert count(session_factory, Ticket) == 1
    messages = signed_api.get(
        f"/api/tickets/{ticket['ticket_id']}/messages", headers={"X-API-Key": _key(session_factory, "agent")}
    )
    assert messages.status_code == 200
    assert [m["body"] for m in messages.json()] == ["Any update? It's been three days."]


@pytest.mark.parametrize("case", ["missing", "wrong_secret", "tampered", "not_sha1_prefixed"])
def test_intercom_bad_signatures_get_401(signed_api, session_factory, case: str) -> None:
    body = raw("intercom_conversation_user_created_v1.json")
    headers = {
        "missing": {"Content-Type": "application/json"},
        "wrong_secret": intercom_headers(body, secret="nope"),
        "tampered": intercom_headers(body.replace(b"Hello everyone", b"Hello every1")),
        "not_sha1_prefixed": {"X-Hub-Signature": sign_intercom(IC_SECRET, body).removeprefix("sha1=")},
    }[case]
    resp = signed_api.post(IC, content=body, headers=headers)
    assert resp.status_code == 401, resp.text
    assert count(session_factory, Ticket) == 0


def test_intercom_ping_v1_ticket_created_and_seed(signed_api, session_factory) -> None:
    ping = raw("intercom_ping.json")
    resp = signed_api.post(IC, content=ping, headers=intercom_headers(ping))
    assert resp.status_code == 200 and resp.json()["status"] == "pong" and resp.json()["ticket"] is None

    v1 = raw("intercom_conversation_user_created_v1.json")
    resp = signed_api.post(IC, content=v1, headers=intercom_headers(v1))
    assert resp.status_code == 201 and resp.json()["ticket"]["customer_name"] == "Rose Poodle from St. John's"

    created = raw("intercom_ticket_created.json")
    resp = signed_api.post(IC, content=created, headers=intercom_headers(created))
    assert resp.status_code == 201 and resp.json()["ticket"]["subject"] == "Refund for duplicate charge"

    seed = raw("intercom_seed.json")
    resp = signed_api.post(IC, content=seed, headers=intercom_headers(seed))
    assert resp.status_code == 201 and resp.json()["ticket"]["external_id"] == "123"
    assert count(session_factory, Ticket) == 3


# --------------------------------------------------------------------------- without secrets, limits, bad bodies


def _key(session_factory, role: str) -> str:  # type: ignore[no-untyped-def]
    with session_factory() as session:
        return create_key(session, name=f"test-{role}", role=role)[1]


def test_without_a_secret_webhooks_need_an_integration_key(client_for, db_url, redis_client, session_factory) -> None:
    api = client_for(db_url, auth_disabled=False)
    body = raw("zendesk_seed.json")
    assert api.post(ZD, content=body).status_code == 401
    assert api.post(IC, content=raw("intercom_seed.json"), headers={"X-API-Key": "sc_guess"}).status_code == 401
    key = _key(session_factory, "integration")
    resp = api.post(ZD, content=body, headers={"Authorization": f"Bearer {key}"})
    assert resp.status_code == 201 and resp.json()["ticket"]["customer_email"] == "customer@example.com"


def test_oversized_invalid_and_unrendered_bodies(client_for, db_url, redis_client, session_factory) -> None:
    api = client_for(db_url, webhook_max_body_bytes=4096)  # AUTH_DISABLED from conftest, no secrets
    big = json.dumps({"ticket": {"id": 1, "subject": "x", "description": "y" * 5000}}).encode()
    assert api.post(ZD, content=big).status_code == 413

    def chunks() -> Iterator[bytes]:  # no Content-Length: the limit holds while streaming
        for _ in range(10):
            yield b" " * 1000

    resp = api.post(IC, content=chunks())
    assert resp.status_code == 413 and "4096" in resp.json()["detail"]
    assert api.post(ZD, content=b"{not json").status_code == 422
    assert api.post(ZD, content=b"").status_code == 422
    assert api.post(IC, content=b"[1, 2]").status_code == 422
    resp = api.post(ZD, content=raw("zendesk_trigger_template.txt"))
    assert resp.status_code == 422 and "no ticket/conversation id" in resp.json()["detail"]
    assert count(session_factory, Ticket) == 0


# --------------------------------------------------------------------------- documented shapes over HTTP


def test_wrong_typed_key_fields_get_422_naming_the_field_after_the_signature_check(signed_api, session_factory) -> None:
    body = json.dumps({"ticket": {"id": {"nested": 1}, "subject": "Help", "requester": {"email": "a@b.co"}}}).encode()
    unsigned = signed_api.post(ZD, content=body, headers={"Content-Type": "application/json"})
    assert unsigned.status_code == 401, unsigned.text  # the signature is checked on the raw body first
    resp = signed_api.post(ZD, content=body, headers=zendesk_headers(body))
    assert resp.status_code == 422, resp.text
    assert "ticket.id: must be a string or an integer, not an object" in resp.json()["detail"]

    seed = json.loads(raw("intercom_seed.json"))
    seed["user"]["email"] = ["customer@example.com"]
    body = json.dumps(seed).encode()
    assert signed_api.post(IC, content=body, headers={"X-Hub-Signature": "sha1=00"}).status_code == 401
    resp = signed_api.post(IC, content=body, headers=intercom_headers(body))
    assert resp.status_code == 422 and "user.email: must be a string or null" in resp.json()["detail"]
    assert count(session_factory, Ticket) == 0


def test_a_trigger_body_without_a_requester_still_creates_the_ticket(client_for, db_url, redis_client, session_factory):
    api = client_for(db_url)  # AUTH_DISABLED from conftest, no secrets
    for ticket_id in ("501", "502"):
        resp = api.post(ZD, json={"ticket_id": ticket_id, "subject": "Where is my parcel?"})
        assert resp.status_code == 201, resp.text
    with session_factory() as session:
        tickets = session.scalars(select(Ticket)).all()
        # each unknown requester is a customer of its own, never merged with another ticket's
        assert len({t.customer_id for t in tickets}) == 2
        assert {c.source for c in session.scalars(select(Customer))} == {"zendesk"}


def test_documented_request_bodies_are_the_validating_models(api) -> None:
    spec = api.get("/openapi.json").json()
    for path, titles in (
        (ZD, {"Zendesk ticket body", "Zendesk trigger JSON", "Zendesk event ticket.comment_added"}),
        (IC, {"Intercom conversation (seed body)", "Intercom notification: ping"}),
    ):
        schema = spec["paths"][path]["post"]["requestBody"]["content"]["application/json"]["schema"]
        assert titles <= {branch["title"] for branch in schema["anyOf"]}
        assert all(branch.get("additionalProperties") is True for branch in schema["anyOf"])  # extra fields allowed


def test_nul_characters_and_long_names_are_stored_on_both_databases(api, session_factory) -> None:
    """PostgreSQL refuses NUL in text and names longer than their column: the parser cleans both, no 5xx."""
    body = {
        "ticket_id": "nul-1",
        "subject": "Refund\u0000 please",
        "priority": "\u0000high",
        "requester_name": "N" * 300,
        "requester_id": "r\u00001",
    }
    resp = api.post(ZD, json=body)  # an id with NUL is refused by the documented id rule
    assert resp.status_code == 422 and "requester_id: must contain a visible character" in resp.json()["detail"]
    resp = api.post(ZD, json=body | {"requester_id": "r-1"})
    assert resp.status_code == 201, resp.text
    ticket = resp.json()["ticket"]
    assert ticket["subject"] == "Refund please" and ticket["metadata"]["zendesk_priority"] == "high"
    assert len(ticket["customer_name"]) == 255
