"""The rotation's settings on the agents' API, on SQLite and PostgreSQL: written, shown with each agent's load,
recorded in the agent's history, refused with a 422 that names the field; a ticket's wait shown on it."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from gateway.sweeper import sweep_once
from shared.config import Settings
from tests.conftest import force_ticket


def _ticket(api) -> str:  # type: ignore[no-untyped-def]
    body = {"customer_email": "x@example.com", "subject": "Charged twice", "description": "Please refund one."}
    response = api.post("/api/tickets/create", json=body)
    assert response.status_code == 201, response.text
    return response.json()["ticket"]["ticket_id"]


def _waiting(api) -> tuple[list[str], list[str], int, str | None]:  # type: ignore[no-untyped-def]
    """The tickets waiting for the rotation, the others, and the overview's count and oldest wait."""

    def listed(value: bool) -> list[str]:
        response = api.get("/api/tickets/", params={"awaiting_assignment": value, "sort": "oldest"})
        assert response.status_code == 200, response.text
        return [t["ticket_id"] for t in response.json()]

    overview = api.get("/api/overview").json()
    return listed(True), listed(False), overview["awaiting_assignment"], overview["oldest_awaiting_assignment_since"]


def test_an_agent_joins_the_rotation_and_is_shown_with_their_load(api, db_url, session_factory):  # type: ignore[no-untyped-def]
    created = api.post("/api/agents", json={"agent_id": "AG-1", "name": "Ann", "auto_assign": True, "max_open": 2})
    assert created.status_code == 201, created.text
    ann = created.json()
    assert (ann["auto_assign"], ann["categories"], ann["max_open"], ann["open_tickets"]) == (True, None, 2, 0)
    assert ann["last_routed_at"] is None
    bo = api.post("/api/agents", json={"agent_id": "AG-2", "name": "Bo"}).json()
    assert (bo["auto_assign"], bo["categories"], bo["max_open"]) == (False, None, None)

    changed = api.patch("/api/agents/AG-2", json={"auto_assign": True, "categories": ["refund", "billing", "refund"]})
    assert changed.status_code == 200, changed.text
    assert changed.json()["categories"] == ["billing", "refund"]  # once each, in the categories' order
    history = api.get("/api/agents/AG-2/history").json()
    assert [(h["field"], h["old_value"], h["new_value"]) for h in history] == [
        ("auto_assign", "false", "true"),
        ("categories", None, "billing, refund"),
    ]
    whole = api.patch("/api/agents/AG-1", json={"max_open": 3.0})  # JSON Schema's integer: no fraction
    assert whole.status_code == 200 and whole.json()["max_open"] == 3, whole.text
    cleared = api.patch("/api/agents/AG-1", json={"max_open": None, "categories": ["shipping"]}).json()
    assert (cleared["max_open"], cleared["categories"]) == (None, ["shipping"])
    in_rotation = api.get("/api/agents", params={"auto_assign": True}).json()
    assert [a["agent_id"] for a in in_rotation] == ["AG-1", "AG-2"]
    assert api.get("/api/agents", params={"auto_assign": False}).json() == []

    # a ticket classified as billing waits, shown on it, until the sweeper's pass assigns it to Bo
    ticket_id = _ticket(api)
    since = datetime(2026, 12, 6, 4, 0, tzinfo=UTC)
    force_ticket(db_url, ticket_id, category="billing", priority="medium", routing_requested_at=since)
    other = _ticket(api)  # not waiting: never classified
    stale = _ticket(api)  # assigned by a gateway from before the rotation, which left its mark: not waiting
    force_ticket(db_url, stale, category="billing", routing_requested_at=since, assigned_to="AG-1")
    waiting = api.get(f"/api/tickets/{ticket_id}").json()
    assert (waiting["assigned_to"], waiting["routing_requested_at"]) == (None, "2026-12-06T04:00:00Z")
    assert _waiting(api) == ([ticket_id], [other, stale], 1, "2026-12-06T04:00:00Z")
    alerting = Settings(alert_webhook_url="https://hooks.example.com/support", alert_on_auto_assign=True)
    assert sweep_once(session_factory, alerting).assigned == (ticket_id,)
    (alert,) = api.get("/api/alerts").json()  # the sweeper's pass writes the assignment's alert with its settings
    assert (alert["ticket_id"], alert["event"], alert["priority"]) == (ticket_id, "ticket.assigned", "medium")
    assert _waiting(api) == ([], [ticket_id, other, stale], 0, None)
    assigned = api.get(f"/api/tickets/{ticket_id}").json()
    assert (assigned["assigned_to"], assigned["routing_requested_at"]) == ("AG-2", None)
    (bo,) = [a for a in api.get("/api/agents").json() if a["agent_id"] == "AG-2"]
    assert bo["open_tickets"] == 1 and bo["last_routed_at"] is not None
    assert api.get("/api/agents/AG-1").json()["open_tickets"] == 1  # the one assigned by hand
    history = api.get(f"/api/tickets/{ticket_id}/history").json()
    assert [(h["field"], h["new_value"], h["actor"]) for h in history] == [
        ("assigned_to", "AG-2", "system:auto-assign")
    ]


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ({"categories": []}, "categories"),
        ({"categories": ["refunds"]}, "categories"),
        ({"categories": "billing"}, "categories"),
        ({"max_open": 0}, "max_open"),
        ({"max_open": "3"}, "max_open"),
        ({"max_open": 2.5}, "max_open"),
        ({"max_open": True}, "max_open"),
        ({"auto_assign": None}, "must not be null"),
        ({"auto_assign": "yes"}, "auto_assign"),
    ],
)
def test_a_rotation_setting_that_is_not_one_is_refused(api, body, says) -> None:  # type: ignore[no-untyped-def]
    assert api.post("/api/agents", json={"agent_id": "AG-1", "name": "Ann"}).status_code == 201
    response = api.patch("/api/agents/AG-1", json=body)
    assert response.status_code == 422 and says in response.json()["detail"], (body, response.text)
    if body != {"auto_assign": None}:  # creating leaves out what is null there
        created = api.post("/api/agents", json={"agent_id": "AG-2", "name": "Bo", **body})
        assert created.status_code == 422 and says in created.json()["detail"], (body, created.text)
    assert api.get("/api/agents/AG-1").json()["auto_assign"] is False


def test_an_agents_tickets_are_released_to_the_rotation(api, db_url):  # type: ignore[no-untyped-def]
    for body in (
        {"agent_id": "AG-LEAVING", "name": "Lee", "auto_assign": True},
        {"agent_id": "AG-BILL", "name": "Bo", "auto_assign": True, "categories": ["billing"], "max_open": 1},
    ):
        assert api.post("/api/agents", json=body).status_code == 201
    billing, shipping, pending, vendor, resolved, other = (_ticket(api) for _ in range(6))
    for ticket_id, values in (
        (billing, {"category": "billing", "status": "open"}),
        (shipping, {"category": "shipping", "status": "new"}),
        (pending, {"category": "billing", "status": "pending"}),
        (vendor, {"category": "billing", "status": "open", "source": "zendesk"}),
        (resolved, {"category": "billing", "status": "resolved"}),
        (other, {"category": "billing", "status": "open", "assigned_to": "AG-BILL"}),
    ):
        force_ticket(db_url, ticket_id, **{"assigned_to": "AG-LEAVING", **values})

    refused = api.post("/api/agents/AG-LEAVING/release")
    assert refused.status_code == 409 and '{"auto_assign": false}' in refused.json()["detail"], refused.text
    assert api.post("/api/agents/AG-NOBODY/release").status_code == 404
    assert api.patch("/api/agents/AG-LEAVING", json={"auto_assign": False}).status_code == 200
    assert api.patch("/api/agents/AG-BILL", json={"max_open": 2}).status_code == 200  # room for one more

    released = api.post("/api/agents/AG-LEAVING/release")
    assert released.status_code == 200, released.text
    answer = released.json()
    assert (answer["agent_id"], answer["released"]) == ("AG-LEAVING", 3)
    assert [(r["ticket_id"], r["status"], r["assigned_to"], r["awaiting_assignment"]) for r in answer["results"]] == [
        (billing, "open", "AG-BILL", False),
        (shipping, "new", None, True),  # nobody in the rotation takes shipping
        (vendor, "open", None, False),  # assigned in Zendesk: unassigned only
    ]
    history = api.get(f"/api/tickets/{billing}/history").json()
    assert [(h["old_value"], h["new_value"], h["actor"]) for h in history if h["field"] == "assigned_to"] == [
        ("AG-LEAVING", None, "anonymous"),  # the caller (auth is off here)
        (None, "AG-BILL", "system:auto-assign"),
    ]
    assert {t: api.get(f"/api/tickets/{t}").json()["assigned_to"] for t in (pending, resolved)} == {
        pending: "AG-LEAVING",
        resolved: "AG-LEAVING",
    }
    with_pending = api.post("/api/agents/AG-LEAVING/release", json={"include_pending": True}).json()
    assert [(r["ticket_id"], r["assigned_to"], r["awaiting_assignment"]) for r in with_pending["results"]] == [
        (pending, None, False)  # the rotation takes only open work
    ]
    assert api.post("/api/agents/AG-LEAVING/release").json()["released"] == 0
    bad = api.post("/api/agents/AG-LEAVING/release", json={"include_pending": "yes"})
    assert bad.status_code == 422 and "include_pending" in bad.json()["detail"]


def test_a_ticket_reassigned_while_its_agent_is_released_stays_reassigned(  # type: ignore[no-untyped-def]
    api, db_url, session_factory, monkeypatch
) -> None:
    from gateway.services import release
    from gateway.services.tickets import assign_ticket

    for agent_id in ("AG-LEAVING", "AG-OTHER"):
        assert api.post("/api/agents", json={"agent_id": agent_id, "name": agent_id}).status_code == 201
    taken, left = _ticket(api), _ticket(api)
    for ticket_id in (taken, left):
        force_ticket(db_url, ticket_id, assigned_to="AG-LEAVING", category="billing")
    rotation = release.in_rotation

    def reassign_then_read(session):  # type: ignore[no-untyped-def]
        with session_factory() as other:  # after the release read the agent's tickets, before it claims them
            assign_ticket(other, taken, "AG-OTHER")
        return rotation(session)

    monkeypatch.setattr(release, "in_rotation", reassign_then_read)
    answer = api.post("/api/agents/AG-LEAVING/release").json()
    assert [(r["ticket_id"], r["assigned_to"]) for r in answer["results"]] == [(left, None)]
    assert api.get(f"/api/tickets/{taken}").json()["assigned_to"] == "AG-OTHER"
