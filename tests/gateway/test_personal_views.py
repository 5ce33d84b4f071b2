"""Personal views (`personal: true`, migration 0043) on SQLite and PostgreSQL: any agent whose key is linked to an
agent saves views of their own, listed after the team's; to every other caller, admins included, such a view
does not exist (404 to open, count, export, write, delete or make a bulk job from), and the team's views stay
an admin's to write and are turned off, not deleted."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.services import views
from shared.auth import Role, create_key
from tests.conftest import force_ticket
from tests.gateway.conftest import web_ticket

TEAM_VIEW = {"view_id": "new", "title": "New tickets", "filters": {"status": "new"}}
MINE = {"view_id": "ann-billing", "title": "My billing, oldest first", "personal": True}


@pytest.fixture
def team(client_for, db_url, redis_client, session_factory):  # type: ignore[no-untyped-def]
    """Agents ALICE and BOB with agent keys linked to them (`api.alice`, `api.bob`), an unlinked agent key
    (`api.shared`), an unlinked admin (`api.admin`) and the web form's integration key (the default)."""
    api = client_for(db_url, auth_disabled=False)
    with session_factory() as session:
        api.admin = {"X-API-Key": create_key(session, name="boss", role=Role.admin)[1]}
        api.headers["X-API-Key"] = create_key(session, name="webform", role=Role.integration)[1]
        api.shared = {"X-API-Key": create_key(session, name="front-desk", role=Role.agent)[1]}
    for agent_id in ("ALICE", "BOB"):
        assert (
            api.post("/api/agents", json={"agent_id": agent_id, "name": agent_id}, headers=api.admin).status_code == 201
        )
        body = {"name": f"{agent_id.lower()}-laptop", "role": "agent", "agent_id": agent_id}
        made = api.post("/api/keys", json=body, headers=api.admin)
        assert made.status_code == 201, made.text
        setattr(api, agent_id.lower(), {"X-API-Key": made.json()["key"]})
    return api


def _made(api, headers: dict[str, str], body: dict[str, Any], expected: int = 201) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    response = api.post("/api/views", json=body, headers=headers)
    assert response.status_code == expected, response.text
    return response.json()


def _listed(api, headers: dict[str, str], **params: Any) -> list[tuple[str, bool, str | None]]:  # type: ignore[no-untyped-def]
    response = api.get("/api/views", params=params, headers=headers)
    assert response.status_code == 200, response.text
    return [(v["view_id"], v["personal"], v["owner"]) for v in response.json()]


def test_an_agents_own_view_is_theirs_alone_to_list_open_write_and_delete(team, db_url) -> None:  # type: ignore[no-untyped-def]
    billing_old, billing_new, shipping = (web_ticket(team, subject=f"Ticket {n}") for n in range(3))
    for ticket_id, category in ((billing_old, "billing"), (billing_new, "billing"), (shipping, "shipping")):
        force_ticket(db_url, ticket_id, category=category)
    _made(team, team.admin, TEAM_VIEW)
    mine = _made(team, team.alice, {**MINE, "filters": {"category": "billing", "sort": "oldest"}, "position": 0})
    assert (mine["personal"], mine["owner"], mine["count"], mine["query"]) == (
        True,
        "ALICE",
        2,
        "category=billing&sort=oldest",
    )
    team_view = team.get("/api/views/new", headers=team.alice).json()
    assert (team_view["personal"], team_view["owner"]) == (False, None)

    # listed after the team's views for her, filtered by `personal`; nobody else sees it
    assert _listed(team, team.alice) == [("new", False, None), ("ann-billing", True, "ALICE")]
    assert _listed(team, team.alice, personal=True) == [("ann-billing", True, "ALICE")]
    assert _listed(team, team.alice, personal=False) == [("new", False, None)]
    for other in (team.bob, team.shared, team.admin):
        assert _listed(team, other) == [("new", False, None)]
        assert _listed(team, other, personal=True) == []
    counted = team.get("/api/views", params={"counts": True}, headers=team.alice).json()
    assert [(v["view_id"], v["count"]) for v in counted] == [("new", 3), ("ann-billing", 2)]

    # opened as the list lists it, for her only; to anyone else, admins included, it is not there
    opened = team.get("/api/views/ann-billing/tickets", headers=team.alice)
    assert [t["ticket_id"] for t in opened.json()] == [billing_old, billing_new]
    alice_admin = _linked_admin(team)
    assert team.get("/api/views/ann-billing/export", headers=alice_admin).status_code == 200
    not_hers = (
        ("get", "/api/views/ann-billing", team.bob, None),
        ("get", "/api/views/ann-billing/tickets", team.bob, None),
        ("get", "/api/views/ann-billing", team.admin, None),
        ("get", "/api/views/ann-billing/export", team.admin, None),
        ("put", "/api/views/ann-billing", team.bob, {"title": "Taken"}),
        ("put", "/api/views/ann-billing", team.admin, {"title": "Taken"}),
        ("delete", "/api/views/ann-billing", team.bob, None),
        ("delete", "/api/views/ann-billing", team.admin, None),
        ("post", "/api/bulk-jobs", team.bob, {"view_id": "ann-billing", "status": "pending"}),
    )
    for method, path, headers, body in not_hers:
        response = team.request(method, path, json=body, headers=headers)
        assert response.status_code == 404, (method, path, response.text)
        assert response.json()["detail"] == "view 'ann-billing' not found"

    # she rewrites it (the team's view stays an admin's); it keeps its owner
    renamed = team.put("/api/views/ann-billing", json={"title": "Billing", "filters": {"category": "shipping"}},
                       headers=team.alice)  # fmt: skip
    assert renamed.status_code == 200, renamed.text
    assert (renamed.json()["title"], renamed.json()["owner"], renamed.json()["count"]) == ("Billing", "ALICE", 1)
    refused = team.put("/api/views/new", json={"title": "Mine now"}, headers=team.alice)
    assert refused.status_code == 403 and "`personal: true`" in refused.json()["detail"]

    # and deletes it; the team's views are turned off instead
    assert team.delete("/api/views/ann-billing", headers=team.alice).status_code == 204
    assert team.get("/api/views/ann-billing", headers=team.alice).status_code == 404
    assert team.delete("/api/views/ann-billing", headers=team.alice).status_code == 404
    kept = team.delete("/api/views/new", headers=team.admin)
    assert kept.status_code == 409 and "`active: false`" in kept.json()["detail"]
    assert team.get("/api/views/new", headers=team.alice).status_code == 200


def _linked_admin(api) -> dict[str, str]:  # type: ignore[no-untyped-def]
    """An admin key linked to ALICE: exports need a manager, and her view is hers whatever her key's role."""
    made = api.post("/api/keys", json={"name": "alice-admin", "role": "admin", "agent_id": "ALICE"}, headers=api.admin)
    assert made.status_code == 201, made.text
    return {"X-API-Key": made.json()["key"]}


def test_a_personal_view_needs_an_agent_and_the_teams_need_an_admin(team) -> None:  # type: ignore[no-untyped-def]
    for headers, name in ((team.shared, "front-desk"), (team.admin, "boss")):
        nobody = _made(team, headers, MINE, 403)
        assert f"key '{name}' is linked to none" in nobody["detail"] and "/api/keys" in nobody["detail"]
    teams = _made(team, team.alice, TEAM_VIEW, 403)
    assert teams["detail"] == "only an admin writes the team's views; `personal: true` saves a view of your own"
    assert _made(team, team.alice, {**MINE, "personal": "yes"}, 422)["detail"].startswith("personal:")
    assert _listed(team, team.admin) == []

    # `me` in her view means whoever owns it, which is her
    own = _made(team, team.alice, {**MINE, "filters": {"assigned_to": "me"}})
    ticket_id = web_ticket(team)
    assert (
        team.put(f"/api/tickets/{ticket_id}/assign", json={"agent_id": "ALICE"}, headers=team.admin).status_code == 200
    )
    assert own["count"] == 0
    assert team.get("/api/views/ann-billing", headers=team.alice).json()["count"] == 1


def test_an_agent_keeps_at_most_the_bound_of_personal_views(team, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(views, "MAX_PERSONAL_VIEWS", 2)
    for n in range(2):
        _made(team, team.alice, {"view_id": f"a{n}", "title": f"Mine {n}", "personal": True})
    full = _made(team, team.alice, {"view_id": "a2", "title": "One more", "personal": True}, 409)
    assert full["detail"] == "agent 'ALICE' has 2 personal views, the most kept; DELETE /api/views/{view_id} one first"
    _made(team, team.bob, {"view_id": "b0", "title": "His", "personal": True})  # each agent has their own room
    _made(team, team.admin, TEAM_VIEW)  # the team's views are not counted
    assert team.delete("/api/views/a0", headers=team.alice).status_code == 204
    _made(team, team.alice, {"view_id": "a2", "title": "One more", "personal": True})
    assert [v for v, *_ in _listed(team, team.alice)] == ["new", "a1", "a2"]
