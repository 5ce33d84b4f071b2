"""VIEW_COUNTS_MAX_AGE_S (`gateway.services.view_counts`) on SQLite and PostgreSQL: the view list's counts are
kept for their age and say when they were made; the single view, and a view edited since, count now; each
agent's `me` view is counted for them; 0 counts at every request."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest

from gateway.services import view_counts
from shared.auth import Role, create_key
from shared.schemas import TicketFilters, ViewFilters
from tests.gateway.conftest import web_ticket

AGE = 60.0


@pytest.fixture(autouse=True)
def empty_cache() -> Iterator[None]:
    """Counts are kept per process: no test reads another's (PostgreSQL's URL is the same in each)."""
    view_counts._counts.clear()
    yield
    view_counts._counts.clear()


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The cache's monotonic clock, moved by the test: `clock[0] += AGE`."""
    now = [1_000.0]
    monkeypatch.setattr(view_counts, "monotonic", lambda: now[0])
    return now


@pytest.fixture
def desk(client_for, db_url, redis_client, session_factory):  # type: ignore[no-untyped-def]
    """A gateway keeping counts AGE seconds: the web form's key (default), an admin (`desk.admin`), and
    agents Ann and Bo with keys linked to them (`desk.ann`, `desk.bo`)."""
    api = client_for(db_url, auth_disabled=False, view_counts_max_age_s=AGE)
    with session_factory() as session:
        api.headers["X-API-Key"] = create_key(session, name="webform", role=Role.integration)[1]
        api.admin = {"X-API-Key": create_key(session, name="boss", role=Role.admin)[1]}
    for agent_id in ("ANN", "BO"):
        assert (
            api.post("/api/agents", json={"agent_id": agent_id, "name": agent_id}, headers=api.admin).status_code == 201
        )
        made = api.post("/api/keys", json={"name": agent_id, "role": "agent", "agent_id": agent_id}, headers=api.admin)
        assert made.status_code == 201, made.text
        setattr(api, agent_id.lower(), {"X-API-Key": made.json()["key"]})
    return api


def counted(api, headers: dict[str, str]) -> dict[str, tuple[int | None, datetime | None]]:  # type: ignore[no-untyped-def]
    """Each view's (count, count_as_of) in `GET /api/views?counts=true`."""
    response = api.get("/api/views", params={"counts": True}, headers=headers)
    assert response.status_code == 200, response.text
    return {v["view_id"]: (v["count"], _time(v["count_as_of"])) for v in response.json()}


def _time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def view(api, body: dict[str, Any], view_id: str | None = None) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    response = (
        api.put(f"/api/views/{view_id}", json=body, headers=api.admin)
        if view_id
        else api.post("/api/views", json=body, headers=api.admin)
    )
    assert response.status_code in (200, 201), response.text
    return response.json()  # type: ignore[no-any-return]


def test_the_lists_counts_are_kept_for_their_age_and_say_when(desk, db_url, clock) -> None:  # type: ignore[no-untyped-def]
    for _ in range(2):
        web_ticket(desk)
    made = view(desk, {"view_id": "all", "title": "All"})
    assert made["count"] == 2 and _time(made["count_as_of"]) is not None  # made: counted now
    view(desk, {"view_id": "web", "title": "Web", "filters": {"source": "web"}})

    first = counted(desk, desk.ann)
    assert first["all"][0] == first["web"][0] == 2
    web_ticket(desk)
    clock[0] += AGE - 1
    kept = counted(desk, desk.bo)  # another agent, the same filters: the same kept counts
    assert kept == first

    one = desk.get("/api/views/all", headers=desk.ann).json()  # the single view counts now
    assert one["count"] == 3 and _time(one["count_as_of"]) > first["all"][1]  # type: ignore[operator]
    assert len(desk.get("/api/views/all/tickets", headers=desk.ann).json()) == 3  # and opening it lists now

    # an edited view's filters are new: counted now, while the untouched one keeps its count
    view(desk, {"title": "Web, unassigned", "filters": {"source": "web", "assigned": False}}, "web")
    edited = counted(desk, desk.ann)
    assert edited["web"][0] == 3 and edited["web"][1] > first["web"][1]  # type: ignore[operator]
    assert edited["all"] == first["all"]

    clock[0] += 1  # AGE since the first count: made again
    again = counted(desk, desk.ann)
    assert again["all"][0] == 3 and again["all"][1] > first["all"][1]  # type: ignore[operator]
    assert again["web"] == edited["web"]  # younger: still kept


def test_each_agents_me_view_is_counted_for_them(desk, db_url, clock) -> None:  # type: ignore[no-untyped-def]
    tickets = [web_ticket(desk) for _ in range(3)]
    for ticket_id, agent_id in zip(tickets, ("ANN", "ANN", "BO"), strict=True):
        assigned = desk.put(f"/api/tickets/{ticket_id}/assign", json={"agent_id": agent_id}, headers=desk.admin)
        assert assigned.status_code == 200, assigned.text
    view(desk, {"view_id": "mine", "title": "My tickets", "filters": {"assigned_to": "me"}})
    assert counted(desk, desk.ann)["mine"][0] == 2
    assert counted(desk, desk.bo)["mine"][0] == 1
    assert {key[1] for key in view_counts._counts} >= {
        ViewFilters(assigned_to="ANN").model_dump_json(),
        ViewFilters(assigned_to="BO").model_dump_json(),
    }  # kept by the filters with `me` read as each caller's agent
    desk.put(f"/api/tickets/{tickets[2]}/assign", json={"agent_id": "ANN"}, headers=desk.admin)
    assert counted(desk, desk.ann)["mine"][0] == 2 and counted(desk, desk.bo)["mine"][0] == 1  # kept
    clock[0] += AGE
    assert counted(desk, desk.ann)["mine"][0] == 3 and counted(desk, desk.bo)["mine"][0] == 0


def test_at_zero_every_request_counts(client_for, db_url, redis_client, clock) -> None:  # type: ignore[no-untyped-def]
    api = client_for(db_url)  # the default: 0
    assert api.post("/api/views", json={"view_id": "all", "title": "All"}).status_code == 201
    before = api.get("/api/views", params={"counts": True}).json()[0]
    web_ticket(api)
    after = api.get("/api/views", params={"counts": True}).json()[0]
    assert (before["count"], after["count"]) == (0, 1)
    assert _time(after["count_as_of"]) > _time(before["count_as_of"])  # type: ignore[operator]
    assert view_counts._counts == {}
    assert api.get("/api/views").json()[0]["count_as_of"] is None  # not counted, no time


def test_the_kept_counts_are_bounded(db_url, session_factory, settings_for, clock, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Past MAX_ENTRIES the expired counts go first; if none has, all go."""
    monkeypatch.setattr(view_counts, "MAX_ENTRIES", 2)
    targets = settings_for(db_url).targets
    with session_factory() as session:

        def count(**filters: object) -> None:
            view_counts.recent_count(session, TicketFilters(**filters), targets, AGE)  # type: ignore[arg-type]

        count(source="web")
        clock[0] += AGE  # the first expires
        count(source="zendesk")
        count(source="intercom")  # full: the expired one is dropped
        assert sorted(key[1] for key in view_counts._counts) == sorted(
            TicketFilters(source=s).model_dump_json() for s in ("zendesk", "intercom")
        )
        count(source="api")  # full of live counts: all dropped, then this one kept
        assert [key[1] for key in view_counts._counts] == [TicketFilters(source="api").model_dump_json()]
