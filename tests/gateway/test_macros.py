"""Macros (`/api/macros`, `POST /api/tickets/{id}/macros/{macro_id}`) on SQLite and PostgreSQL: admins write
them, agents apply them, and applying one posts its text filled in for the ticket, then moves and tags it as
the ticket's own requests would."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import jsonschema
import pytest
from pydantic import ValidationError
from sqlalchemy import func, select, update

from shared.models import ReplyDelivery, TicketMessage
from shared.schemas import MAX_DESCRIPTION, MacroWrite
from shared.tags import MAX_TICKET_TAGS
from tests.gateway.conftest import keyed, queued_replies, stored, web_ticket
from tests.gateway.test_tags import _tag, _tag_history

ASK_ORDER = {
    "macro_id": "ask-order",
    "title": "Ask for the order number",
    "body": 'Hi {{customer.first_name}},\n\nabout "{{ ticket.subject }}" ({{ticket.id}}): which order is it?'
    " We will write to {{customer.email}}.",
    "status": "pending",
    "tags": {"add": ["Needs_Info"], "remove": ["triage"]},
}


@pytest.fixture
def team(client_for, db_url, redis_client, session_factory):  # type: ignore[no-untyped-def]
    """The web form's key, an agent (`alice`) and an admin (`boss`), with the `ask-order` macro written."""
    api = keyed(client_for(db_url, auth_disabled=False), session_factory)
    created = api.post("/api/macros", json=ASK_ORDER, headers=api.admin)
    assert created.status_code == 201, created.text
    return api


def _apply(api, ticket_id: str, macro_id: str, expected: int = 201, **body: Any) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    response = api.post(f"/api/tickets/{ticket_id}/macros/{macro_id}", json=body or None, headers=api.agent)
    assert response.status_code == expected, response.text
    return response.json()


def _history(api, ticket_id: str, field: str) -> list[tuple[str | None, str | None, str]]:  # type: ignore[no-untyped-def]
    history = api.get(f"/api/tickets/{ticket_id}/history", headers=api.agent).json()
    return [(h["old_value"], h["new_value"], h["actor"]) for h in history if h["field"] == field]


def _messages(api, ticket_id: str) -> list[dict[str, Any]]:  # type: ignore[no-untyped-def]
    return api.get(f"/api/tickets/{ticket_id}/messages", headers=api.agent).json()


def test_admins_write_macros_and_agents_read_them(team) -> None:  # type: ignore[no-untyped-def]
    shown = team.get("/api/macros/ask-order", headers=team.agent).json()
    assert {key: shown[key] for key in ASK_ORDER} == {
        **ASK_ORDER,
        "tags": {"add": ["needs_info"], "remove": ["triage"]},
    }
    assert (shown["internal"], shown["active"]) == (False, True)
    assert shown["created_by"] == shown["updated_by"] == team.actors["boss"]

    note = team.post(
        "/api/macros",
        json={"title": " Escalate to billing ", "body": "Billing: refund check for {{ticket.id}}", "internal": True},
        headers=team.admin,
    )
    assert note.status_code == 201, note.text
    note_id = note.json()["macro_id"]
    assert note_id.startswith("mac-") and note.json()["title"] == "Escalate to billing"  # id generated, stripped
    assert (note.json()["status"], note.json()["tags"]) == (None, None)

    taken = team.post("/api/macros", json={**ASK_ORDER, "title": "Another"}, headers=team.admin)
    assert taken.status_code == 409 and "PUT /api/macros/ask-order" in taken.json()["detail"]
    assert team.get("/api/macros/ask-order", headers=team.agent).json()["title"] == ASK_ORDER["title"]

    turned_off = team.put(
        f"/api/macros/{note_id}",
        json={"title": "Escalate to billing", "body": "Billing, please check {{ticket.id}}", "active": False},
        headers=team.admin,
    )
    assert turned_off.status_code == 200, turned_off.text
    replaced = turned_off.json()
    assert (replaced["body"], replaced["internal"], replaced["active"]) == (
        "Billing, please check {{ticket.id}}",
        False,  # replaced whole: a field left out takes its default
        False,
    )
    assert replaced["created_at"] == note.json()["created_at"] and replaced["updated_at"] > replaced["created_at"]

    def listed(**query: object) -> list[str]:
        return [m["macro_id"] for m in team.get("/api/macros", params=query, headers=team.agent).json()]

    assert listed() == ["ask-order", note_id]  # by title
    assert (listed(active="true"), listed(active="false")) == (["ask-order"], [note_id])
    assert team.get("/api/macros/nope", headers=team.agent).status_code == 404
    assert team.put("/api/macros/nope", json={"title": "x", "body": "y"}, headers=team.admin).status_code == 404


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ("Hi {{customer.phone}}", "unknown placeholder '{{customer.phone}}' at character 3"),
        ("Hi {{ customer.name }", "unknown placeholder '{{ customer.name }' at character 3"),
        ("{{{ticket.id}}", "unknown placeholder '{{{ticket.id}}' at character 0"),
        ("Hi {\u0000{ticket.id}}", "must not contain NUL characters"),
        ("   ", "must not be empty"),
    ],
)
def test_a_macro_with_a_placeholder_nobody_fills_is_refused(team, body: str, says: str) -> None:  # type: ignore[no-untyped-def]
    response = team.post("/api/macros", json={"title": "Bad", "body": body}, headers=team.admin)
    assert response.status_code == 422, response.text
    assert says in response.text
    assert [m["title"] for m in team.get("/api/macros", headers=team.agent).json()] == [ASK_ORDER["title"]]


@pytest.mark.parametrize(
    "body",
    [
        "Hi {{customer.first_name}}",
        "{{  ticket.id }}!",
        "a{b}c {",
        "}}{{x}}",
        "{{{ticket.id}}",
        "x\u0000",
        "\u00a0 ",
        "{{ticket.ID}}",
        "Thanks, {{agent.first_name}}",
        "{{agent}}",
    ],
)
def test_the_documented_schema_and_the_check_agree(body: str) -> None:
    """What the OpenAPI schema's `not: {pattern}` refuses is what `check_text` refuses (fuzzers trust the schema)."""
    documented = jsonschema.Draft202012Validator(MacroWrite.model_json_schema()).is_valid({"title": "T", "body": body})
    try:
        MacroWrite(title="T", body=body)
    except ValidationError:
        accepted = False
    else:
        accepted = True
    assert documented == accepted


def test_applying_a_macro_replies_then_sets_the_status_and_tags(team, session_factory) -> None:  # type: ignore[no-untyped-def]
    ticket_id = web_ticket(team)
    assert _tag(team, ticket_id, add=["triage"]).status_code == 200
    expected_body = f'Hi Ann,\n\nabout "Refund?" ({ticket_id}): which order is it? We will write to ann@example.com.'
    preview = team.get(f"/api/tickets/{ticket_id}/macros/ask-order", headers=team.agent)
    assert preview.status_code == 200, preview.text
    assert preview.json() == {
        "macro_id": "ask-order",
        "ticket_id": ticket_id,
        "body": expected_body,
        "missing": [],
        "internal": False,
        "status": "pending",
        "assign": None,
        "tags": {"add": ["needs_info"], "remove": ["triage"]},
    }
    assert _messages(team, ticket_id) == [] and _history(team, ticket_id, "status") == []  # a preview posts nothing
    assert team.get(f"/api/tickets/{ticket_id}/macros/nope", headers=team.agent).status_code == 404
    assert team.get("/api/tickets/TKT-NOPE/macros/ask-order", headers=team.agent).status_code == 404

    applied = _apply(team, ticket_id, "ask-order", client_message_id="macro-1")
    assert (applied["ok"], applied["applied"], applied["status_code"], applied["detail"]) == (
        True,
        ["reply", "status", "tags"],
        200,
        None,
    )
    message = applied["message"]
    assert (message["body"], message["author_type"], message["author_name"], message["internal"]) == (
        expected_body,
        "agent",
        "alice",
        False,
    )
    ticket = applied["ticket"]
    assert (ticket["status"], ticket["tags"]) == ("pending", ["needs_info"])
    assert ticket["first_response_at"] == message["created_at"]  # a reply like any other
    assert ticket == team.get(f"/api/tickets/{ticket_id}", headers=team.agent).json()  # as it now is
    alice = team.actors["alice"]
    assert _history(team, ticket_id, "status") == [("new", "pending", alice)]
    assert set(_tag_history(team, ticket_id)[-2:]) == {("triage", None, alice), (None, "needs_info", alice)}

    assert message["macro_id"] == "ask-order" and _messages(team, ticket_id)[0]["macro_id"] == "ask-order"
    used = team.get("/api/macros/ask-order", headers=team.agent).json()
    assert (used["used_last_7d"], used["used_last_30d"], used["last_used_at"]) == (1, 1, message["created_at"])

    again = _apply(team, ticket_id, "ask-order", 200, client_message_id="macro-1")  # a retry
    assert again["message"] == message and again["ticket"]["status"] == "pending" and again["ok"]
    assert _history(team, ticket_id, "status") == [("new", "pending", alice)]  # nothing made twice
    with session_factory() as session:
        assert session.scalar(select(func.count()).select_from(TicketMessage)) == 1
    assert team.get("/api/macros/ask-order", headers=team.agent).json()["used_last_7d"] == 1  # a retry posts none

    # Retried after the ticket moved on: the posted reply is answered, and the move, no longer allowed, reported.
    assert (
        team.put(f"/api/tickets/{ticket_id}/status", json={"status": "resolved"}, headers=team.agent).status_code == 200
    )
    late = _apply(team, ticket_id, "ask-order", 200, client_message_id="macro-1")
    assert (late["ok"], late["applied"], late["status_code"]) == (False, ["reply"], 409)
    assert late["message"] == message and late["ticket"]["status"] == "resolved"


def test_a_macros_reply_is_sent_to_the_channel_and_its_note_is_not(  # type: ignore[no-untyped-def]
    client_for, db_url, redis_client, session_factory
):
    api = keyed(client_for(db_url, auth_disabled=False, reply_webhook_url="http://127.0.0.1:9/hooks"), session_factory)
    assert api.post("/api/macros", json=ASK_ORDER, headers=api.admin).status_code == 201
    note = {"macro_id": "note", "title": "Note", "body": "Asked {{customer.email}}", "internal": True}
    assert api.post("/api/macros", json=note, headers=api.admin).status_code == 201
    ticket_id = web_ticket(api)
    reply = _apply(api, ticket_id, "ask-order")["message"]
    _apply(api, ticket_id, "note")
    assert [(m["internal"], m["delivery"] and m["delivery"]["state"]) for m in _messages(api, ticket_id)] == [
        (False, "pending"),
        (True, None),
    ]
    (row,) = stored(session_factory, ReplyDelivery, ReplyDelivery.message_id)
    assert (row.message_id, row.payload["event"], row.payload["message"]["body"]) == (
        reply["id"],
        "ticket.reply",
        reply["body"],
    )
    assert [task["headers"]["argsrepr"] for task in queued_replies(redis_client)] == [repr([reply["id"]])]


def test_an_unnamed_customer_is_greeted_and_a_note_answers_nobody(team) -> None:  # type: ignore[no-untyped-def]
    ticket_id = web_ticket(team, customer_email="nameless@example.com", customer_name=None)
    greeting = team.post(
        "/api/macros",
        json={"title": "Hello", "body": "Hi {{customer.first_name}} / {{customer.name}}", "internal": True},
        headers=team.admin,
    ).json()
    applied = _apply(team, ticket_id, greeting["macro_id"])
    assert applied["applied"] == ["note"] and applied["message"]["internal"] is True
    assert applied["message"]["body"] == "Hi there / there"
    assert applied["ticket"]["first_response_at"] is None and applied["ticket"]["status"] == "new"
    assert len(_messages(team, ticket_id)) == 1  # no client_message_id: each apply posts


def test_a_macro_that_cannot_be_applied_posts_nothing(team) -> None:  # type: ignore[no-untyped-def]
    resolved = web_ticket(team)
    assert (
        team.put(f"/api/tickets/{resolved}/status", json={"status": "resolved"}, headers=team.agent).status_code == 200
    )
    refused = team.post(f"/api/tickets/{resolved}/macros/ask-order", headers=team.agent)
    assert refused.status_code == 409 and "from 'resolved' to 'pending'" in refused.json()["detail"]

    vendor = web_ticket(team, source="zendesk")
    refused = team.post(f"/api/tickets/{vendor}/macros/ask-order", headers=team.agent)
    assert refused.status_code == 409 and "zendesk" in refused.json()["detail"]

    long_subject = web_ticket(team, subject="s" * 500)
    repeated = "{{ticket.subject}}" * 41  # 738 characters written, 20,500 filled in
    too_long = team.post("/api/macros", json={"title": "Echo", "body": repeated}, headers=team.admin).json()
    refused = team.post(f"/api/tickets/{long_subject}/macros/{too_long['macro_id']}", headers=team.agent)
    assert refused.status_code == 422 and f"at most {MAX_DESCRIPTION}" in refused.json()["detail"]
    assert too_long["macro_id"] in refused.json()["detail"]

    off = {**ASK_ORDER, "active": False}
    del off["macro_id"]
    assert team.put("/api/macros/ask-order", json=off, headers=team.admin).status_code == 200
    fresh = web_ticket(team)
    checked = team.get(f"/api/tickets/{fresh}/macros/ask-order", headers=team.agent)  # an admin checks it first
    assert checked.status_code == 200 and checked.json()["body"].startswith("Hi Ann,")
    refused = team.post(f"/api/tickets/{fresh}/macros/ask-order", headers=team.agent)
    assert refused.status_code == 409 and "inactive" in refused.json()["detail"]
    assert team.post(f"/api/tickets/{fresh}/macros/nope", headers=team.agent).status_code == 404
    assert team.post("/api/tickets/TKT-NOPE/macros/ask-order", headers=team.agent).status_code == 404

    for ticket_id in (resolved, vendor, long_subject, fresh):
        assert _messages(team, ticket_id) == []
        shown = team.get(f"/api/tickets/{ticket_id}", headers=team.agent).json()
        assert shown["status"] in ("new", "resolved") and shown["tags"] == []


def test_a_change_refused_after_the_reply_is_reported_and_the_reply_stays(team) -> None:  # type: ignore[no-untyped-def]
    ticket_id = web_ticket(team)
    for start in range(0, MAX_TICKET_TAGS, 20):  # at most 20 a request
        tags = [f"t{i}" for i in range(start, min(start + 20, MAX_TICKET_TAGS))]
        assert _tag(team, ticket_id, add=tags).status_code == 200
    applied = _apply(team, ticket_id, "ask-order")
    assert (applied["ok"], applied["applied"], applied["status_code"]) == (False, ["reply", "status"], 409)
    assert f"at most {MAX_TICKET_TAGS}" in applied["detail"]
    assert applied["ticket"]["status"] == "pending" and "needs_info" not in applied["ticket"]["tags"]
    assert [m["body"] for m in _messages(team, ticket_id)] == [applied["message"]["body"]]


def test_macros_are_listed_by_their_uses(team, session_factory) -> None:  # type: ignore[no-untyped-def]
    for macro_id, title in (("a", "Apology"), ("b", "Billing note"), ("c", "Closing")):
        body = {"macro_id": macro_id, "title": title, "body": f"{title}, {{{{ticket.id}}}}", "internal": True}
        assert team.post("/api/macros", json=body, headers=team.admin).status_code == 201
    ticket_id = web_ticket(team)
    posted = {m: [_apply(team, ticket_id, m)["message"] for _ in range(n)] for m, n in (("b", 2), ("c", 2))}
    assert [m["macro_id"] for m in _messages(team, ticket_id)] == ["b", "b", "c", "c"]
    now = datetime.now(UTC)
    with session_factory() as session:  # one of b's uses 10 days ago, one of c's 40 days ago
        for macro_id, days in (("b", 10), ("c", 40)):
            first = posted[macro_id][0]["id"]
            session.execute(
                update(TicketMessage).where(TicketMessage.id == first).values(created_at=now - timedelta(days=days))
            )
        session.commit()

    def listed(**query: object) -> list[tuple[str, int, int]]:
        macros = team.get("/api/macros", params=query, headers=team.agent).json()
        return [(m["macro_id"], m["used_last_7d"], m["used_last_30d"]) for m in macros]

    assert listed() == [("a", 0, 0), ("ask-order", 0, 0), ("b", 1, 2), ("c", 1, 1)]  # by title
    assert listed(sort="usage") == [("b", 1, 2), ("c", 1, 1), ("a", 0, 0), ("ask-order", 0, 0)]
    last = {m["macro_id"]: m["last_used_at"] for m in team.get("/api/macros", headers=team.agent).json()}
    assert last == {"a": None, "ask-order": None, "b": posted["b"][1]["created_at"], "c": posted["c"][1]["created_at"]}
    assert team.get("/api/macros", params={"sort": "popular"}, headers=team.agent).status_code == 422


def test_a_macro_assigns_the_ticket_and_its_agent_is_checked(team) -> None:  # type: ignore[no-untyped-def]
    for agent_id in ("AG-1", "AG-2"):
        assert (
            team.post("/api/agents", json={"agent_id": agent_id, "name": agent_id}, headers=team.admin).status_code
            == 201
        )
    escalate = {
        "macro_id": "escalate",
        "title": "Escalate to billing",
        "body": "Billing: please check the refund on {{ticket.id}}.",
        "internal": True,
        "status": "in_progress",
        "assign": {"agent_id": "AG-1"},
    }
    unknown = team.post("/api/macros", json={**escalate, "assign": {"agent_id": "AG-9"}}, headers=team.admin)
    assert unknown.status_code == 404 and "AG-9" in unknown.json()["detail"]  # a typo fails when written
    assert team.post("/api/macros", json=escalate, headers=team.admin).status_code == 201

    ticket_id = web_ticket(team)
    preview = team.get(f"/api/tickets/{ticket_id}/macros/escalate", headers=team.agent).json()
    assert preview["assign"] == {"agent_id": "AG-1"}
    applied = _apply(team, ticket_id, "escalate")
    assert (applied["ok"], applied["applied"]) == (True, ["note", "status", "assign"])
    assert (applied["ticket"]["assigned_to"], applied["ticket"]["status"]) == ("AG-1", "in_progress")
    assert _history(team, ticket_id, "assigned_to") == [(None, "AG-1", team.actors["alice"])]

    unassign = {**escalate, "macro_id": "unassign", "title": "Back to the queue", "assign": {"agent_id": None}}
    del unassign["status"]
    assert team.post("/api/macros", json=unassign, headers=team.admin).json()["assign"] == {"agent_id": None}
    assert _apply(team, ticket_id, "unassign")["ticket"]["assigned_to"] is None

    # The agent deactivated after the macro was written: applying it posts nothing.
    assert team.patch("/api/agents/AG-1", json={"active": False}, headers=team.admin).status_code == 200
    other = web_ticket(team)
    refused = team.post(f"/api/tickets/{other}/macros/escalate", headers=team.agent)
    assert refused.status_code == 409 and "AG-1" in refused.json()["detail"]
    assert (
        _messages(team, other) == [] and team.get(f"/api/tickets/{other}", headers=team.agent).json()["status"] == "new"
    )
    moved = team.put(
        "/api/macros/escalate", json={k: v for k, v in escalate.items() if k != "macro_id"}, headers=team.admin
    )
    assert moved.status_code == 409  # nor can it be written with them


SHIPPED = "Hi {{customer.first_name}}, order {{ticket.order_id}} left us; track it with {{ ticket.tracking_number }}."


def _found(session_factory, ticket_id: str, **extracted: list[str]) -> None:  # type: ignore[no-untyped-def]
    """The order ids and tracking numbers the classifier found in the ticket's text, written as it writes them."""
    from shared.references import replace_found_references

    with session_factory() as session:
        replace_found_references(session, ticket_id, extracted)
        session.commit()


def test_the_order_id_and_tracking_number_are_filled_in_or_the_macro_is_refused(team, session_factory) -> None:  # type: ignore[no-untyped-def]
    shipped = team.post("/api/macros", json={"title": "Shipped", "body": SHIPPED}, headers=team.admin).json()
    given = web_ticket(team, order_id="#a12 ")  # the form's order id comes before those found in the text
    _found(session_factory, given, order_ids=["B-77"], tracking_numbers=["1z 999-aa1", "1Z999AA2"])
    applied = _apply(team, given, shipped["macro_id"])
    assert applied["message"]["body"] == "Hi Ann, order A12 left us; track it with 1Z999AA1."

    found = web_ticket(team)  # no order id given: the first found, in the text's order
    _found(session_factory, found, order_ids=["ord-9", "ord-5"])
    preview = team.get(f"/api/tickets/{found}/macros/{shipped['macro_id']}", headers=team.agent).json()
    assert preview["body"] == "Hi Ann, order ORD-9 left us; track it with {{ ticket.tracking_number }}."
    assert preview["missing"] == ["{{ticket.tracking_number}}"]
    refused = team.post(f"/api/tickets/{found}/macros/{shipped['macro_id']}", headers=team.agent)
    assert refused.status_code == 409, refused.text
    assert refused.json()["detail"] == (
        f"macro '{shipped['macro_id']}' holds {{{{ticket.tracking_number}}}} and ticket '{found}' has none (none "
        "given with it or found in its text); reply without this macro"
    )
    order_only = team.post(
        "/api/macros",
        json={"title": "Order", "body": "About {{ticket.order_id}} ({{ticket.order_id}}).", "status": "pending"},
        headers=team.admin,
    ).json()
    assert _apply(team, found, order_only["macro_id"])["message"]["body"] == "About ORD-9 (ORD-9)."

    bare = web_ticket(team)
    refused = team.post(f"/api/tickets/{bare}/macros/{shipped['macro_id']}", headers=team.agent)
    assert refused.status_code == 409
    assert "holds {{ticket.order_id}} and {{ticket.tracking_number}} and ticket" in refused.json()["detail"]
    for ticket_id in (bare,):
        assert _messages(team, ticket_id) == []
        assert team.get(f"/api/tickets/{ticket_id}", headers=team.agent).json()["status"] == "new"
    assert len(_messages(team, found)) == 1  # the order-only macro's reply, not the refused one's
    twice = team.get(f"/api/tickets/{bare}/macros/{order_only['macro_id']}", headers=team.agent).json()
    assert twice["missing"] == ["{{ticket.order_id}}"]  # each once
    plain = team.get(f"/api/tickets/{bare}/macros/ask-order", headers=team.agent).json()
    assert plain["missing"] == [] and "{{" not in plain["body"]
