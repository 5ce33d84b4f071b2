"""Merging a duplicate ticket into the one kept (`POST /api/tickets/{id}/merge`) on SQLite and PostgreSQL: the
duplicate closed through the workflow, a note with everything its customer wrote on the kept one, the
customer's later messages sent there, and what cannot be merged refused before anything changes."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import update

from gateway.services.merge import merge_ticket
from shared.errors import Conflict
from shared.models import StatusDelivery, Ticket, TicketMessage
from tests.gateway.conftest import keyed, stored, web_ticket
from tests.interleave import WriteBetween


def _merge(api, ticket_id: str, into: str, expected: int = 200) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    response = api.post(f"/api/tickets/{ticket_id}/merge", json={"into": into}, headers=api.agent)
    assert response.status_code == expected, response.text
    return response.json()


def _ticket(api, ticket_id: str) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    return api.get(f"/api/tickets/{ticket_id}", headers=api.agent).json()


def _thread(api, ticket_id: str) -> list[dict[str, Any]]:  # type: ignore[no-untyped-def]
    return api.get(f"/api/tickets/{ticket_id}/messages", headers=api.agent).json()


def _history(api, ticket_id: str) -> list[tuple[str, str | None, str | None, str]]:  # type: ignore[no-untyped-def]
    history = api.get(f"/api/tickets/{ticket_id}/history", headers=api.agent).json()
    return [(h["field"], h["old_value"], h["new_value"], h["actor"]) for h in history]


def _write(api, ticket_id: str, body: str, **extra: object) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    response = api.post(f"/api/tickets/{ticket_id}/customer-messages", json={"body": body, **extra})
    assert response.status_code == 201, response.text
    return response.json()


def test_a_duplicate_is_merged_into_the_ticket_kept(client_for, db_url, redis_client, session_factory, receiver):  # type: ignore[no-untyped-def]
    api = keyed(client_for(db_url, auth_disabled=False, reply_webhook_url=receiver.url), session_factory)
    kept = web_ticket(api, subject="Refund?", description="Where is my refund for order ORD-1234?")
    duplicate = web_ticket(api, subject="Still no refund", description="I asked yesterday: refund for ORD-1234!")
    _write(api, duplicate, "Hello? Anyone?")
    answer = _write(api, duplicate, "Also the card 4111 1111 1111 1111 was charged twice.")
    assert answer["ticket"]["status"] == "new"

    merged = _merge(api, duplicate, kept)
    alice = api.actors["alice"]
    gone, into, note = merged["ticket"], merged["into"], merged["note"]
    assert (gone["ticket_id"], gone["status"], gone["merged_into"]) == (duplicate, "closed", kept)
    assert (into["ticket_id"], into["status"], into["merged_into"]) == (kept, "new", None)
    assert (note["ticket_id"], note["internal"], note["author_type"], note["author_name"]) == (
        kept,
        True,
        "agent",
        "alice",
    )
    assert note["source"] == "merge" and note["external_id"] == duplicate
    lines = note["body"].split("\n\n")
    assert lines[0].startswith(f"Merged from ticket {duplicate} (") and lines[0].endswith("): Still no refund")
    assert lines[1] == "I asked yesterday: refund for ORD-1234!"
    assert [line.split(": ", 1)[1] for line in lines[2:]] == [
        "Hello? Anyone?",
        "Also the card [card ending 1111] was charged twice.",  # as stored: masked
    ]
    assert gone == _ticket(api, duplicate) and into["ticket_id"] == _ticket(api, kept)["ticket_id"]
    assert _thread(api, kept) == [note]
    assert ("status", "new", "closed", alice) in _history(api, duplicate)
    assert ("merged_into", None, kept, alice) in _history(api, duplicate)
    (closed,) = stored(session_factory, StatusDelivery, StatusDelivery.created_at)  # the channel hears of it
    assert (closed.ticket_id, closed.status) == (duplicate, "closed")
    assert closed.payload["ticket"]["merged_into"] == kept
    listed = api.get("/api/tickets/", params={"merged_into": kept}, headers=api.agent).json()
    assert [t["ticket_id"] for t in listed] == [duplicate]

    again = _merge(api, duplicate, kept)  # a retry: the merge as made, nothing twice
    assert again["note"] == note and again["ticket"]["merged_into"] == kept
    assert len(_thread(api, kept)) == 1 and len(stored(session_factory, StatusDelivery, StatusDelivery.created_at)) == 1

    # The customer writes to the duplicate again: the message goes to the ticket kept.
    later = _write(api, duplicate, "Any news on my refund?", client_message_id="web-9")
    assert later["message"]["ticket_id"] == kept and later["follow_up"]["ticket_id"] == kept
    assert later["ticket"]["ticket_id"] == duplicate and later["ticket"]["status"] == "closed"
    assert _thread(api, kept)[-1]["body"] == "Any news on my refund?" and _ticket(api, kept)["awaiting_reply_since"]
    retried = api.post(
        f"/api/tickets/{duplicate}/customer-messages",
        json={"body": "Any news on my refund?", "client_message_id": "web-9"},
        headers={},
    )
    assert retried.status_code == 200 and retried.json()["message"]["id"] == later["message"]["id"]


def test_what_cannot_be_merged_is_refused_before_anything_changes(client_for, db_url, redis_client, session_factory):  # type: ignore[no-untyped-def]
    api = keyed(client_for(db_url, auth_disabled=False), session_factory)
    kept = web_ticket(api)
    duplicate = web_ticket(api)
    other_customer = web_ticket(api, customer_email="bob@example.com", customer_name="Bob")
    vendor = web_ticket(api, source="zendesk")
    closed = web_ticket(api)
    for step in ("resolved", "closed"):
        assert api.put(f"/api/tickets/{closed}/status", json={"status": step}, headers=api.agent).status_code == 200

    def refused(ticket_id: str, into: str, code: int, says: str) -> None:
        response = api.post(f"/api/tickets/{ticket_id}/merge", json={"into": into}, headers=api.agent)
        assert response.status_code == code and says in response.json()["detail"], response.text

    refused(duplicate, duplicate, 409, "cannot be merged into itself")
    refused("TKT-NOPE", "TKT-NOPE", 404, "'TKT-NOPE' not found")  # a fuzz finding: valid, so not a 422
    refused(duplicate, "TKT-NOPE", 404, "'TKT-NOPE' not found")
    refused("TKT-NOPE", kept, 404, "'TKT-NOPE' not found")
    refused(duplicate, other_customer, 409, "belong to different customers")
    refused(duplicate, vendor, 409, "came from zendesk")
    refused(vendor, kept, 409, "came from zendesk")
    refused(duplicate, closed, 409, f"ticket '{closed}' is closed: a closed ticket cannot be merged into")
    refused(closed, kept, 409, "cannot be merged")
    bad = api.post(f"/api/tickets/{duplicate}/merge", json={"into": "TKT 1"}, headers=api.agent)
    assert bad.status_code == 422
    erased = web_ticket(api)
    assert api.post(f"/api/tickets/{erased}/erase", headers=api.admin).status_code == 200
    refused(erased, kept, 409, "was erased")

    _merge(api, duplicate, kept)
    refused(duplicate, web_ticket(api), 409, f"merged into '{kept}' already")
    refused(kept, duplicate, 409, "is closed")  # the duplicate is closed now: nothing merges into it
    for ticket_id in (kept, other_customer, vendor):
        assert _ticket(api, ticket_id)["status"] == "new" and _ticket(api, ticket_id)["merged_into"] is None
    assert [len(_thread(api, t)) for t in (kept, other_customer, vendor, closed)] == [1, 0, 0, 0]  # the one note
    merged_notes = [m for m in stored(session_factory, TicketMessage, TicketMessage.id) if m.source == "merge"]
    assert [(m.ticket_id, m.external_id) for m in merged_notes] == [(kept, duplicate)]


def test_a_chain_of_merges_and_a_closed_ticket_kept(client_for, db_url, redis_client, session_factory):  # type: ignore[no-untyped-def]
    """A ticket merged into one that was merged later: the customer's message goes to the last one; once that
    one is closed, it opens a follow-up of it, as any message to a closed ticket does."""
    api = keyed(client_for(db_url, auth_disabled=False), session_factory)
    first, second, third = (web_ticket(api) for _ in range(3))
    _merge(api, first, second)
    _merge(api, second, third)
    assert _write(api, first, "Still waiting.")["message"]["ticket_id"] == third
    for step in ("resolved", "closed"):
        assert api.put(f"/api/tickets/{third}/status", json={"status": step}, headers=api.agent).status_code == 200
    answer = _write(api, first, "Hello again.")
    follow_up = answer["follow_up"]
    assert answer["message"]["ticket_id"] == third and follow_up["follow_up_of"] == third
    assert (follow_up["status"], follow_up["description"]) == ("new", "Hello again.")
    next_one = _write(api, first, "And again.")  # to the follow-up while it is open, not another one
    assert next_one["message"]["ticket_id"] == next_one["follow_up"]["ticket_id"] == follow_up["ticket_id"]


def test_erasing_the_merged_ticket_erases_its_text_on_the_ticket_kept(
    client_for, db_url, redis_client, session_factory
):  # type: ignore[no-untyped-def]
    api = keyed(client_for(db_url, auth_disabled=False), session_factory)
    kept, duplicate = web_ticket(api), web_ticket(api, description="My address is 1 Elm Street.")
    assert _write(api, kept, "The kept ticket's own message.")["message"]["ticket_id"] == kept
    assert "1 Elm Street" in _merge(api, duplicate, kept)["note"]["body"]
    erased = api.post(f"/api/tickets/{duplicate}/erase", headers=api.admin)
    assert erased.status_code == 200 and erased.json()["messages_deleted"] == 1, erased.text  # the merge's note
    assert [m["body"] for m in _thread(api, kept)] == ["The kept ticket's own message."]
    assert _ticket(api, duplicate)["description"] == "[erased]"


def test_a_kept_ticket_closed_while_the_merge_reads_it_refuses_the_merge(  # type: ignore[no-untyped-def]
    client_for, db_url, redis_client, session_factory, settings_for
):
    """Both rows are held at the values the checks read: a close committed in between is seen, not merged into."""
    api = keyed(client_for(db_url, auth_disabled=False), session_factory)
    kept, duplicate = web_ticket(api), web_ticket(api)

    def close(other) -> None:  # type: ignore[no-untyped-def]
        other.execute(update(Ticket).where(Ticket.ticket_id == kept).values(status="closed"))
        other.commit()

    between = WriteBetween(session_factory, kept, close)
    with between.listening(), session_factory() as session:
        between.armed = True
        with pytest.raises(Conflict, match=f"ticket '{kept}' is closed"):
            merge_ticket(session, duplicate, kept, author="ann", sent=frozenset(), targets=settings_for(db_url).targets)
        assert between.fired
    assert _ticket(api, duplicate)["status"] == "new" and _ticket(api, duplicate)["merged_into"] is None
    assert _thread(api, kept) == []
