"""Ticket tags (`POST /api/tickets/{id}/tags`, `?tag=`) on SQLite and PostgreSQL: put on and taken off by name,
shown, listed by, audited, bounded, refused where they do not belong, brought in from Zendesk and Intercom,
exported and erased."""

from __future__ import annotations

import json
import threading
import time

import pytest
from sqlalchemy import select

from gateway.services import tickets as tickets_service
from gateway.services.tags import change_tags
from shared.db import claim_row
from shared.models import AuditLog, Ticket, TicketTag
from shared.schemas import TagsUpdate
from shared.tags import MAX_TICKET_TAGS
from tests.gateway.conftest import keyed, web_ticket
from tests.gateway.test_webhooks_api import IC, ZD, intercom_headers, raw, signed_api, zendesk_headers  # noqa: F401


@pytest.fixture
def team(client_for, db_url, redis_client, session_factory):  # type: ignore[no-untyped-def]
    """A gateway with auth on: an agent (`alice`) whose name the history records, and an admin."""
    api = keyed(client_for(db_url, auth_disabled=False), session_factory)
    api.actor = api.actors["alice"]
    return api


def _tag(api, ticket_id: str, **change: list[str]):  # type: ignore[no-untyped-def]
    return api.post(f"/api/tickets/{ticket_id}/tags", json=change, headers=api.agent)


def _listed(api, **query: object) -> list[str]:  # type: ignore[no-untyped-def]
    response = api.get("/api/tickets/", params=query, headers=api.agent)
    assert response.status_code == 200, response.text
    return [t["ticket_id"] for t in response.json()]


def _tag_history(api, ticket_id: str) -> list[tuple[str | None, str | None, str]]:  # type: ignore[no-untyped-def]
    history = api.get(f"/api/tickets/{ticket_id}/history", headers=api.agent).json()
    return [(h["old_value"], h["new_value"], h["actor"]) for h in history if h["field"] == "tags"]


def test_tags_are_put_on_taken_off_shown_listed_and_audited(team) -> None:  # type: ignore[no-untyped-def]
    ticket_id = web_ticket(team)
    other = web_ticket(team, subject="Where is my parcel?")
    added = _tag(team, ticket_id, add=["VIP", "refund:partial", "vip"])
    assert added.status_code == 200, added.text
    body = added.json()
    assert (body["ticket_id"], body["tags"], body["added"], body["removed"]) == (
        ticket_id,
        ["refund:partial", "vip"],
        ["refund:partial", "vip"],
        [],
    )
    view = team.get(f"/api/tickets/{ticket_id}", headers=team.agent).json()
    assert view["tags"] == ["refund:partial", "vip"]
    assert view["updated_at"] == body["updated_at"]
    assert _listed(team, tag="Vip") == [ticket_id]
    assert _listed(team, tag="vip", status="new", q="refund") == [ticket_id]
    assert _listed(team, tag="vip", status="closed") == []
    assert _listed(team, tag="vip", q="parcel") == []
    listed = team.get("/api/tickets/", headers=team.agent).json()
    assert {t["ticket_id"]: t["tags"] for t in listed} == {ticket_id: ["refund:partial", "vip"], other: []}

    # Tags already on, and tags not on, change nothing: no history entry, no new `updated_at`.
    again = _tag(team, ticket_id, add=["vip"], remove=["never-put-on"])
    assert again.status_code == 200, again.text
    assert (again.json()["added"], again.json()["removed"], again.json()["updated_at"]) == ([], [], body["updated_at"])

    both = _tag(team, ticket_id, add=["vip", "refund:partial"], remove=["VIP", "refund:partial"])
    assert both.status_code == 200, both.text  # named on both sides: they stay on
    assert (both.json()["tags"], both.json()["added"], both.json()["removed"]) == (["refund:partial", "vip"], [], [])

    taken = _tag(team, ticket_id, add=["Escalated"], remove=["VIP"])
    assert taken.status_code == 200, taken.text
    assert (taken.json()["tags"], taken.json()["added"], taken.json()["removed"]) == (
        ["escalated", "refund:partial"],
        ["escalated"],
        ["vip"],
    )
    assert taken.json()["updated_at"] > body["updated_at"]
    assert _listed(team, tag="vip") == []
    assert _listed(team, tag="escalated") == [ticket_id]
    assert _tag_history(team, ticket_id) == [
        (None, "refund:partial", team.actor),
        (None, "vip", team.actor),
        (None, "escalated", team.actor),
        ("vip", None, team.actor),
    ]
    assert _tag_history(team, other) == []


@pytest.mark.parametrize(
    ("change", "says"),
    [
        ({}, "give a tag to add or to remove"),
        ({"add": [], "remove": []}, "give a tag to add or to remove"),
        ({"add": ["two words"]}, "String should match pattern"),
        ({"add": ["-dash-first"]}, "String should match pattern"),
        ({"add": ["café"]}, "String should match pattern"),
        ({"add": ["vip\n"]}, "String should match pattern"),
        ({"add": [""]}, "String should match pattern"),
        ({"add": ["x" * 51]}, "at most 50 characters"),
        ({"add": [f"t{i}" for i in range(21)]}, "at most 20 items"),
        ({"remove": "vip"}, "valid list"),
        ({"add": ["vip"], "tags": ["vip"]}, "Extra inputs are not permitted"),
    ],
)
def test_what_is_not_a_tag_change_gets_422_saying_why(team, change: dict, says: str) -> None:  # type: ignore[no-untyped-def]
    ticket_id = web_ticket(team)
    refused = _tag(team, ticket_id, **change)
    assert refused.status_code == 422, refused.text
    assert says in refused.text
    assert team.get(f"/api/tickets/{ticket_id}", headers=team.agent).json()["tags"] == []


def _in_use(api, **query: object) -> list[tuple[str, int]]:  # type: ignore[no-untyped-def]
    response = api.get("/api/tags", params=query, headers=api.agent)
    assert response.status_code == 200, response.text
    return [(t["tag"], t["tickets"]) for t in response.json()]


def test_the_tags_in_use_are_counted_most_used_first(team) -> None:  # type: ignore[no-untyped-def]
    assert _in_use(team) == []
    ids = [web_ticket(team) for _ in range(4)]
    for ticket_id in ids:
        assert _tag(team, ticket_id, add=["late"]).status_code == 200
    for ticket_id in ids[:3]:
        assert _tag(team, ticket_id, add=["refund_partial", "vip"]).status_code == 200
    assert _tag(team, ids[3], add=["refundxpartial", "refund:full"]).status_code == 200
    assert _tag(team, ids[0], remove=["vip"]).status_code == 200  # a tag taken off counts no more

    assert _in_use(team) == [
        ("late", 4),
        ("refund_partial", 3),
        ("vip", 2),
        ("refund:full", 1),
        ("refundxpartial", 1),
    ]
    assert _in_use(team, limit=2) == [("late", 4), ("refund_partial", 3)]
    # A prefix as an agent types it, in any letter case; `_` is a character, not a LIKE wildcard.
    assert _in_use(team, prefix="REFUND_") == [("refund_partial", 3)]
    assert _in_use(team, prefix="refund") == [("refund_partial", 3), ("refund:full", 1), ("refundxpartial", 1)]
    assert _in_use(team, prefix="nothing") == []


@pytest.mark.parametrize(
    ("query", "says"),
    [
        ({"prefix": "two words"}, "String should match pattern"),
        ({"prefix": ""}, "String should match pattern"),
        ({"limit": 0}, "greater than or equal to 1"),
        ({"limit": 201}, "less than or equal to 200"),
    ],
)
def test_a_tag_list_query_that_is_not_one_gets_422(team, query: dict, says: str) -> None:  # type: ignore[no-untyped-def]
    refused = team.get("/api/tags", params=query, headers=team.agent)
    assert refused.status_code == 422, refused.text
    assert says in refused.text


@pytest.mark.parametrize("common", [False, True], ids=["read-through-the-tag", "walked-by-arrival"])
def test_a_tag_lists_the_same_tickets_whichever_way_they_are_found(team, monkeypatch, common: bool) -> None:  # type: ignore[no-untyped-def]
    """A tag on at least COMMON_TAG tickets is found by walking the arrivals, a rarer one through its index."""
    monkeypatch.setattr(tickets_service, "COMMON_TAG", 2 if common else 1000)
    ids = [web_ticket(team, subject=f"Parcel {i}") for i in range(5)]
    for ticket_id in ids[:4]:
        assert _tag(team, ticket_id, add=["late"]).status_code == 200
    assert _tag(team, ids[4], add=["other"]).status_code == 200
    moved = team.put(f"/api/tickets/{ids[1]}/status", json={"status": "open"}, headers=team.agent)
    assert moved.status_code == 200, moved.text
    tagged = ids[:4]
    assert _listed(team, tag="late") == tagged[::-1]
    assert _listed(team, tag="late", sort="oldest", limit=2, offset=1) == tagged[1:3]
    assert _listed(team, tag="late", status="new") == [ids[3], ids[2], ids[0]]
    assert _listed(team, tag="late", sort="due") == tagged  # unclassified: by arrival
    assert _listed(team, tag="other") == [ids[4]]
    # With a text search, whose newest-first walk reads the tag filter too.
    assert _listed(team, tag="late", q="parcel") == tagged[::-1]
    assert _listed(team, tag="late", q='"Parcel 2"') == [ids[2]]
    assert _listed(team, tag="other", q='"Parcel 2"') == []


@pytest.mark.parametrize("value", ["two words", "vip,", ",vip", "vip,,late", "vip, late", ",".join("abcdefghijk")])
def test_a_list_filter_that_is_not_a_tag_gets_422(team, value: str) -> None:  # type: ignore[no-untyped-def]
    """One tag, or up to ten comma-separated with nothing between them (an empty one, a space, an eleventh)."""
    for name in ("tag", "without_tag"):
        refused = team.get("/api/tickets/", params={name: value}, headers=team.agent)
        assert refused.status_code == 422, refused.text
        assert name in refused.text and "String should match pattern" in refused.text


@pytest.mark.parametrize("common", [False, True], ids=["read-through-the-tags", "walked-by-arrival"])
def test_several_tags_list_the_tickets_carrying_any_or_none_of_them(team, monkeypatch, common: bool) -> None:  # type: ignore[no-untyped-def]
    """`?tag=a,b`: any of them, each ticket once; `?without_tag=a,b`: none of them; in any letter case and
    order, a tag given twice counted once; a view stores them as given and counts, and an export writes, what
    the list lists."""
    monkeypatch.setattr(tickets_service, "COMMON_TAG", 2 if common else 1000)
    ids = [web_ticket(team, subject=f"Account {i}") for i in range(5)]
    for ticket_id, tags in zip(ids, (["vip"], ["enterprise"], ["vip", "enterprise"], ["trial"], []), strict=True):
        if tags:
            assert _tag(team, ticket_id, add=tags).status_code == 200
    assert _listed(team, tag="vip,enterprise") == [ids[2], ids[1], ids[0]]
    assert _listed(team, tag="ENTERPRISE,vip,enterprise", sort="oldest") == [ids[0], ids[1], ids[2]]
    assert _listed(team, tag="vip,enterprise", limit=1, offset=1) == [ids[1]]
    assert _listed(team, tag="vip,nothing-has-it") == [ids[2], ids[0]]
    assert _listed(team, without_tag="vip,enterprise") == [ids[4], ids[3]]
    assert _listed(team, without_tag="vip,trial") == [ids[4], ids[1]]
    assert _listed(team, tag="vip,trial", without_tag="enterprise") == [ids[3], ids[0]]
    assert _listed(team, tag="vip,enterprise", q='"Account 1"') == [ids[1]]
    assert _listed(team, tag="vip,enterprise,trial") == ids[3::-1]

    view = {"view_id": "accounts", "title": "Key accounts", "filters": {"tag": "VIP,Enterprise,vip"}}
    made = team.post("/api/views", json=view, headers=team.admin)
    assert made.status_code == 201, made.text
    assert (made.json()["count"], made.json()["filters"], made.json()["query"]) == (
        3,
        {"tag": "vip,enterprise"},
        "tag=vip%2Centerprise",
    )
    assert _listed(team, **{"tag": "vip,enterprise"}) == [
        t["ticket_id"] for t in team.get("/api/views/accounts/tickets", headers=team.agent).json()
    ]
    exported = team.get(
        "/api/tickets/export", params={"without_tag": "vip,enterprise", "columns": "ticket_id"}, headers=team.admin
    )
    assert exported.status_code == 200, exported.text
    assert exported.text.split() == ["ticket_id", ids[4], ids[3]]


def test_without_a_tag_lists_and_counts_every_ticket_not_carrying_it(team) -> None:  # type: ignore[no-untyped-def]
    """`?without_tag=`: the queue but what waits on a vendor; with `tag`, the one and not the other; in any
    letter case; a view of it counts, and an export writes, what the list lists."""
    ids = [web_ticket(team, subject=f"Router {i}") for i in range(5)]
    for ticket_id in ids[:2]:
        assert _tag(team, ticket_id, add=["waiting-vendor", "hardware"]).status_code == 200
    assert _tag(team, ids[2], add=["hardware"]).status_code == 200
    assert _tag(team, ids[3], add=["Waiting-Vendor"]).status_code == 200
    assert team.put(f"/api/tickets/{ids[1]}/status", json={"status": "open"}, headers=team.agent).is_success
    assert _listed(team, without_tag="waiting-vendor") == [ids[4], ids[2]]
    assert _listed(team, without_tag="WAITING-VENDOR", sort="oldest") == [ids[2], ids[4]]
    assert _listed(team, tag="hardware", without_tag="waiting-vendor") == [ids[2]]
    assert _listed(team, without_tag="hardware", status="new") == [ids[4], ids[3]]
    assert _listed(team, without_tag="nothing-has-it") == ids[::-1]
    assert _listed(team, without_tag="waiting-vendor", q='"Router 2"') == [ids[2]]
    assert _listed(team, tag="hardware", without_tag="hardware") == []
    assert _tag(team, ids[0], remove=["waiting-vendor"]).status_code == 200  # taken off: listed again
    assert _listed(team, without_tag="waiting-vendor") == [ids[4], ids[2], ids[0]]

    view = {"view_id": "not-vendor", "title": "Not waiting on a vendor", "filters": {"without_tag": "waiting-vendor"}}
    made = team.post("/api/views", json=view, headers=team.admin)
    assert made.status_code == 201, made.text
    assert (made.json()["count"], made.json()["query"]) == (3, "without_tag=waiting-vendor")
    exported = team.get(
        "/api/tickets/export", params={"without_tag": "waiting-vendor", "columns": "ticket_id"}, headers=team.admin
    )
    assert exported.status_code == 200, exported.text
    assert exported.text.split() == ["ticket_id", ids[4], ids[2], ids[0]]


def test_a_card_number_in_a_tag_is_masked_wherever_it_is_given(team) -> None:  # type: ignore[no-untyped-def]
    ticket_id = web_ticket(team)
    added = _tag(team, ticket_id, add=["4111-1111-1111-1111", "paid_4242424242424242", "order_1234567890123"])
    assert added.status_code == 200, added.text
    # A card number is masked; an order number of that length (no issuer's, or failing Luhn) is not.
    assert added.json()["tags"] == ["card_ending_1111", "order_1234567890123", "paid_card_ending_4242"]
    assert _listed(team, tag="4111111111111111") == [ticket_id]
    removed = _tag(team, ticket_id, remove=["4111111111111111"])
    assert removed.json()["removed"] == ["card_ending_1111"]


def test_a_ticket_carries_at_most_the_limit(team) -> None:  # type: ignore[no-untyped-def]
    ticket_id = web_ticket(team)
    for start in range(0, MAX_TICKET_TAGS, 20):
        batch = [f"t{i:02d}" for i in range(start, min(start + 20, MAX_TICKET_TAGS))]
        assert _tag(team, ticket_id, add=batch).status_code == 200
    refused = _tag(team, ticket_id, add=["one-more"])
    assert refused.status_code == 409, refused.text
    assert f"would carry {MAX_TICKET_TAGS + 1} tags; at most {MAX_TICKET_TAGS}" in refused.json()["detail"]
    swapped = _tag(team, ticket_id, add=["one-more"], remove=["t00"])  # one off, one on: still the limit
    assert swapped.status_code == 200, swapped.text
    assert len(swapped.json()["tags"]) == MAX_TICKET_TAGS and "one-more" in swapped.json()["tags"]
    assert len(_tag_history(team, ticket_id)) == MAX_TICKET_TAGS + 2  # the refused change recorded nothing


def test_an_unknown_ticket_gets_404_and_an_integration_key_403(team) -> None:  # type: ignore[no-untyped-def]
    missing = _tag(team, "TKT-NOPE", add=["vip"])
    assert missing.status_code == 404, missing.text
    assert "TKT-NOPE" in missing.json()["detail"]
    ticket_id = web_ticket(team)
    assert team.post(f"/api/tickets/{ticket_id}/tags", json={"add": ["vip"]}).status_code == 403


def test_tags_are_exported_then_erased_with_the_names_in_the_history(team, session_factory) -> None:  # type: ignore[no-untyped-def]
    ticket_id = web_ticket(team)
    assert _tag(team, ticket_id, add=["ann_lee_vip", "refund"]).status_code == 200
    assert _tag(team, ticket_id, remove=["refund"]).status_code == 200
    moved = team.put(f"/api/tickets/{ticket_id}/status", json={"status": "open"}, headers=team.agent)
    assert moved.status_code == 200, moved.text
    export = team.post("/api/customers/export", json={"email": "ann@example.com"}, headers=team.admin)
    assert export.status_code == 200, export.text
    assert [t["tags"] for t in export.json()["tickets"]] == [["ann_lee_vip"]]

    erased = team.post(f"/api/tickets/{ticket_id}/erase", headers=team.admin)
    assert erased.status_code == 200, erased.text
    with session_factory() as session:
        assert session.scalars(select(TicketTag)).all() == []
    assert team.get(f"/api/tickets/{ticket_id}", headers=team.agent).json()["tags"] == []
    # Who changed the tags, and when, stays; which tags does not.
    assert _tag_history(team, ticket_id) == [
        (None, "[erased]", team.actor),
        (None, "[erased]", team.actor),
        ("[erased]", None, team.actor),
    ]
    history = team.get(f"/api/tickets/{ticket_id}/history", headers=team.agent).json()
    assert [(h["old_value"], h["new_value"]) for h in history if h["field"] == "status"] == [
        ("new", "open"),
        ("open", "closed"),
    ]
    refused = _tag(team, ticket_id, add=["vip"])
    assert refused.status_code == 409, refused.text
    assert "was erased" in refused.json()["detail"]
    assert _listed(team, tag="vip") == []


def test_another_ticket_keeps_its_tags_and_history_through_an_erasure(team) -> None:  # type: ignore[no-untyped-def]
    ours = web_ticket(team)
    theirs = web_ticket(team, customer_email="bo@example.com")
    for ticket_id in (ours, theirs):
        assert _tag(team, ticket_id, add=["vip"]).status_code == 200
    erased = team.post("/api/customers/erase", json={"email": "ann@example.com"}, headers=team.admin)
    assert erased.status_code == 200, erased.text
    assert _listed(team, tag="vip") == [theirs]
    assert _tag_history(team, theirs) == [(None, "vip", team.actor)]
    assert _tag_history(team, ours) == [(None, "[erased]", team.actor)]


def test_a_change_waits_for_a_concurrent_one_and_counts_its_tags(team, session_factory) -> None:  # type: ignore[no-untyped-def]
    """Two agents tag one ticket at once: the second change reads the tags the first committed, so both land,
    the limit holds, and the history holds only changes that happened."""
    ticket_id = web_ticket(team)
    assert _tag(team, ticket_id, add=[f"t{i:02d}" for i in range(20)]).status_code == 200
    assert _tag(team, ticket_id, add=[f"t{i:02d}" for i in range(20, 40)]).status_code == 200
    outcome: dict[str, object] = {}

    def second_agent() -> None:
        with session_factory() as session:
            try:
                outcome["result"] = change_tags(session, ticket_id, TagsUpdate(add=[f"u{i}" for i in range(9)]))
            except Exception as exc:
                outcome["error"] = exc

    with session_factory() as first:
        assert claim_row(first, Ticket, ticket_id, erased_at=None)  # the first agent's change holds the ticket
        thread = threading.Thread(target=second_agent)
        thread.start()
        time.sleep(0.5)
        assert thread.is_alive(), outcome  # waiting for the first change to end
        first.add_all(TicketTag(ticket_id=ticket_id, tag=tag) for tag in ("t00-again", "w1", "w2"))
        first.commit()
    thread.join(30)
    assert not thread.is_alive()
    error = outcome.get("error")
    assert error is not None and "would carry 52 tags" in str(error), outcome  # 43 + 9, not 40 + 9
    with session_factory() as session:
        assert len(session.scalars(select(TicketTag).where(TicketTag.ticket_id == ticket_id)).all()) == 43
        assert session.query(AuditLog).filter(AuditLog.field == "tags").count() == 40


def test_vendor_tickets_arrive_with_their_tags(signed_api, team) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    event = raw("zendesk_event_ticket_created.json")
    created = signed_api.post(ZD, content=event, headers=zendesk_headers(event))
    assert created.status_code == 201, created.text
    assert created.json()["ticket"]["tags"] == ["login", "mobile"]
    assert created.json()["ticket"]["metadata"]["zendesk_tags"] == "mobile login"  # as it arrived

    trigger = raw("zendesk_trigger_rendered.json")  # a trigger's {{ticket.tags}}: one space-separated text
    created = signed_api.post(ZD, content=trigger, headers=zendesk_headers(trigger))
    assert created.status_code == 201, created.text
    assert created.json()["ticket"]["tags"] == ["apparel", "exchange"]

    payload = json.loads(raw("intercom_conversation_user_created_v2.json"))
    payload["data"]["item"]["tags"] = {
        "type": "tag.list",
        "tags": [{"type": "tag", "id": "1", "name": "VIP customer"}, {"name": "Billing!"}, {"name": " "}, {"id": "9"}],
    }
    body = json.dumps(payload).encode()
    created = signed_api.post(IC, content=body, headers=intercom_headers(body))
    assert created.status_code == 201, created.text
    ticket = created.json()["ticket"]
    assert ticket["tags"] == ["billing", "vip_customer"]
    assert _tag_history(team, ticket["ticket_id"]) == []  # the vendor's, not a change made here
