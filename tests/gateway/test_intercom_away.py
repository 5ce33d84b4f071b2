"""Intercom's teammate away mode (`admin.away_mode_updated`) made the agent's away here, on both databases:
matched by email, applied once, never over a later change, and refused with a 422 naming the field when the body
is not the documented shape."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from gateway.webhooks import sign_intercom
from tests.gateway.test_webhooks_api import FIXTURES, IC, IC_SECRET

SAMPLE = json.loads((FIXTURES / "intercom_admin_away_mode_updated.json").read_text())


@pytest.fixture
def team(client_for: Callable, db_url: str, redis_client):  # type: ignore[no-untyped-def]
    """A gateway checking Intercom's signature, and Dana, whose Intercom address differs only in letter case."""
    api = client_for(db_url, intercom_client_secret=IC_SECRET)
    for body in (
        {"agent_id": "DANA", "name": "Dana Reyes", "email": "dana.reyes@example.com"},
        {"agent_id": "ELI", "name": "Eli", "email": "eli@example.com"},
    ):
        assert api.post("/api/agents", json=body).status_code == 201
    return api


def notify(api, *, away: Any, at: datetime, email: Any = "Dana.Reyes@Example.com", **item: Any):  # type: ignore[no-untyped-def]
    body = json.loads(json.dumps(SAMPLE))
    body["created_at"] = int(at.timestamp())
    body["data"]["item"].update({"away_mode_enabled": away, "email": email, **item})
    raw = json.dumps(body).encode()
    headers = {"Content-Type": "application/json", "X-Hub-Signature": sign_intercom(IC_SECRET, raw)}
    return api.post(IC, content=raw, headers=headers)


def agent(api, agent_id: str = "DANA") -> dict[str, Any]:  # type: ignore[no-untyped-def]
    return api.get(f"/api/agents/{agent_id}").json()


def test_the_away_mode_is_applied_once_and_recorded_as_intercoms(team) -> None:  # type: ignore[no-untyped-def]
    went = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=10)
    first = notify(team, away=True, at=went)
    assert first.status_code == 200, first.text
    ack = first.json()
    assert (ack["status"], ack["ticket"], ack["agent"]["agent_id"]) == ("updated", None, "DANA")
    assert ack["detail"] == "agent 'DANA' away as in intercom"
    dana = agent(team)
    assert dana["away"] is True
    assert datetime.fromisoformat(dana["away_since"]) == went  # when Intercom says, not when it arrived
    assert datetime.fromisoformat(dana["away_set_at"]) == went
    assert agent(team, "ELI")["away"] is False
    assert [a["agent_id"] for a in team.get("/api/agents", params={"away": "true"}).json()] == ["DANA"]

    again = notify(team, away=True, at=went)  # Intercom redelivers: nothing changes, still a 2xx
    assert (again.status_code, again.json()["status"]) == (200, "ignored")
    assert again.json()["detail"] == "agent 'DANA' is already away"

    back = notify(team, away=False, at=went + timedelta(minutes=5))
    assert (back.status_code, back.json()["status"]) == (200, "updated")
    dana = agent(team)
    assert (dana["away"], dana["away_since"]) == (False, None)
    history = [
        (e["field"], e["old_value"], e["new_value"], e["actor"])
        for e in team.get("/api/agents/DANA/history").json()
        if e["field"] == "away"
    ]
    assert history == [("away", "false", "true", "webhook:intercom"), ("away", "true", "false", "webhook:intercom")]


def test_a_notification_older_than_the_last_change_is_not_applied(team) -> None:  # type: ignore[no-untyped-def]
    now = datetime.now(UTC)
    assert team.patch("/api/agents/DANA", json={"away": True}).status_code == 200  # set here, just now
    late = notify(team, away=False, at=now - timedelta(minutes=30))  # Intercom's "back" of half an hour ago
    assert (late.status_code, late.json()["status"]) == (200, "ignored")
    assert "after this intercom notification" in late.json()["detail"]
    assert agent(team)["away"] is True

    # A newer one is applied; then the older "away" it overtook arrives and changes nothing.
    assert notify(team, away=False, at=datetime.now(UTC) + timedelta(seconds=1)).json()["status"] == "updated"
    overtaken = notify(team, away=True, at=now - timedelta(minutes=1))
    assert overtaken.json()["status"] == "ignored" and agent(team)["away"] is False

    # A clock ahead of ours counts as now: a later change here still stands against older notifications.
    assert notify(team, away=True, at=datetime.now(UTC) + timedelta(days=1)).json()["status"] == "updated"
    assert datetime.fromisoformat(agent(team)["away_set_at"]) <= datetime.now(UTC)
    assert team.patch("/api/agents/DANA", json={"away": False}).status_code == 200
    assert notify(team, away=True, at=datetime.now(UTC) - timedelta(seconds=30)).json()["status"] == "ignored"
    assert agent(team)["away"] is False

    # Saying "back" again is newer word too: Intercom's "away" from between the two is not applied.
    time.sleep(1)  # Intercom's times are whole seconds: this one falls after the change above
    between = datetime.now(UTC)
    assert team.patch("/api/agents/DANA", json={"away": False}).status_code == 200
    assert notify(team, away=True, at=between).json()["status"] == "ignored"
    assert agent(team)["away"] is False


@pytest.mark.parametrize(
    ("email", "detail"),
    [
        ("nobody@example.com", "no agent with email 'nobody@example.com'; give an agent that email"),
        (None, "intercom named no valid email for the teammate; nobody made away"),
        ("not an address", "intercom named no valid email for the teammate; nobody made away"),
    ],
)
def test_a_teammate_no_agent_matches_is_acknowledged_and_changes_nothing(team, email, detail) -> None:  # type: ignore[no-untyped-def]
    response = notify(team, away=True, at=datetime.now(UTC), email=email)
    assert response.status_code == 200, response.text  # a 4xx would have Intercom redeliver it for days
    assert response.json()["status"] == "ignored" and response.json()["agent"] is None
    assert response.json()["detail"].startswith(detail)
    assert [a["away"] for a in team.get("/api/agents").json()] == [False, False]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"away_mode_enabled": "true"}, "data.item.away_mode_enabled: must be true or false"),
        ({"away_mode_enabled": None}, "data.item.away_mode_enabled: must be true or false"),
        ({"email": 7}, "data.item.email: must be a string or null, not a number"),
    ],
)
def test_a_body_not_of_the_documented_shape_is_a_422_naming_the_field(team, change, message) -> None:  # type: ignore[no-untyped-def]
    change = {"email": "Dana.Reyes@Example.com", **change}
    response = notify(team, at=datetime.now(UTC), away=change.pop("away_mode_enabled", True), **change)
    assert response.status_code == 422, response.text
    assert message in response.json()["detail"]
    body = json.loads(json.dumps(SAMPLE))
    del body["data"]["item"]["away_mode_enabled"]
    raw = json.dumps(body).encode()
    missing = team.post(IC, content=raw, headers={"X-Hub-Signature": sign_intercom(IC_SECRET, raw)})
    assert missing.status_code == 422 and "data.item.away_mode_enabled: is required" in missing.json()["detail"]
    assert agent(team)["away"] is False


def test_the_migration_dates_the_change_of_those_already_away(bare_db_url) -> None:  # type: ignore[no-untyped-def]
    import sqlalchemy as sa
    from alembic import command

    from shared.db import alembic_config, run_migrations

    command.upgrade(alembic_config(bare_db_url), "0045_reopens")
    since = datetime(2026, 12, 7, 9, 30, tzinfo=UTC)
    engine = sa.create_engine(bare_db_url)
    with engine.begin() as conn:
        for agent_id, away, at in (("A", True, since), ("B", False, None)):
            conn.execute(
                sa.text(
                    "INSERT INTO agents (agent_id, name, active, created_at, auto_assign, away, away_since) "
                    "VALUES (:id, :id, :t, :c, :f, :away, :at)"
                ),
                {"id": agent_id, "t": True, "c": since, "f": False, "away": away, "at": at},
            )
    run_migrations(bare_db_url)
    with engine.connect() as conn:
        rows = dict(conn.execute(sa.text("SELECT agent_id, away_set_at FROM agents")).all())
    engine.dispose()
    assert rows["B"] is None
    changed = rows["A"] if isinstance(rows["A"], datetime) else datetime.fromisoformat(rows["A"])
    assert changed.replace(tzinfo=changed.tzinfo or UTC) == since


def test_a_change_made_between_the_read_and_the_write_is_decided_on_again(team, session_factory) -> None:  # type: ignore[no-untyped-def]
    """An admin marks Dana away just after the notification's read of her row: the claim finds the row changed,
    the decision is made again on what the admin wrote, and Intercom's older change is not written over it."""
    from gateway.services.agents import sync_vendor_away
    from shared.models import Agent
    from tests.interleave import WriteBetween

    admin_at = datetime.now(UTC).replace(microsecond=0)

    def admin_marks_away(other) -> None:  # type: ignore[no-untyped-def]
        dana = other.get(Agent, "DANA")
        dana.away, dana.away_since, dana.away_set_at = True, admin_at, admin_at
        other.commit()

    between = WriteBetween(session_factory, "DANA", admin_marks_away, entity=Agent)
    with between.listening(), session_factory() as session:
        between.armed = True
        sync = sync_vendor_away(session, "intercom", "Dana.Reyes@EXAMPLE.com", True, admin_at - timedelta(minutes=1))
    assert between.fired
    assert not sync.applied and "after this intercom notification" in sync.detail
    dana = agent(team)
    assert dana["away"] is True and datetime.fromisoformat(dana["away_set_at"]) == admin_at
