"""A customer's message to a closed web or API ticket: kept there, it opens a follow-up ticket (the
customer's next messages go to it while it is open), retried safely, one follow-up for two messages at
once, and the link in the ticket views and the channel's bodies. Each database, real Redis."""

from __future__ import annotations

import threading

import sqlalchemy as sa

from gateway.services.replies import REPLY_SOURCE, current_follow_up, store_message
from shared.models import ReplyDelivery, Ticket, TicketMessage
from tests.gateway.conftest import stored, web_ticket
from tests.gateway.test_retry import _newest


def _close(api, ticket_id: str) -> None:  # type: ignore[no-untyped-def]
    for step in ("resolved", "closed"):
        response = api.put(f"/api/tickets/{ticket_id}/status", json={"status": step})
        assert response.status_code == 200, response.text


def _write(api, ticket_id: str, expected: int = 201, **body: object) -> dict:  # type: ignore[no-untyped-def]
    response = api.post(f"/api/tickets/{ticket_id}/customer-messages", json=body)
    assert response.status_code == expected, response.text
    return response.json()


def _follow_ups(session_factory, ticket_id: str) -> list[str]:  # type: ignore[no-untyped-def]
    with session_factory() as session:
        query = sa.select(Ticket.ticket_id).where(Ticket.follow_up_of == ticket_id).order_by(Ticket.created_at)
        return list(session.scalars(query))


def test_a_message_to_a_closed_ticket_opens_a_follow_up_ticket(api, session_factory, redis_client):  # type: ignore[no-untyped-def]
    assert api.post("/api/agents", json={"agent_id": "AGENT-001", "name": "Ann"}).status_code == 201
    closed = web_ticket(api, source="api")
    assert api.put(f"/api/tickets/{closed}/assign", json={"agent_id": "AGENT-001"}).status_code == 200
    assert api.post(f"/api/tickets/{closed}/tags", json={"add": ["vip", "refund"]}).status_code == 200
    _close(api, closed)
    before = api.get(f"/api/tickets/{closed}").json()
    redis_client.delete("classify")

    body = "The refund never came. Card 4111 1111 1111 1111 was charged."
    answer = _write(api, closed, body=body, client_message_id="web-41")

    kept, ticket, follow_up = answer["message"], answer["ticket"], answer["follow_up"]
    assert ticket["ticket_id"] == closed and ticket["status"] == "closed"  # final: not reopened
    assert ticket["updated_at"] == before["updated_at"] and ticket["processing_state"] == before["processing_state"]
    assert kept["ticket_id"] == closed and kept["follow_up_ticket_id"] == follow_up["ticket_id"]
    assert follow_up["follow_up_of"] == closed and ticket["follow_up_of"] is None
    assert (follow_up["status"], follow_up["processing_state"]) == ("new", "queued")
    assert follow_up["description"] == kept["body"] == "The refund never came. Card [card ending 1111] was charged."
    for same in ("customer_id", "customer_email", "customer_name", "subject", "source", "assigned_to", "tags"):
        assert follow_up[same] == before[same], same
    assert follow_up["tags"] == ["refund", "vip"] and follow_up["assigned_to"] == "AGENT-001"
    assert follow_up["awaiting_reply_since"] is not None  # the customer waits, from now
    assert _newest(redis_client, "classify") == follow_up["ticket_id"]  # classified and drafted like any ticket
    assert api.get(f"/api/tickets/{follow_up['ticket_id']}").json()["follow_up_of"] == closed

    again = _write(api, closed, 200, body=body, client_message_id="web-41")  # the answer was lost: a retry
    assert again["follow_up"]["ticket_id"] == follow_up["ticket_id"] and again["message"]["id"] == kept["id"]
    assert _follow_ups(session_factory, closed) == [follow_up["ticket_id"]]
    assert redis_client.llen("classify") == 1
    thread = api.get(f"/api/tickets/{closed}/messages").json()
    assert [(m["body"], m["follow_up_ticket_id"]) for m in thread] == [(kept["body"], follow_up["ticket_id"])]


def test_the_next_messages_go_to_the_open_follow_up_then_to_a_new_one(api, session_factory):  # type: ignore[no-untyped-def]
    closed = web_ticket(api)
    _close(api, closed)
    first = _write(api, closed, body="Still no refund.")["follow_up"]["ticket_id"]
    assert api.put(f"/api/tickets/{first}/status", json={"status": "pending"}).status_code == 200

    second = _write(api, closed, body="Here is the receipt.", client_message_id="web-42")
    assert second["message"]["ticket_id"] == first and second["message"]["follow_up_ticket_id"] is None
    assert second["follow_up"]["ticket_id"] == first and second["follow_up"]["status"] == "open"  # reopened
    assert second["ticket"]["ticket_id"] == closed
    assert [m["body"] for m in api.get(f"/api/tickets/{first}/messages").json()] == ["Here is the receipt."]
    assert len(api.get(f"/api/tickets/{closed}/messages").json()) == 1  # only the message that opened it
    retried = _write(api, closed, 200, body="Here is the receipt.", client_message_id="web-42")
    assert retried["message"]["id"] == second["message"]["id"] and retried["follow_up"]["ticket_id"] == first
    other = web_ticket(api)
    reused = api.post(f"/api/tickets/{other}/customer-messages", json={"body": "x", "client_message_id": "web-42"})
    assert reused.status_code == 409 and f"already a message on ticket '{first}'" in reused.json()["detail"]

    note = api.post(f"/api/tickets/{closed}/messages", json={"body": "see the follow-up", "internal": True}).json()
    assert note["message"]["ticket_id"] == closed and note["follow_up"] is None  # an agent's note stays put

    _close(api, first)
    newer = _write(api, closed, body="It happened again.")["follow_up"]
    assert newer["follow_up_of"] == closed and _follow_ups(session_factory, closed) == [first, newer["ticket_id"]]
    latest = _write(api, closed, body="Any news?")
    assert latest["message"]["ticket_id"] == newer["ticket_id"]  # the open one, not the first (closed)
    of_follow_up = _write(api, first, body="And about the receipt...")["follow_up"]
    assert of_follow_up["follow_up_of"] == first and of_follow_up["ticket_id"] != newer["ticket_id"]

    listed = api.get("/api/tickets/", params={"follow_up_of": closed, "sort": "oldest"}).json()
    assert [t["ticket_id"] for t in listed] == [first, newer["ticket_id"]]
    assert [t["ticket_id"] for t in api.get("/api/tickets/", params={"follow_up_of": first}).json()] == [
        of_follow_up["ticket_id"]
    ]
    assert api.get("/api/tickets/", params={"follow_up_of": "TKT bad"}).status_code == 422


def test_an_inactive_agent_is_not_given_the_follow_up(api):  # type: ignore[no-untyped-def]
    assert api.post("/api/agents", json={"agent_id": "AGENT-002", "name": "Bo"}).status_code == 201
    closed = web_ticket(api)
    assert api.put(f"/api/tickets/{closed}/assign", json={"agent_id": "AGENT-002"}).status_code == 200
    _close(api, closed)
    assert api.patch("/api/agents/AGENT-002", json={"active": False}).status_code == 200
    follow_up = _write(api, closed, body="Hello again")["follow_up"]
    assert follow_up["assigned_to"] is None and follow_up["tags"] == []


def test_messages_to_open_tickets_name_no_follow_up(api):  # type: ignore[no-untyped-def]
    ticket_id = web_ticket(api)
    answer = _write(api, ticket_id, body="One more thing.")
    assert answer["follow_up"] is None and answer["message"]["follow_up_ticket_id"] is None
    note = api.post(f"/api/tickets/{ticket_id}/messages", json={"body": "checked", "internal": True}).json()
    assert note["follow_up"] is None
    _close(api, ticket_id)
    after_close = api.post(f"/api/tickets/{ticket_id}/messages", json={"body": "closing note", "internal": True})
    assert after_close.status_code == 201 and after_close.json()["follow_up"] is None  # an agent's: kept there


def test_two_messages_at_once_open_one_follow_up(api, db_url, session_factory):  # type: ignore[no-untyped-def]
    """One message holds the closed ticket (as it would before storing itself); the other waits, then finds the
    follow-up the first opened and goes to it."""
    closed = web_ticket(api)
    _close(api, closed)
    answers: list[dict] = []
    with session_factory() as holder:
        assert current_follow_up(holder, holder.get(Ticket, closed)) is None  # held until this session commits
        writer = threading.Thread(target=lambda: answers.append(_write(api, closed, body="Second")))
        writer.start()
        writer.join(timeout=1.5)
        assert writer.is_alive()  # waiting on the hold
        opened = _write_from(holder, closed, "First")
    writer.join(timeout=30)
    assert not writer.is_alive()
    (second,) = answers
    assert second["follow_up"]["ticket_id"] == opened == second["message"]["ticket_id"]
    assert _follow_ups(session_factory, closed) == [opened]


def _write_from(session, closed: str, body: str) -> str:  # type: ignore[no-untyped-def]
    """Store a customer's message on the held closed ticket in `session` (as `add_message` goes on to); the
    follow-up it opened."""
    ticket = session.get(Ticket, closed)
    message = TicketMessage(ticket_id=closed, source=REPLY_SOURCE, author_type="customer", body=body, internal=False)
    stored, _ = store_message(session, ticket, message)
    return str(stored.follow_up_ticket_id)


def test_the_channels_bodies_name_the_closed_ticket(channel, session_factory):  # type: ignore[no-untyped-def]
    api, _ = channel
    closed = web_ticket(api)
    _close(api, closed)
    follow_up = _write(api, closed, body="Hello again")["follow_up"]["ticket_id"]
    assert api.post(f"/api/tickets/{follow_up}/messages", json={"body": "On it."}).status_code == 201
    (delivery,) = stored(session_factory, ReplyDelivery, ReplyDelivery.message_id)
    assert delivery.payload["ticket"]["ticket_id"] == follow_up and delivery.payload["ticket"]["follow_up_of"] == closed


def test_a_vendors_message_to_a_closed_ticket_opens_nothing(api, session_factory):  # type: ignore[no-untyped-def]
    """An Intercom reply to a conversation closed here (through its webhook's `store_message`) is kept on it:
    Intercom reopens its own conversation, and Zendesk makes its own follow-ups."""
    closed = web_ticket(api, source="intercom")
    _close(api, closed)
    with session_factory() as session:
        ticket = session.get(Ticket, closed)
        part = TicketMessage(ticket_id=closed, source="intercom", external_id="p-9", author_type="customer", body="hi")
        stored_message, created = store_message(session, ticket, part)
        assert created and stored_message.follow_up_ticket_id is None
    assert _follow_ups(session_factory, closed) == []
    assert api.get(f"/api/tickets/{closed}").json()["status"] == "closed"
