"""`POST /api/customers/export`: everything stored about one customer, nobody else's, recorded in each ticket's
history; read from one snapshot (each database)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from sqlalchemy import event

from gateway.services.erasure import erase_customer
from gateway.services.replies import add_message
from shared import db as shared_db
from shared.auth import Role, create_key
from shared.models import TicketMessage
from shared.schemas import CustomerSelector, MessageCreate, TicketRead
from tests.classifier_worker.test_alerts import add_alert
from tests.conftest import force_ticket
from tests.gateway.test_erasure import ANN, create

BOB = {
    "customer_email": "bob@example.com",
    "customer_name": "Bob Stone",
    "subject": "Invoice copy for Quayside Lane",
    "description": "Please send a copy of invoice INV-4410 to 2 Quayside Lane.",
    "order_id": "B-9902",
}
BOB_TRACES = ("bob@example.com", "Bob Stone", "Quayside", "INV-4410", "B-9902")


def ann_with_history(api, db_url, session_factory, settings_for) -> tuple[dict, dict]:  # type: ignore[no-untyped-def,type-arg]
    """Ann's two tickets: the first classified, answered, written to again, noted, corrected and alerted."""
    first = create(api)
    second = create(api, subject="Still nothing about A-7781", order_id=None)
    force_ticket(
        db_url, first["ticket_id"], ai_suggested_priority="critical", priority="critical",
        ai_suggested_category="shipping", category="shipping", ai_reasoning="Lost parcel A-7781 to Marlowe Street",
        extracted_metadata={"order_ids": ["A-7781"], "tracking_numbers": ["1Z999AA10123456784"]},
        ai_suggested_reply="Hello Ann Lee, thank you, Ann, for writing about A-7781.", processing_state="done",
        sentiment="negative",
    )  # fmt: skip
    path = f"/api/tickets/{first['ticket_id']}"
    for route, body in (
        ("messages", {"body": "Checking A-7781 with the carrier."}),
        ("customer-messages", {"body": "Any news? I am at Marlowe Street all day."}),
        ("messages", {"body": "Carrier says the van broke down; she sounds upset.", "internal": True}),
    ):
        assert api.post(f"{path}/{route}", json=body).status_code == 201
    assert api.put(f"{path}/category", json={"category": "order"}).status_code == 200
    assert add_alert(session_factory, first["ticket_id"], settings_for(db_url, alert_webhook_url="http://x/h"))
    return api.get(path).json(), api.get(f"/api/tickets/{second['ticket_id']}").json()


def test_an_export_holds_everything_about_the_customer_and_nothing_of_others(  # type: ignore[no-untyped-def]
    api, client_for, db_url, session_factory, settings_for, monkeypatch
) -> None:
    monkeypatch.setattr(shared_db, "IDS_PER_STATEMENT", 1)  # her two tickets recorded in two statements
    first, second = ann_with_history(api, db_url, session_factory, settings_for)
    bob = create(api, **BOB)
    before = {t["ticket_id"]: api.get(f"/api/tickets/{t['ticket_id']}/history").json() for t in (first, second)}
    admin = client_for(db_url, auth_disabled=False)  # the history names who exported
    with session_factory() as session:
        row, admin.headers["X-API-Key"] = create_key(session, name="dpo", role=Role.admin)

    response = admin.post("/api/customers/export", json={"email": "ANN.LEE@example.com"})
    assert response.status_code == 200, response.text
    assert [trace for trace in BOB_TRACES if trace in response.text] == []
    export = response.json()
    assert export["customer"] | {"created_at": None} == {
        "customer_id": first["customer_id"], "email": "ann.lee@example.com", "name": "Ann Lee", "source": None,
        "external_id": None, "created_at": None,
    }  # fmt: skip
    assert [t["ticket_id"] for t in export["tickets"]] == [first["ticket_id"], second["ticket_id"]]
    for exported, shown in zip(export["tickets"], (first, second), strict=True):
        # The ticket as the API shows it (the AI's results and draft included), and everything kept beside it.
        assert {field: exported[field] for field in TicketRead.model_fields} == shown
        ticket_id = shown["ticket_id"]
        assert exported["messages"] == api.get(f"/api/tickets/{ticket_id}/messages").json()
        assert exported["history"] == before[ticket_id]
    mine = export["tickets"][0]
    assert [(m["author_type"], m["internal"]) for m in mine["messages"]] == [
        ("agent", False), ("customer", False), ("agent", True)
    ]  # fmt: skip
    assert mine["metadata"] == {"order_id": "A-7781"} and "A-7781" in mine["ai_suggested_reply"]
    assert {(r["kind"], r["value"]) for r in mine["references"]} >= {("order_id", "A-7781")}
    assert ("category", "shipping", "order") in {(h["field"], h["old_value"], h["new_value"]) for h in mine["history"]}
    (alert,) = mine["alerts"]
    assert alert["priority"] == "critical" and ANN["subject"] in str(alert["payload"])
    assert export["tickets"][1]["messages"] == export["tickets"][1]["alerts"] == []

    # Recorded on each of her tickets, by whom; nothing on Bob's.
    for ticket in (first, second):
        after = api.get(f"/api/tickets/{ticket['ticket_id']}/history").json()
        (recorded,) = after[len(before[ticket["ticket_id"]]) :]
        assert (recorded["field"], recorded["created_at"]) == ("exported", export["exported_at"])
        assert "personal data" in recorded["new_value"] and recorded["actor"] == f"key:{row.id}:dpo"
    assert "exported" not in {h["field"] for h in api.get(f"/api/tickets/{bob['ticket_id']}/history").json()}

    # By id: the same data. The erasure then removes what the export listed.
    by_id = api.post("/api/customers/export", json={"customer_id": first["customer_id"]}).json()
    assert [t["messages"] for t in by_id["tickets"]] == [t["messages"] for t in export["tickets"]]
    erased = api.post("/api/customers/erase", json={"email": ANN["customer_email"]}).json()
    assert erased["tickets"] == sorted(t["ticket_id"] for t in export["tickets"])
    assert erased["messages_deleted"] == sum(len(t["messages"]) for t in export["tickets"])
    assert erased["alerts_deleted"] == sum(len(t["alerts"]) for t in export["tickets"])

    gone = api.post("/api/customers/export", json={"email": ANN["customer_email"]})
    assert gone.status_code == 404 and "erased already" in gone.json()["detail"]
    assert api.post("/api/customers/export", json={"customer_id": first["customer_id"]}).status_code == 404
    skeleton = api.post("/api/customers/export", json={"customer_id": erased["customer_id"]}).json()
    assert skeleton["customer"]["email"] is None
    assert {t["subject"] for t in skeleton["tickets"]} == {"[erased]"}
    assert [t["messages"] + t["alerts"] + t["references"] for t in skeleton["tickets"]] == [[], []]


@contextmanager
def before_reading(session_factory, table: str, action: Callable[[], object]) -> Iterator[list[str]]:  # type: ignore[no-untyped-def]
    """Run `action` (another session's commit) once, just before a session of the factory first reads `table`
    (the gateway's factory: the export route's reads)."""
    fired: list[str] = []

    def on_statement(state) -> None:  # type: ignore[no-untyped-def]
        if (
            state.is_select
            and not fired
            and table in {getattr(f, "name", None) for f in state.statement.get_final_froms()}
        ):
            fired.append(table)
            action()

    event.listen(session_factory, "do_orm_execute", on_statement)
    try:
        yield fired
    finally:
        event.remove(session_factory, "do_orm_execute", on_statement)


def export_ann(api) -> dict:  # type: ignore[no-untyped-def,type-arg]
    response = api.post("/api/customers/export", json={"email": ANN["customer_email"]})
    assert response.status_code == 200, response.text
    return response.json()


def test_an_export_reads_one_snapshot(api, db_url, session_factory) -> None:  # type: ignore[no-untyped-def]
    """A message committed after the export read the tickets and before it read the messages: the export holds
    neither it nor the ticket's change (one snapshot: REPEATABLE READ on PostgreSQL, a read transaction under
    WAL on SQLite)."""
    ticket_id = create(api)["ticket_id"]

    def customer_writes() -> None:
        with session_factory() as other:
            add_message(other, ticket_id, MessageCreate(body="Any news?"), author_type="customer", author="Ann")

    with before_reading(api.app.state.sessionmaker, "ticket_messages", customer_writes) as fired:
        export = export_ann(api)
    assert fired == ["ticket_messages"]
    (ticket,) = export["tickets"]
    bodies = [message["body"] for message in ticket["messages"]]
    assert bodies == []
    with session_factory() as session:  # committed all the same, for the next reader
        assert [m.body for m in session.query(TicketMessage)] == ["Any news?"]


def test_an_export_racing_an_erasure_is_still_recorded_on_the_tickets(api, db_url, session_factory) -> None:  # type: ignore[no-untyped-def]
    """The erasure commits while the export reads: its record goes to the tickets it read, now under the
    anonymous customer, and what it hands out is the data as it was when it began."""
    ticket_id = create(api)["ticket_id"]
    msg = {"body": "Still waiting at Marlowe Street."}
    assert api.post(f"/api/tickets/{ticket_id}/customer-messages", json=msg).status_code == 201

    def erase() -> None:
        with session_factory() as other:
            erase_customer(other, CustomerSelector(email=ANN["customer_email"]))

    with before_reading(api.app.state.sessionmaker, "ticket_messages", erase) as fired:
        export = export_ann(api)
    assert fired == ["ticket_messages"]
    (ticket,) = export["tickets"]
    assert ticket["subject"] == ANN["subject"]  # read before the erasure
    assert [m["body"] for m in ticket["messages"]] == [msg["body"]]
    history = api.get(f"/api/tickets/{ticket_id}/history").json()
    assert [h["field"] for h in history][-2:] == ["erased", "exported"]
    assert api.get(f"/api/tickets/{ticket_id}").json()["subject"] == "[erased]"
    with session_factory() as session:
        assert session.query(TicketMessage).count() == 0
