"""One change made to many tickets (`POST /api/tickets/bulk`) on SQLite and PostgreSQL: each ticket changed as
its own requests would change it, answering for itself, the others going on."""

from __future__ import annotations

from typing import Any

import pytest

from shared.models import StatusDelivery
from shared.schemas import MAX_BULK_TICKETS
from shared.tags import MAX_TICKET_TAGS
from tests.gateway.conftest import keyed, stored, web_ticket
from tests.gateway.test_tags import _tag, _tag_history

BULK = "/api/tickets/bulk"


@pytest.fixture
def team(client_for, db_url, redis_client, session_factory):  # type: ignore[no-untyped-def]
    """An agent (`alice`), an admin, and two agents to assign: AG-1 active, AG-2 inactive."""
    api = keyed(client_for(db_url, auth_disabled=False), session_factory)
    api.actor = api.actors["alice"]
    for agent_id in ("AG-1", "AG-2"):
        created = api.post("/api/agents", json={"agent_id": agent_id, "name": agent_id}, headers=api.admin)
        assert created.status_code == 201, created.text
    assert api.patch("/api/agents/AG-2", json={"active": False}, headers=api.admin).status_code == 200
    return api


def _bulk(api, **body: Any):  # type: ignore[no-untyped-def]
    return api.post(BULK, json=body, headers=api.agent)


def _ticket(api, ticket_id: str) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    return api.get(f"/api/tickets/{ticket_id}", headers=api.agent).json()


def _history(api, ticket_id: str, field: str) -> list[tuple[str | None, str | None, str]]:  # type: ignore[no-untyped-def]
    history = api.get(f"/api/tickets/{ticket_id}/history", headers=api.agent).json()
    return [(h["old_value"], h["new_value"], h["actor"]) for h in history if h["field"] == field]


def test_one_change_made_to_many_tickets_each_answering_for_itself(team) -> None:  # type: ignore[no-untyped-def]
    ids = [web_ticket(team) for _ in range(3)]
    answer = _bulk(
        team,
        ticket_ids=[ids[0], "TKT-NOPE", ids[1], ids[2]],
        status="in_progress",
        assign={"agent_id": "AG-1"},
        tags={"add": ["Outage_2026_12"]},
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["updated"], body["failed"]) == (3, 1)
    assert [r["ticket_id"] for r in body["results"]] == [ids[0], "TKT-NOPE", ids[1], ids[2]]  # in the order given
    missing = body["results"][1]
    assert missing == {
        "ticket_id": "TKT-NOPE",
        "ok": False,
        "applied": [],
        "status_code": 404,
        "detail": "ticket 'TKT-NOPE' not found",
        "ticket": None,
    }
    for result in body["results"][:1] + body["results"][2:]:
        assert (result["ok"], result["applied"], result["status_code"], result["detail"]) == (
            True,
            ["status", "assign", "tags"],
            200,
            None,
        )
        shown = result["ticket"]
        assert (shown["status"], shown["assigned_to"], shown["tags"]) == ("in_progress", "AG-1", ["outage_2026_12"])
        assert shown == _ticket(team, result["ticket_id"])  # the ticket as it now is
        # Each change is in the ticket's history, by the caller, as its own request would leave it.
        assert _history(team, result["ticket_id"], "status") == [("new", "in_progress", team.actor)]
        assert _history(team, result["ticket_id"], "assigned_to") == [(None, "AG-1", team.actor)]
        assert _tag_history(team, result["ticket_id"]) == [(None, "outage_2026_12", team.actor)]

    # Again: nothing left to change; still ok, and nothing more in the history.
    again = _bulk(team, ticket_ids=ids, status="in_progress", tags={"add": ["outage_2026_12"]})
    assert [(r["ok"], r["applied"]) for r in again.json()["results"]] == [(True, ["status", "tags"])] * 3
    assert _history(team, ids[0], "status") == [("new", "in_progress", team.actor)]
    assert len(_tag_history(team, ids[0])) == 1

    unassigned = _bulk(team, ticket_ids=ids[:2], assign={"agent_id": None})
    assert unassigned.json()["updated"] == 2
    assert [_ticket(team, t)["assigned_to"] for t in ids] == [None, None, "AG-1"]


def test_a_ticket_that_refuses_a_change_goes_no_further_and_says_what_was_made(team) -> None:  # type: ignore[no-untyped-def]
    closed, full, fresh = (web_ticket(team) for _ in range(3))
    for status in ("open", "resolved", "closed"):
        moved = team.put(f"/api/tickets/{closed}/status", json={"status": status}, headers=team.agent)
        assert moved.status_code == 200, moved.text
    for start in range(0, MAX_TICKET_TAGS, 20):
        batch = [f"t{i:02d}" for i in range(start, min(start + 20, MAX_TICKET_TAGS))]
        assert _tag(team, full, add=batch).status_code == 200

    answer = _bulk(team, ticket_ids=[closed, full, fresh], status="open", tags={"add": ["escalated"]})
    assert answer.status_code == 200, answer.text
    results = {r["ticket_id"]: r for r in answer.json()["results"]}
    assert answer.json()["updated"] == 1 and answer.json()["failed"] == 2
    # The closed ticket's workflow refuses the move: nothing is made, not even the tags.
    assert (results[closed]["status_code"], results[closed]["applied"]) == (409, [])
    assert "cannot change status from 'closed' to 'open'" in results[closed]["detail"]
    assert results[closed]["ticket"]["status"] == "closed" and results[closed]["ticket"]["tags"] == []
    # The full one moves, then cannot take the tag: the move stays made, and says so.
    assert (results[full]["status_code"], results[full]["applied"]) == (409, ["status"])
    assert f"would carry {MAX_TICKET_TAGS + 1} tags" in results[full]["detail"]
    assert results[full]["ticket"]["status"] == "open" and "escalated" not in results[full]["ticket"]["tags"]
    assert (results[fresh]["ok"], results[fresh]["ticket"]["tags"]) == (True, ["escalated"])


def test_an_assignee_no_ticket_could_take_refuses_the_whole_request(team) -> None:  # type: ignore[no-untyped-def]
    ticket_id = web_ticket(team)
    for agent_id, code, says in (
        ("AG-9", 404, "agent 'AG-9' not found"),
        ("AG-2", 409, "agent 'AG-2' is inactive"),
    ):
        refused = _bulk(team, ticket_ids=[ticket_id], status="open", assign={"agent_id": agent_id})
        assert refused.status_code == code, refused.text
        assert says in refused.json()["detail"]
    assert _ticket(team, ticket_id)["status"] == "new"  # no ticket was changed
    assert _history(team, ticket_id, "status") == []


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ({"ticket_ids": [], "status": "open"}, "ticket_ids"),
        ({"ticket_ids": ["T"] * 2, "status": "open"}, "'T' is given twice"),
        ({"ticket_ids": [f"T{i}" for i in range(MAX_BULK_TICKETS + 1)], "status": "open"}, "at most 100"),
        ({"ticket_ids": ["T"]}, "give a change to make"),
        ({"ticket_ids": ["T"], "status": None, "tags": None}, "give a change to make"),
        ({"ticket_ids": ["T 1"], "status": "open"}, "ticket_ids"),
        ({"ticket_ids": ["T"], "status": "done"}, "status"),
        ({"ticket_ids": ["T"], "assign": {}}, "agent_id"),
        ({"ticket_ids": ["T"], "tags": {"add": ["-x"]}}, "tags.add"),
        ({"ticket_ids": ["T"], "tags": {}}, "give a tag to add or to remove"),
        ({"ticket_ids": ["T"], "status": "open", "priority": "high"}, "priority"),
        ({"ticket_ids": "T", "status": "open"}, "ticket_ids"),
    ],
)
def test_what_is_not_a_bulk_change_gets_422_saying_why(team, body: dict, says: str) -> None:  # type: ignore[no-untyped-def]
    refused = team.post(BULK, json=body, headers=team.agent)
    assert refused.status_code == 422, refused.text
    assert says in str(refused.json()["detail"])


def test_a_bulk_resolve_is_owed_to_each_web_tickets_backend(channel, session_factory) -> None:  # type: ignore[no-untyped-def]
    api, _settings = channel
    ids = [web_ticket(api) for _ in range(2)]
    assert api.post(BULK, json={"ticket_ids": ids, "status": "open"}).json()["updated"] == 2
    assert stored(session_factory, StatusDelivery, StatusDelivery.created_at) == []  # not one of the sent statuses
    assert api.post(BULK, json={"ticket_ids": ids, "status": "resolved"}).json()["updated"] == 2
    rows = stored(session_factory, StatusDelivery, StatusDelivery.created_at)
    assert sorted((r.ticket_id, r.previous_status, r.status) for r in rows) == sorted(
        (t, "open", "resolved") for t in ids
    )


def test_the_documented_body_says_what_is_refused(team) -> None:  # type: ignore[no-untyped-def]
    """The fuzz found an id given twice valid by the document and refused by the route: the document says it."""
    schema = team.get("/openapi.json").json()["components"]["schemas"]["BulkUpdate"]
    ids = schema["properties"]["ticket_ids"]
    assert (ids["uniqueItems"], ids["minItems"], ids["maxItems"]) == (True, 1, MAX_BULK_TICKETS)
    assert [set(branch["required"]) for branch in schema["anyOf"]] == [{"status"}, {"assign"}, {"tags"}]
