"""Agents' replies posted to the gateway (`POST /api/tickets/{id}/messages`), on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select

from shared.auth import create_key
from shared.models import TicketMessage

TICKET = {"customer_email": "reply@example.com", "subject": "Refund?", "description": "Where is my refund?"}


def _ticket(api, **extra) -> str:  # type: ignore[no-untyped-def]
    response = api.post("/api/tickets/create", json={**TICKET, **extra})
    assert response.status_code == 201, response.text
    return response.json()["ticket"]["ticket_id"]


def _reply(api, ticket_id: str, expected: int = 201, **body):  # type: ignore[no-untyped-def]
    response = api.post(f"/api/tickets/{ticket_id}/messages", json=body)
    assert response.status_code == expected, response.text
    return response.json()


def test_the_first_public_reply_is_the_first_response(api):
    ticket_id = _ticket(api, source="web")
    note = _reply(api, ticket_id, body="  Customer is a VIP; check the refund queue.  ", internal=True)
    assert note["message"]["internal"] is True and note["message"]["author_type"] == "agent"
    assert note["message"]["body"] == "Customer is a VIP; check the refund queue."  # stripped
    assert note["ticket"]["first_response_at"] is None  # a note answers nobody

    answer = _reply(api, ticket_id, body="Your refund was sent today; it takes 3-5 days.")
    first = answer["ticket"]["first_response_at"]
    assert first is not None and datetime.fromisoformat(first) == datetime.fromisoformat(
        answer["message"]["created_at"]
    )
    assert answer["ticket"]["updated_at"] == api.get(f"/api/tickets/{ticket_id}").json()["updated_at"]
    later = _reply(api, ticket_id, body="Any news?")
    assert later["ticket"]["first_response_at"] == first  # later replies do not move it

    thread = api.get(f"/api/tickets/{ticket_id}/messages").json()
    assert [(m["internal"], m["source"], m["author_type"]) for m in thread] == [
        (True, "api", "agent"), (False, "api", "agent"), (False, "api", "agent"),
    ]  # fmt: skip
    assert api.get("/api/overview").json()["first_response_last_7d"]["answered"] == 1
    assert [t["ticket_id"] for t in api.get("/api/tickets/?answered=true").json()] == [ticket_id]


def test_a_retried_reply_is_stored_once(api, session_factory):
    ticket_id = _ticket(api)
    first = _reply(api, ticket_id, body="We have refunded you.", client_message_id="draft-41")
    again = _reply(api, ticket_id, 200, body="We have refunded you.", client_message_id="draft-41")
    assert again["message"] == first["message"]
    assert again["ticket"]["first_response_at"] == first["ticket"]["first_response_at"]
    with session_factory() as session:
        assert session.scalar(select(func.count()).select_from(TicketMessage)) == 1

    other = _ticket(api)
    response = api.post(f"/api/tickets/{other}/messages", json={"body": "Hi", "client_message_id": "draft-41"})
    assert response.status_code == 409 and ticket_id in response.json()["detail"], response.text


def test_a_vendor_ticket_is_answered_in_the_vendors_tool(api):
    ticket_id = _ticket(api, source="zendesk")
    response = api.post(f"/api/tickets/{ticket_id}/messages", json={"body": "Refunded."})
    assert response.status_code == 409, response.text
    assert "zendesk" in response.json()["detail"] and "internal note" in response.json()["detail"]
    note = _reply(api, ticket_id, body="Refund approved by finance.", internal=True)
    assert note["ticket"]["first_response_at"] is None
    assert len(api.get(f"/api/tickets/{ticket_id}/messages").json()) == 1  # the note only


def test_bad_replies_are_refused_with_the_reason(api):
    ticket_id = _ticket(api)
    for body, field in (
        ({"body": " \n\t "}, "body"),
        ({"body": ""}, "body"),
        ({"body": "x" * 20_001}, "body"),
        ({"body": "Hi", "client_message_id": "has space"}, "client_message_id"),
        ({"body": "Hi", "internal": "sometimes"}, "internal"),
        ({"body": "Hi", "internal": 0}, "internal"),  # the documented type only (make fuzz found 0 read as false)
        ({"body": "Hi", "internal": "yes"}, "internal"),
        ({"body": "Hi", "author": "someone"}, "author"),
    ):
        response = api.post(f"/api/tickets/{ticket_id}/messages", json=body)
        assert response.status_code == 422 and response.json()["detail"].startswith(f"{field}"), response.text
    missing = api.post("/api/tickets/TKT-20990101-00000000/messages", json={"body": "Hi"})
    assert missing.status_code == 404 and "TKT-20990101-00000000" in missing.json()["detail"]
    assert api.get(f"/api/tickets/{ticket_id}/messages").json() == []


def test_the_reply_is_named_after_the_callers_key(client_for, db_url, redis_client, session_factory):
    api = client_for(db_url, auth_disabled=False)
    with session_factory() as session:
        agent = create_key(session, name="ann-laptop", role="agent")[1]
        integration = create_key(session, name="web-form", role="integration")[1]
    ticket = api.post("/api/tickets/create", json=TICKET, headers={"X-API-Key": integration})
    ticket_id = ticket.json()["ticket"]["ticket_id"]
    denied = api.post(f"/api/tickets/{ticket_id}/messages", json={"body": "Hi"}, headers={"X-API-Key": integration})
    assert denied.status_code == 403
    response = api.post(f"/api/tickets/{ticket_id}/messages", json={"body": "Hi"}, headers={"X-API-Key": agent})
    assert response.status_code == 201 and response.json()["message"]["author_name"] == "ann-laptop", response.text


def _customer(api, ticket_id: str, expected: int = 201, **body):  # type: ignore[no-untyped-def]
    response = api.post(f"/api/tickets/{ticket_id}/customer-messages", json=body)
    assert response.status_code == expected, response.text
    return response.json()


def _move(api, ticket_id: str, *steps: str) -> None:  # type: ignore[no-untyped-def]
    for step in steps:
        response = api.put(f"/api/tickets/{ticket_id}/status", json={"status": step})
        assert response.status_code == 200, response.text


def test_a_customers_answer_reopens_a_ticket_waiting_for_them(api):
    ticket_id = _ticket(api, source="web")
    _customer(api, ticket_id, body="Also, the box was damaged.")
    assert api.get(f"/api/tickets/{ticket_id}").json()["status"] == "new"  # not waiting for them: unchanged

    _move(api, ticket_id, "pending")
    answer = _customer(api, ticket_id, body="Here is the photo you asked for.", client_message_id="web-7")
    assert answer["ticket"]["status"] == "open" and answer["message"]["author_type"] == "customer"
    assert answer["ticket"]["first_response_at"] is None  # a customer's message answers nobody
    history = api.get(f"/api/tickets/{ticket_id}/history").json()
    assert (history[-1]["field"], history[-1]["old_value"], history[-1]["new_value"]) == ("status", "pending", "open")
    _move(api, ticket_id, "pending")
    again = _customer(api, ticket_id, 200, body="Here is the photo you asked for.", client_message_id="web-7")
    assert again["ticket"]["status"] == "pending"  # a retry stores nothing and moves nothing

    _move(api, ticket_id, "resolved")
    reopened = _customer(api, ticket_id, body="It still does not work.")["ticket"]
    assert reopened["status"] == "open" and reopened["resolved_at"] is None

    _move(api, ticket_id, "resolved", "closed")
    assert _customer(api, ticket_id, body="Thanks!")["ticket"]["status"] == "closed"  # final: kept, not reopened
    thread = api.get(f"/api/tickets/{ticket_id}/messages").json()
    assert [m["author_type"] for m in thread] == ["customer"] * 4 and thread[-1]["body"] == "Thanks!"


def test_a_vendor_tickets_customer_writes_in_the_vendors_tool(api):
    ticket_id = _ticket(api, source="intercom")
    response = api.post(f"/api/tickets/{ticket_id}/customer-messages", json={"body": "Hello?"})
    assert response.status_code == 409 and "intercom webhook" in response.json()["detail"], response.text
    response = api.post(f"/api/tickets/{ticket_id}/customer-messages", json={"body": "Hi", "internal": True})
    assert response.status_code == 422 and response.json()["detail"].startswith("internal"), response.text


def test_an_agents_move_made_meanwhile_stands(api, session_factory):
    """The reopen claims the row at the status it read: a ticket moved since then is left as the agent set it."""
    from gateway.services.replies import reopen_for_customer
    from shared.models import Ticket

    ticket_id = _ticket(api)
    _move(api, ticket_id, "pending")
    with session_factory() as session:
        stale = session.get(Ticket, ticket_id)
        assert stale is not None and stale.status == "pending"
        session.commit()  # the read is done; the agent moves the ticket before the reopen
        _move(api, ticket_id, "in_progress")
        reopen_for_customer(session, stale)
        session.commit()
    assert api.get(f"/api/tickets/{ticket_id}").json()["status"] == "in_progress"
