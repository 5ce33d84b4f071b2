"""`POST /api/customers/erase`: a customer's personal data goes from every table, their tickets' skeleton stays,
and nothing written afterwards brings it back (each database)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from sqlalchemy import event, select

from gateway.services.corrections import correct_ticket
from gateway.services.erasure import erase_customer, erase_ticket
from gateway.services.kb import request_draft
from gateway.services.replies import store_message
from gateway.services.tickets import create_ticket, customer_id_for
from shared.errors import Conflict
from shared.models import Base, Ticket, TicketCorrection, TicketMessage
from shared.schemas import CustomerSelector, TicketCreate
from tests.classifier_worker.test_alerts import add_alert
from tests.conftest import force_ticket
from tests.gateway.test_webhooks_api import ZD, count, raw, zendesk_headers

ANN = {
    "customer_email": "Ann.Lee@example.com",
    "customer_name": "Ann Lee",
    "subject": "Parcel for Marlowe Street never came",
    "description": "My order A-7781 to 14 Marlowe Street, tracking 1Z999AA10123456784, never arrived. "
    "Call me on 0612345678 or write to ann.lee@example.com.",
    "order_id": "A-7781",
}
# What must be found nowhere once Ann is erased: her address, name, words and numbers only she wrote.
TRACES = ("ann.lee@example.com", "Ann Lee", "Marlowe", "A-7781", "1Z999AA10123456784", "0612345678", "thank you, Ann")


def create(api, **fields: object) -> dict:  # type: ignore[type-arg,no-untyped-def]
    response = api.post("/api/tickets/create", json={**ANN, **fields})
    assert response.status_code == 201, response.text
    return response.json()["ticket"]


def everything_stored(url: str) -> str:
    """Every row of every table, as text: what an erasure must have left no trace in."""
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        rows = [repr(tuple(row)) for table in Base.metadata.sorted_tables for row in conn.execute(table.select())]
    engine.dispose()
    return "\n".join(rows)


def test_an_erasure_leaves_no_trace_and_keeps_the_skeleton(api, db_url, session_factory, settings_for) -> None:  # type: ignore[no-untyped-def]
    first = create(api)
    second = create(api, subject="Still nothing about A-7781", order_id=None)
    bob = create(
        api, customer_email="bob@example.com", customer_name="Bob", subject="Invoice copy", order_id=None,
        description="Please send me a copy of my last invoice.",
    )  # fmt: skip
    force_ticket(
        db_url, first["ticket_id"], ai_suggested_priority="critical", priority="critical",
        ai_suggested_category="shipping", category="shipping", ai_reasoning="Lost parcel A-7781 to Marlowe Street",
        urgency_keywords=["never arrived"],
        extracted_metadata={"order_ids": ["A-7781"], "emails": ["ann.lee@example.com"]}, sentiment="negative",
        ai_suggested_reply="Hello Ann Lee, thank you, Ann, for writing about A-7781.", processing_state="done",
        needs_review=True, flagged_at=datetime.now(UTC),
    )  # fmt: skip
    reply = api.post(f"/api/tickets/{first['ticket_id']}/messages", json={"body": "Checking A-7781 with the carrier."})
    assert reply.status_code == 201, reply.text
    answer = {"body": "Any news? I am at Marlowe Street all day."}
    assert api.post(f"/api/tickets/{first['ticket_id']}/customer-messages", json=answer).status_code == 201
    assert api.put(f"/api/tickets/{first['ticket_id']}/category", json={"category": "order"}).status_code == 200
    settings = settings_for(db_url, alert_webhook_url="http://127.0.0.1:9/hook")
    assert add_alert(session_factory, first["ticket_id"], settings) is not None
    assert sum(trace in everything_stored(db_url) for trace in TRACES) == len(TRACES)  # the check can see them

    erased = api.post("/api/customers/erase", json={"email": "ANN.LEE@example.com"})
    assert erased.status_code == 200, erased.text
    result = erased.json()
    assert result["tickets"] == sorted([first["ticket_id"], second["ticket_id"]])
    assert (result["messages_deleted"], result["alerts_deleted"], result["corrections_deleted"]) == (2, 1, 1)
    anonymous = result["customer_id"]
    assert anonymous.startswith("ANON-") and anonymous != first["customer_id"]

    stored = everything_stored(db_url)
    assert [trace for trace in TRACES if trace in stored] == []
    assert first["customer_id"] not in stored  # a hash of the email: it would find the tickets again

    ticket = api.get(f"/api/tickets/{first['ticket_id']}").json()
    assert ticket["subject"] == ticket["description"] == "[erased]"
    assert (ticket["customer_id"], ticket["customer_email"], ticket["customer_name"]) == (anonymous, None, None)
    assert ticket["erased_at"] == result["erased_at"]
    assert (ticket["ai_reasoning"], ticket["ai_suggested_reply"], ticket["urgency_keywords"]) == (None, None, [])
    assert (ticket["extracted_metadata"], ticket["metadata"], ticket["awaiting_reply_since"]) == ({}, {}, None)
    # The skeleton the statistics count: kept.
    assert (ticket["created_at"], ticket["priority"], ticket["category"]) == (first["created_at"], "critical", "order")
    assert (ticket["sentiment"], ticket["status"], ticket["processing_state"]) == ("negative", "closed", "done")
    assert api.get(f"/api/tickets/{first['ticket_id']}/messages").json() == []
    history = api.get(f"/api/tickets/{first['ticket_id']}/history").json()
    changes = {(entry["field"], entry["old_value"], entry["new_value"]) for entry in history}
    assert {("status", "new", "closed"), ("needs_review", "true", "false")} <= changes
    assert (ticket["needs_review"], ticket["flagged_at"]) == (False, None)
    (erasure,) = [entry for entry in history if entry["field"] == "erased"]
    assert "personal data" in erasure["new_value"] and erasure["actor"]
    assert api.get(f"/api/tickets/{second['ticket_id']}").json()["customer_id"] == anonymous

    assert api.get(f"/api/tickets/{bob['ticket_id']}").json() == bob  # untouched
    assert api.get("/api/tickets/", params={"customer_email": ANN["customer_email"]}).json() == []
    assert api.get("/api/tickets/", params={"order_id": "A-7781"}).json() == []
    assert api.get("/api/overview").json()["by_status"]["closed"] == 2  # still counted

    again = api.post("/api/customers/erase", json={"email": ANN["customer_email"]})
    assert again.status_code == 404 and "erased already" in again.json()["detail"]
    assert api.post("/api/customers/erase", json={"customer_id": first["customer_id"]}).status_code == 404

    # Written afterwards: refused on the erased ticket; a new ticket from the same address starts afresh.
    for path, body in (
        ("messages", {"body": "Found it."}),
        ("customer-messages", {"body": "It is A-7781 again."}),
        ("draft", None),
        ("retry", None),
    ):
        refused = api.post(f"/api/tickets/{first['ticket_id']}/{path}", json=body)
        assert refused.status_code == 409, (path, refused.text)
    refused = api.put(f"/api/tickets/{first['ticket_id']}/priority", json={"priority": "low"})
    assert refused.status_code == 409 and "was erased" in refused.json()["detail"]
    assert count(session_factory, TicketMessage) == 0
    fresh = create(api)
    assert (fresh["customer_id"], fresh["customer_email"]) == (
        customer_id_for(ANN["customer_email"]),
        "ann.lee@example.com",
    )
    mine = api.get("/api/tickets/", params={"customer_email": ANN["customer_email"]}).json()
    assert [t["ticket_id"] for t in mine] == [fresh["ticket_id"]]


def test_erasing_one_ticket_keeps_the_customer_and_their_other_tickets(  # type: ignore[no-untyped-def]
    api, db_url, session_factory, settings_for
) -> None:
    first = create(api)
    other = create(api, subject="New address", description="Please move my account to 9 Elm Row.", order_id=None)
    force_ticket(
        db_url, first["ticket_id"], ai_suggested_category="shipping", category="shipping", processing_state="done",
        ai_reasoning="Lost parcel A-7781 to Marlowe Street", extracted_metadata={"order_ids": ["A-7781"]},
        ai_suggested_priority="critical", needs_review=True, flagged_at=datetime.now(UTC),
    )  # fmt: skip
    path = f"/api/tickets/{first['ticket_id']}"
    assert api.post(f"{path}/messages", json={"body": "Checking A-7781 with the carrier."}).status_code == 201
    assert api.post(f"{path}/customer-messages", json={"body": "I am at Marlowe Street."}).status_code == 201
    assert api.put(f"{path}/category", json={"category": "order"}).status_code == 200
    assert add_alert(session_factory, first["ticket_id"], settings_for(db_url, alert_webhook_url="http://x/h"))

    erased = api.post(f"{path}/erase")
    assert erased.status_code == 200, erased.text
    result = erased.json()
    assert result["tickets"] == [first["ticket_id"]]
    assert (result["messages_deleted"], result["alerts_deleted"], result["corrections_deleted"]) == (2, 1, 1)
    assert result["customer_id"].startswith("ANON-") and result["customer_id"] != first["customer_id"]

    stored = everything_stored(db_url)
    assert [t for t in ("Marlowe", "A-7781", "1Z999AA10123456784", "0612345678", "Lost parcel") if t in stored] == []
    assert "Elm Row" in stored and "ann.lee@example.com" in stored  # her other ticket and her customer row stay
    ticket = api.get(path).json()
    assert (ticket["subject"], ticket["customer_id"], ticket["customer_email"]) == (
        "[erased]",
        result["customer_id"],
        None,
    )
    assert (ticket["status"], ticket["processing_state"], ticket["needs_review"]) == ("closed", "done", False)
    assert (ticket["erased_at"], ticket["category"], ticket["created_at"]) == (
        result["erased_at"],
        "order",
        first["created_at"],
    )
    (entry,) = [h for h in api.get(f"{path}/history").json() if h["field"] == "erased"]
    assert entry["new_value"] == "this ticket's personal data"
    assert api.get(f"/api/tickets/{other['ticket_id']}").json() == other
    mine = api.get("/api/tickets/", params={"customer_email": ANN["customer_email"]}).json()
    assert [t["ticket_id"] for t in mine] == [other["ticket_id"]]

    again = api.post(f"{path}/erase")
    assert again.status_code == 409 and "was erased" in again.json()["detail"]
    assert api.post("/api/tickets/TKT-20990101-00000000/erase").status_code == 404
    refused = api.post(f"{path}/customer-messages", json={"body": "A-7781?"})
    assert refused.status_code == 409 and "open a new ticket" in refused.json()["detail"]


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({}, "exactly one of email, customer_id"),
        ({"email": "a@example.com", "customer_id": "CUST-1"}, "exactly one of email, customer_id"),
        ({"email": None}, "must not be null"),
        ({"customer_id": None}, "must not be null"),
        ({"email": "not-an-address"}, "valid email"),
        ({"customer_id": "x y"}, "pattern"),
        ({"name": "Ann"}, "Extra inputs"),
    ],
)
@pytest.mark.parametrize("route", ["erase", "export"])
def test_a_customer_request_must_name_exactly_one_customer(api, route, body, expected) -> None:  # type: ignore[no-untyped-def]
    """The erasure and the export take the same body (`CustomerSelector`)."""
    response = api.post(f"/api/customers/{route}", json=body)
    assert response.status_code == 422 and expected in response.text, response.text


def test_a_vendor_comment_on_an_erased_ticket_is_answered_and_not_stored(client_for, db_url, session_factory) -> None:  # type: ignore[no-untyped-def]
    api = client_for(db_url, zendesk_webhook_secret="zd-signing-secret")
    created = raw("zendesk_event_ticket_created.json")
    ticket = api.post(ZD, content=created, headers=zendesk_headers(created)).json()["ticket"]
    assert api.post("/api/customers/erase", json={"customer_id": ticket["customer_id"]}).status_code == 200

    comment = raw("zendesk_event_comment_added.json")
    answered = api.post(ZD, content=comment, headers=zendesk_headers(comment))
    assert answered.status_code == 200, answered.text
    assert answered.json()["status"] == "ignored" and "erased" in answered.json()["detail"]
    assert count(session_factory, TicketMessage) == 0
    # The ticket's own event again (a redelivery) finds the erased ticket and creates nothing.
    again = api.post(ZD, content=created, headers=zendesk_headers(created))
    assert again.json()["status"] == "duplicate" and again.json()["ticket"]["subject"] == "[erased]"
    assert count(session_factory, Ticket) == 1


@pytest.mark.parametrize("erasure", ["customer", "ticket"])
def test_a_message_whose_ticket_is_erased_before_it_is_stored_is_refused(api, session_factory, erasure) -> None:  # type: ignore[no-untyped-def]
    """The message's request read the ticket before the erasure (its customer's, or its own) committed: the store
    must see it and refuse."""
    with session_factory() as session:
        ticket = session.get(Ticket, create(api)["ticket_id"])
        assert ticket.erased_at is None
        with session_factory() as other:
            if erasure == "customer":
                erase_customer(other, CustomerSelector(email=ANN["customer_email"]))
            else:
                erase_ticket(other, ticket.ticket_id)
        message = TicketMessage(ticket_id=ticket.ticket_id, source="api", author_type="customer", body="A-7781?")
        with pytest.raises(Conflict, match="was erased"):
            store_message(session, ticket, message)
    assert count(session_factory, TicketMessage) == 0


@contextmanager
def erased_at_first_update(session_factory) -> Iterator[list[str]]:  # type: ignore[no-untyped-def]
    """Ann's erasure, committed by another session just before the first write of a session of the factory (an
    UPDATE statement or a flush): after a request has read the ticket and decided, before it claims or writes."""
    fired: list[str] = []

    def erase_first() -> None:
        if not fired:
            fired.append("erasure")
            with session_factory() as other:
                erase_customer(other, CustomerSelector(email=ANN["customer_email"]))

    def on_statement(state) -> None:  # type: ignore[no-untyped-def]
        if state.is_update:
            erase_first()

    def on_flush(*_: object) -> None:
        erase_first()

    event.listen(session_factory, "do_orm_execute", on_statement)
    event.listen(session_factory, "before_flush", on_flush)
    try:
        yield fired
    finally:
        event.remove(session_factory, "do_orm_execute", on_statement)
        event.remove(session_factory, "before_flush", on_flush)


def test_a_correction_racing_an_erasure_does_not_keep_the_text(api, session_factory) -> None:  # type: ignore[no-untyped-def]
    """The correction read the ticket's text; the erasure commits just before the correction claims the row.
    The claim must fail on `erased_at`, or the correction would keep the text the erasure removed."""
    ticket_id = create(api)["ticket_id"]
    with (
        erased_at_first_update(session_factory) as fired,
        session_factory() as session,
        pytest.raises(Conflict, match="was erased"),
    ):
        correct_ticket(session, ticket_id, field="category", value="order", actor="agent:ana")
    assert fired == ["erasure"]
    with session_factory() as session:
        assert session.scalars(select(TicketCorrection)).all() == []
        assert session.get(Ticket, ticket_id).category is None


def test_a_redraft_racing_an_erasure_does_not_send_the_ticket_back(api, db_url, session_factory) -> None:  # type: ignore[no-untyped-def]
    """The redraft checked the ticket; the erasure commits before it writes. Without the claim, it would move the
    erased ticket back to `classified` and a draft task would run on it."""
    ticket_id = create(api)["ticket_id"]
    force_ticket(db_url, ticket_id, ai_suggested_category="shipping", category="shipping", processing_state="done")
    with (
        erased_at_first_update(session_factory) as fired,
        session_factory() as session,
        pytest.raises(Conflict, match="was erased"),
    ):
        request_draft(session, ticket_id)
    assert fired == ["erasure"]
    with session_factory() as session:
        assert session.get(Ticket, ticket_id).processing_state == "done"


def while_the_erasure_holds_its_locks(session_factory, action, ticket_id=None) -> tuple[object, object]:  # type: ignore[no-untyped-def]
    """Erase Ann (or only `ticket_id`), running `action(session)` in a thread from the moment the erasure holds
    its rows (its first DELETE) to past its commit. `action` must wait for it: the erasure checks that it
    is still running a second later. Returns the erasure's result and what `action` returned or raised."""
    outcome: list[object] = []

    def run() -> None:
        with session_factory() as session:
            try:
                outcome.append(action(session))
            except Exception as exc:  # what it raised is the outcome
                outcome.append(exc)

    thread = threading.Thread(target=run)

    def start_once_locked(state) -> None:  # type: ignore[no-untyped-def]
        if state.is_delete and not thread.is_alive() and not outcome:
            thread.start()
            thread.join(1.0)
            assert thread.is_alive(), f"it did not wait for the erasure's locks: {outcome}"

    event.listen(session_factory, "do_orm_execute", start_once_locked)
    try:
        with session_factory() as session:
            if ticket_id is None:
                erased = erase_customer(session, CustomerSelector(email=ANN["customer_email"]))
            else:
                erased = erase_ticket(session, ticket_id)
    finally:
        event.remove(session_factory, "do_orm_execute", start_once_locked)
    thread.join(30)
    (result,) = outcome
    return erased, result


@pytest.mark.parametrize("erasure", ["customer", "ticket"])
def test_a_message_sent_while_the_erasure_holds_the_ticket_waits_then_is_refused(  # type: ignore[no-untyped-def]
    api, db_url, session_factory, erasure
) -> None:
    """PostgreSQL, truly concurrent: the erasure (the customer's, or the ticket's own) has locked the ticket; a
    customer message's insert waits on that lock (the foreign key's share lock), then finds the ticket erased and
    is refused, storing nothing."""
    if not db_url.startswith("postgresql"):
        pytest.skip("SQLite has one writer: the message waits for the erasure's commit, as the sequential test shows")
    ticket_id = create(api)["ticket_id"]

    def customer_writes(session) -> object:  # type: ignore[no-untyped-def]
        ticket = session.get(Ticket, ticket_id)  # read before the erasure commits: not erased yet
        assert ticket.erased_at is None
        message = TicketMessage(ticket_id=ticket_id, source="api", author_type="customer", body="A-7781 again")
        return store_message(session, ticket, message)

    only = ticket_id if erasure == "ticket" else None
    _, result = while_the_erasure_holds_its_locks(session_factory, customer_writes, only)
    assert isinstance(result, Conflict) and "was erased" in str(result), result
    assert count(session_factory, TicketMessage) == 0


def test_a_second_erasure_of_a_ticket_waits_then_is_refused(api, db_url, session_factory) -> None:  # type: ignore[no-untyped-def]
    """PostgreSQL, truly concurrent: two admins erase the same ticket. The second waits on the first's lock, then
    finds it erased (409) rather than erasing it again under another anonymous customer."""
    if not db_url.startswith("postgresql"):
        pytest.skip("SQLite has one writer: the second erasure starts after the first's commit, as the API test shows")
    ticket_id = create(api)["ticket_id"]
    erased, result = while_the_erasure_holds_its_locks(session_factory, lambda s: erase_ticket(s, ticket_id), ticket_id)
    assert isinstance(result, Conflict) and "was erased" in str(result), result
    assert api.get(f"/api/tickets/{ticket_id}").json()["customer_id"] == erased.customer_id  # type: ignore[attr-defined]
    erasures = [h for h in api.get(f"/api/tickets/{ticket_id}/history").json() if h["field"] == "erased"]
    assert len(erasures) == 1


def test_a_ticket_created_while_the_customer_is_erased_waits_and_starts_afresh(api, db_url, session_factory) -> None:  # type: ignore[no-untyped-def]
    """PostgreSQL, truly concurrent: Ann writes in while her erasure runs. Her new ticket's customer upsert waits
    on the locked customer row, then finds it gone and inserts a fresh one: the new ticket is kept, with her
    email, and is not erased."""
    if not db_url.startswith("postgresql"):
        pytest.skip("SQLite has one writer: the ticket waits for the erasure's commit")
    old = create(api)

    def ann_writes_in(session) -> object:  # type: ignore[no-untyped-def]
        return create_ticket(session, TicketCreate(**{**ANN, "subject": "Me again"})).ticket_id

    erased, new_id = while_the_erasure_holds_its_locks(session_factory, ann_writes_in)
    assert erased.tickets == [old["ticket_id"]]
    new = api.get(f"/api/tickets/{new_id}").json()
    assert (new["subject"], new["customer_email"], new["erased_at"]) == ("Me again", "ann.lee@example.com", None)
    assert new["customer_id"] == customer_id_for(ANN["customer_email"])
