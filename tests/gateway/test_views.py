"""Views (`/api/views`) on SQLite and PostgreSQL: admins save the ticket list's filters under a title, agents
open them, and a view lists and counts exactly what `GET /api/tickets/` lists with its filters, now."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from gateway.services import search
from shared.models import View
from tests.conftest import force_ticket
from tests.gateway.conftest import keyed, web_ticket

URGENT = {"view_id": "urgent", "title": "Unassigned urgent", "filters": {"priority": "critical", "assigned": False}}
BILLING_LATE = {
    "view_id": "billing-late",
    "title": "Billing past target",
    "filters": {"category": "billing", "overdue": True, "sort": "due"},
    "position": 1,
}


@pytest.fixture
def team(client_for, db_url, redis_client, session_factory):  # type: ignore[no-untyped-def]
    """The web form's key, an agent (`alice`) and an admin (`boss`)."""
    return keyed(client_for(db_url, auth_disabled=False), session_factory)


def _write(api, body: dict[str, Any], expected: int = 201, view_id: str | None = None) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    if view_id is None:
        response = api.post("/api/views", json=body, headers=api.admin)
    else:
        response = api.put(f"/api/views/{view_id}", json=body, headers=api.admin)
    assert response.status_code == expected, response.text
    return response.json()


def _ids(response) -> list[str]:  # type: ignore[no-untyped-def]
    assert response.status_code == 200, response.text
    return [t["ticket_id"] for t in response.json()]


def _opened(api, view_id: str, **page: int) -> list[str]:  # type: ignore[no-untyped-def]
    return _ids(api.get(f"/api/views/{view_id}/tickets", params=page, headers=api.agent))


def _listed(api, query: str) -> list[str]:  # type: ignore[no-untyped-def]
    """What the ticket list shows for a view's query string (every page at once)."""
    return _ids(api.get(f"/api/tickets/?{query}&limit=200", headers=api.agent))


def test_a_view_lists_and_counts_what_the_ticket_list_lists_now(team, db_url) -> None:  # type: ignore[no-untyped-def]
    old = datetime.now(UTC) - timedelta(days=3)  # past every priority's resolution target
    fire, smoke, handled, calm = (web_ticket(team, subject=f"Ticket {n}") for n in range(4))
    for ticket_id in (fire, smoke, handled):
        force_ticket(db_url, ticket_id, priority="critical", category="billing")
    force_ticket(db_url, calm, priority="low", category="billing")
    force_ticket(db_url, smoke, created_at=old)
    force_ticket(db_url, calm, created_at=old - timedelta(days=30))
    team.post("/api/agents", json={"agent_id": "AG-1", "name": "Ann"}, headers=team.admin)
    assigned = team.put(f"/api/tickets/{handled}/assign", json={"agent_id": "AG-1"}, headers=team.agent)
    assert assigned.status_code == 200, assigned.text

    urgent = _write(team, URGENT)
    assert (urgent["count"], urgent["filters"], urgent["query"]) == (
        2,
        {"priority": "critical", "assigned": False},
        "priority=critical&assigned=false",
    )
    assert (urgent["created_by"], urgent["updated_by"], urgent["position"], urgent["active"]) == (
        team.actors["boss"],
        team.actors["boss"],
        0,
        True,
    )
    late = _write(team, BILLING_LATE)
    assert late["query"] == "category=billing&overdue=true&sort=due"
    everything = _write(team, {"title": "All tickets"})
    assert (everything["filters"], everything["query"], everything["count"]) == ({}, "", 4)
    assert everything["view_id"].startswith("view-")

    # the view's tickets are the list's for its query, in its order, a page at a time
    assert _opened(team, "urgent") == _listed(team, urgent["query"]) == [fire, smoke]  # newest first
    assert _opened(team, "billing-late") == _listed(team, late["query"]) == [calm, smoke]  # the furthest past first
    assert _opened(team, "billing-late", limit=1, offset=1) == [smoke]
    assert _opened(team, everything["view_id"], limit=2) == _listed(team, "limit=2")[:2]

    # listed by position, then title; counted only when asked
    shown = team.get("/api/views", headers=team.agent).json()
    assert [(v["view_id"], v["count"]) for v in shown] == [
        (everything["view_id"], None),
        ("urgent", None),
        ("billing-late", None),
    ]
    counted = team.get("/api/views", params={"counts": True}, headers=team.agent).json()
    assert [v["count"] for v in counted] == [4, 2, 2]

    # live: a ticket assigned leaves the unassigned view; one resolved leaves the overdue one
    team.put(f"/api/tickets/{fire}/assign", json={"agent_id": "AG-1"}, headers=team.agent)
    force_ticket(db_url, calm, status="resolved", resolved_at=datetime.now(UTC))
    assert team.get("/api/views/urgent", headers=team.agent).json()["count"] == 1
    assert team.get("/api/views/billing-late", headers=team.agent).json()["count"] == 1
    assert _opened(team, "urgent") == [smoke] and _opened(team, "billing-late") == [smoke]


def test_admins_replace_and_turn_off_views_and_agents_only_read_them(team) -> None:  # type: ignore[no-untyped-def]
    created = _write(team, URGENT)
    assert team.post("/api/views", json=BILLING_LATE, headers=team.agent).status_code == 403
    assert team.put("/api/views/urgent", json={"title": "Mine"}, headers=team.agent).status_code == 403
    taken = team.post("/api/views", json=URGENT, headers=team.admin)
    assert taken.status_code == 409 and "PUT /api/views/urgent" in taken.json()["detail"]

    ticket_id = web_ticket(team)
    replaced = _write(team, {"title": "  New tickets  ", "filters": {"status": "new"}, "position": 5}, 200, "urgent")
    assert (replaced["title"], replaced["filters"], replaced["count"], replaced["position"]) == (
        "New tickets",
        {"status": "new"},
        1,
        5,
    )
    assert replaced["created_at"] == created["created_at"] and replaced["updated_at"] > created["updated_at"]
    assert _opened(team, "urgent") == [ticket_id]

    off = _write(team, {"title": "New tickets", "filters": {"status": "new"}, "active": False}, 200, "urgent")
    assert off["active"] is False
    _write(team, BILLING_LATE)
    assert [v["view_id"] for v in team.get("/api/views", params={"active": True}, headers=team.agent).json()] == [
        "billing-late"
    ]
    assert [v["view_id"] for v in team.get("/api/views", params={"active": False}, headers=team.agent).json()] == [
        "urgent"
    ]
    assert _opened(team, "urgent") == [ticket_id]  # kept, and still readable

    for method, path in (("GET", "/api/views/nope"), ("GET", "/api/views/nope/tickets")):
        missing = team.request(method, path, headers=team.agent)
        assert missing.status_code == 404 and "view 'nope' not found" in missing.json()["detail"]
    assert team.put("/api/views/nope", json={"title": "x"}, headers=team.admin).status_code == 404


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ({"title": "x", "filters": {"stauts": "open"}}, "stauts"),  # a typo would list every ticket
        ({"title": "x", "filters": {"limit": 10}}, "limit"),  # the page is the reader's
        ({"title": "x", "filters": {"overdue": "true"}}, "overdue"),  # a query string's spelling
        ({"title": "x", "filters": {"assigned": 0}}, "assigned"),
        ({"title": "x", "filters": {"due_within_minutes": "30"}}, "due_within_minutes"),
        ({"title": "x", "filters": {"due_within_minutes": 0}}, "due_within_minutes"),
        ({"title": "x", "filters": {"status": "opened"}}, "status"),
        ({"title": "x", "filters": {"sort": "priority"}}, "sort"),
        ({"title": "x", "filters": {"tag": "two words"}}, "tag"),
        ({"title": "x", "filters": []}, "filters"),
        ({"title": "   "}, "title"),
        ({"title": "x", "position": -1}, "position"),
        ({"title": "x", "position": 2.5}, "position"),
        ({"title": "x", "position": "1"}, "position"),
        ({"title": "x", "active": "yes"}, "active"),
        ({"filters": {}}, "title"),
    ],
)
def test_a_view_the_list_would_not_take_is_refused_naming_the_field(team, body: dict[str, Any], says: str) -> None:  # type: ignore[no-untyped-def]
    response = team.post("/api/views", json=body, headers=team.admin)
    assert response.status_code == 422 and says in response.json()["detail"], response.text
    assert team.get("/api/views", headers=team.agent).json() == []


def test_a_view_takes_the_typed_forms_and_an_agent_who_exists(team) -> None:  # type: ignore[no-untyped-def]
    kept = _write(team, {"title": "Soon", "filters": {"due_within_minutes": 30.0, "overdue": None}, "position": 2.0})
    assert (kept["filters"], kept["position"]) == ({"due_within_minutes": 30}, 2)  # null: not given
    unknown = team.post("/api/views", json={"title": "Hers", "filters": {"assigned_to": "AG-9"}}, headers=team.admin)
    assert unknown.status_code == 404 and "agent 'AG-9' not found" in unknown.json()["detail"]
    team.post("/api/agents", json={"agent_id": "AG-9", "name": "Gone", "active": False}, headers=team.admin)
    hers = _write(team, {"title": "Hers", "filters": {"assigned_to": "AG-9", "tag": "VIP"}})  # left: still hers
    assert (hers["filters"], hers["query"]) == ({"assigned_to": "AG-9", "tag": "vip"}, "assigned_to=AG-9&tag=vip")
    assert hers["count"] == 0
    retyped = team.put("/api/views/" + hers["view_id"], json={"title": "Hers", "filters": {"assigned_to": "AG-8"}},
                       headers=team.admin)  # fmt: skip
    assert retyped.status_code == 404 and "agent 'AG-8' not found" in retyped.json()["detail"]
    assert team.get("/api/views/" + hers["view_id"], headers=team.agent).json()["filters"]["assigned_to"] == "AG-9"


@pytest.mark.parametrize("rows", [search.ROW_SCAN_TICKETS, 0], ids=["read", "collected"])
def test_a_search_and_a_tag_are_counted_as_listed(team, monkeypatch, rows: int) -> None:  # type: ignore[no-untyped-def]
    """Counted whether the search reads the other filters' tickets row by row or collects them by index."""
    monkeypatch.setattr(search, "ROW_SCAN_TICKETS", rows)
    kettle = web_ticket(team, subject="Refund for the kettle", description="It leaks.")
    refund = web_ticket(team, subject="Where is my refund?", description="Ordered a kettle last week.")
    web_ticket(team, subject="Parcel late", description="No news.")
    for ticket_id in (kettle, refund):
        assert team.post(f"/api/tickets/{ticket_id}/tags", json={"add": ["kitchen"]}, headers=team.agent).is_success
    searched = _write(team, {"title": "Kettles", "filters": {"q": "KETTLE refund", "sort": "oldest"}})
    assert searched["count"] == 2 and _opened(team, searched["view_id"]) == [kettle, refund]
    tagged = _write(team, {"title": "Kitchen leaks", "filters": {"tag": "kitchen", "q": "leaks"}})
    assert tagged["count"] == 1 and _opened(team, tagged["view_id"]) == [kettle]
    assert _write(team, {"title": "Kitchen", "filters": {"tag": "kitchen"}})["count"] == 2


def test_a_view_whose_stored_filters_this_version_no_longer_takes_says_so(team, session_factory) -> None:  # type: ignore[no-untyped-def]
    """As after an upgrade that renamed a filter: a 409 naming the filter and the PUT, not a 500."""
    _write(team, URGENT)
    with session_factory() as session:
        session.execute(sa.update(View).values(filters={"priority": "critical", "escalated": True}))
        session.commit()
    _write(team, {"view_id": "everything", "title": "Everything", "filters": {}})  # a healthy one beside it
    web_ticket(team, subject="One ticket")
    for path in ("/api/views/urgent", "/api/views/urgent/tickets"):
        stale = team.get(path, headers=team.agent)
        assert stale.status_code == 409, (path, stale.text)
        assert "escalated" in stale.json()["detail"] and "PUT /api/views/urgent" in stale.json()["detail"]
    # the list, counted or not, shows it with its problem and no count, and still counts the others
    for counts in (True, False):
        listed = team.get("/api/views", params={"counts": counts}, headers=team.agent)
        assert listed.status_code == 200, listed.text
        by_id = {v["view_id"]: v for v in listed.json()}
        stale_view, healthy = by_id["urgent"], by_id["everything"]
        assert stale_view["filters"] == {"priority": "critical", "escalated": True} and stale_view["count"] is None
        assert "escalated" in stale_view["problem"] and "PUT /api/views/urgent" in stale_view["problem"]
        assert (healthy["problem"], healthy["count"]) == (None, 1 if counts else None)
    rewritten = {key: value for key, value in URGENT.items() if key != "view_id"}
    assert _write(team, rewritten, 200, "urgent")["count"] == 0
