"""Each agent's activity (`GET /api/agents/{id}/activity`, `/api/agent-activity`, `/api/me/activity`) on SQLite
and PostgreSQL: what they wrote with keys linked to them, the first responses and next replies that were
theirs, and the tickets assigned to them resolved or rated in the window."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from shared.auth import Role, create_key
from shared.models import TicketMessage
from tests.conftest import force_ticket
from tests.gateway.conftest import web_ticket


@pytest.fixture
def team(client_for, db_url, redis_client, session_factory):  # type: ignore[no-untyped-def]
    """ALICE and BOB with agent keys linked to them, an unlinked agent key (`shared`), a manager (`lead`, unlinked)
    and an admin; the web form's integration key by default."""
    api = client_for(db_url, auth_disabled=False)
    with session_factory() as session:
        api.headers["X-API-Key"] = create_key(session, name="webform", role=Role.integration)[1]
        api.admin = {"X-API-Key": create_key(session, name="boss", role=Role.admin)[1]}
        api.lead = {"X-API-Key": create_key(session, name="lead", role=Role.manager)[1]}
        api.shared = {"X-API-Key": create_key(session, name="front-desk", role=Role.agent)[1]}
    for agent_id in ("ALICE", "BOB"):
        assert api.post(
            "/api/agents", json={"agent_id": agent_id, "name": agent_id.title()}, headers=api.admin
        ).is_success
        key = create_key_for(api, agent_id)
        setattr(api, agent_id.lower(), {"X-API-Key": key})
    return api


def create_key_for(api, agent_id: str) -> str:  # type: ignore[no-untyped-def]
    body = {"name": f"{agent_id.lower()}-key", "role": "agent", "agent_id": agent_id}
    made = api.post("/api/keys", json=body, headers=api.admin)
    assert made.status_code == 201, made.text
    return str(made.json()["key"])


def _post(api, ticket_id: str, headers: dict[str, str], body: str, internal: bool = False) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    response = api.post(
        f"/api/tickets/{ticket_id}/messages", json={"body": body, "internal": internal}, headers=headers
    )
    assert response.status_code == 201, response.text
    return response.json()["message"]


def _activity(api, agent_id: str, days: int = 7) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    response = api.get(f"/api/agents/{agent_id}/activity", params={"days": days}, headers=api.lead)
    assert response.status_code == 200, response.text
    return response.json()


def _ago(**delta: float) -> datetime:
    return datetime.now(UTC) - timedelta(**delta)


def test_each_agent_is_credited_with_what_they_wrote_and_resolved(team, db_url, session_factory) -> None:  # type: ignore[no-untyped-def]
    first, second, third, fourth = (web_ticket(team, subject=f"Ticket {n}") for n in range(4))
    for ticket_id in (first, second, third, fourth):
        force_ticket(db_url, ticket_id, priority="high")  # first response target 4 h, next reply 8 h
    by_alice = _post(team, first, team.alice, "Looking into it.")
    assert by_alice["agent_id"] == "ALICE"
    _post(team, second, team.alice, "Could you send the order number?")
    assert team.post(f"/api/tickets/{second}/customer-messages", json={"body": "It is ORD-1234."}).is_success
    _post(team, second, team.alice, "Thanks, refunded.")  # a next reply: the customer was waiting
    macro = {"macro_id": "hello", "title": "Hello", "body": "Hello {{customer.first_name}}, we are on it."}
    assert team.post("/api/macros", json=macro, headers=team.admin).status_code == 201
    assert team.post(f"/api/tickets/{third}/macros/hello", headers=team.alice).status_code == 201
    _post(team, first, team.bob, "Checked the carrier.", internal=True)
    _post(team, first, team.bob, "It ships today.")  # public, but neither a first response nor a next reply
    assert _post(team, fourth, team.shared, "Someone will answer.")["agent_id"] is None  # nobody's
    old_note = _post(team, fourth, team.alice, "Called the customer.", internal=True)
    with session_factory() as session:  # written before the week: in the month's figures only
        session.execute(
            sa.update(TicketMessage).where(TicketMessage.id == old_note["id"]).values(created_at=_ago(days=12))
        )
        session.commit()

    now = datetime.now(UTC)
    force_ticket(db_url, first, assigned_to="ALICE", status="resolved", resolved_at=now - timedelta(hours=1),
                 satisfaction="good", satisfaction_at=now - timedelta(minutes=30))  # fmt: skip
    force_ticket(db_url, second, assigned_to="ALICE", status="resolved", resolved_at=now - timedelta(days=10),
                 satisfaction="bad", satisfaction_at=now - timedelta(days=9))  # fmt: skip
    force_ticket(db_url, third, assigned_to="BOB")

    alice = _activity(team, "ALICE")
    assert (alice["name"], alice["active"], alice["days"]) == ("Alice", True, 7)
    as_of, since = datetime.fromisoformat(alice["as_of"]), datetime.fromisoformat(alice["since"])
    assert as_of - since == timedelta(days=7) and abs(as_of - now) < timedelta(minutes=5)
    assert (alice["replies"], alice["notes"], alice["tickets_replied"], alice["open_tickets"]) == (4, 0, 3, 0)
    firsts = alice["first_responses"]
    assert (firsts["answered"], firsts["within_target"]) == (3, 1.0) and firsts["p50_hours"] < 0.1
    assert alice["next_replies"]["replies"] == 1 and alice["next_replies"]["within_target"] == 1.0
    assert alice["resolved"]["resolved"] == 1 and alice["resolved"]["within_target"] == 1.0
    assert alice["satisfaction"] == {
        "rated": 1, "good": 1, "bad": 0, "score": 1.0, "solved": 1, "solved_rated": 1, "response_rate": 1.0,
    }  # fmt: skip

    bob = _activity(team, "BOB")
    assert (bob["replies"], bob["notes"], bob["tickets_replied"], bob["open_tickets"]) == (1, 1, 1, 1)
    assert (bob["first_responses"]["answered"], bob["next_replies"]["replies"], bob["resolved"]["resolved"]) == (
        0,
        0,
        0,
    )
    assert bob["first_responses"]["p50_hours"] is None and bob["satisfaction"]["rated"] == 0

    # A longer window takes in the older resolve and rating.
    month = _activity(team, "ALICE", days=30)
    assert month["resolved"]["resolved"] == 2 and (month["notes"], month["tickets_replied"]) == (1, 3)
    assert (month["satisfaction"]["good"], month["satisfaction"]["bad"]) == (1, 1)
    assert (month["satisfaction"]["solved"], month["satisfaction"]["solved_rated"]) == (2, 2)
    assert bob["satisfaction"]["solved"] == 0 and bob["satisfaction"]["response_rate"] is None

    # The team's table, the caller's own, and what is refused.
    table = team.get("/api/agent-activity", headers=team.lead)
    assert table.status_code == 200
    assert [(row["agent_id"], row["replies"], row["notes"]) for row in table.json()] == [("ALICE", 4, 0), ("BOB", 1, 1)]
    assert len({row["as_of"] for row in table.json()}) == 1  # one moment for the whole table
    assert team.patch("/api/agents/BOB", json={"active": False}, headers=team.admin).status_code == 200
    assert [row["agent_id"] for row in team.get("/api/agent-activity?active=true", headers=team.lead).json()] == [
        "ALICE"
    ]
    assert [row["agent_id"] for row in team.get("/api/agent-activity?active=false", headers=team.lead).json()] == [
        "BOB"
    ]
    own = team.get("/api/me/activity", headers=team.alice)
    assert own.status_code == 200 and (own.json()["agent_id"], own.json()["replies"]) == ("ALICE", 4)
    nobody = team.get("/api/me/activity", headers=team.shared)
    assert nobody.status_code == 404 and "key 'front-desk' is linked to no agent" in nobody.json()["detail"]
    assert team.get("/api/agents/ALICE/activity", headers=team.alice).status_code == 403  # a manager's table
    assert team.get("/api/agents/NOBODY/activity", headers=team.lead).status_code == 404
    for days in (0, 91, "week"):
        assert team.get(f"/api/agents/ALICE/activity?days={days}", headers=team.lead).status_code == 422


def test_without_authentication_the_hint_is_a_new_key(client_for, db_url, redis_client) -> None:  # type: ignore[no-untyped-def]
    """With AUTH_DISABLED the caller has no key to patch: the 404 names POST /api/keys, not a key id."""
    api = client_for(db_url, auth_disabled=True)
    nobody = api.get("/api/me/activity")
    assert nobody.status_code == 404, nobody.text
    assert "POST /api/keys and an agent_id" in nobody.json()["detail"] and "None" not in nobody.json()["detail"]
    listed = api.get("/api/tickets/?assigned_to=me")
    assert listed.status_code == 422 and "POST /api/keys and an agent_id" in listed.json()["detail"]


@pytest.mark.parametrize("business_hours", [None, "Mon-Fri 09:00-17:00"])
def test_the_teams_table_is_each_agents_activity(api, session_factory, business_hours) -> None:  # type: ignore[no-untyped-def]
    """The team's table reads each figure once for everyone and groups it by agent; on a random history it gives
    exactly what each agent's own activity gives, every hour counted or business hours only, over 7 and 30 days."""
    import random

    from gateway.services.activity import agent_activity, team_activity
    from shared.config import Settings
    from shared.models import Ticket, utcnow

    rng = random.Random(61)
    for agent_id in ("ALICE", "BOB", "CARL", "DANA"):  # CARL does nothing; DANA is inactive
        assert api.post("/api/agents", json={"agent_id": agent_id, "name": agent_id.title()}).status_code == 201
    assert api.patch("/api/agents/DANA", json={"active": False}).status_code == 200
    ticket_ids = [web_ticket(api, subject=f"Ticket {n}") for n in range(40)]
    now = utcnow()
    with session_factory() as session:
        for ticket_id in ticket_ids:
            ticket = session.get(Ticket, ticket_id)
            ticket.created_at = now - timedelta(days=rng.uniform(1, 40))
            ticket.priority = rng.choice([None, "low", "medium", "high", "critical"])
            ticket.assigned_to = rng.choice([None, "ALICE", "BOB", "DANA"])
            open_for = (now - ticket.created_at).total_seconds()
            if rng.random() < 0.6:
                ticket.status, ticket.resolved_at = (
                    "resolved",
                    ticket.created_at + timedelta(seconds=rng.uniform(60, open_for)),
                )
            if rng.random() < 0.25:
                ticket.reopens, ticket.reopened_at = 1, now - timedelta(days=rng.uniform(0, 20))
            if rng.random() < 0.4:
                ticket.satisfaction = rng.choice(["good", "bad"])
                ticket.satisfaction_at = now - timedelta(days=rng.uniform(0, 20))
            times = sorted(
                ticket.created_at + timedelta(seconds=rng.uniform(60, open_for)) for _ in range(rng.randint(0, 5))
            )
            for at in times:
                internal = rng.random() < 0.2
                message = TicketMessage(
                    ticket_id=ticket_id, source="api", author_type="agent", body="b", internal=internal,
                    agent_id=rng.choice(["ALICE", "BOB", "DANA", None]), created_at=at,
                    waited_since=at - timedelta(hours=rng.uniform(0.1, 30)) if rng.random() < 0.5 else None,
                )  # fmt: skip
                session.add(message)
                if not internal and ticket.first_response_at is None:
                    ticket.first_response_at = at
        # Two replies of one agent at the first response's very instant: the ticket is answered once.
        tied = session.get(Ticket, ticket_ids[0])
        tied.first_response_at = now - timedelta(days=2)
        for _ in range(2):
            session.add(
                TicketMessage(ticket_id=tied.ticket_id, source="api", author_type="agent", body="b", internal=False,
                              agent_id="BOB", created_at=tied.first_response_at)
            )  # fmt: skip
        session.commit()

    targets = Settings(business_hours=business_hours, business_timezone="UTC").targets
    for days in (7, 30):
        with session_factory() as session:
            table = team_activity(session, days=days, active=None, targets=targets)
            each = [agent_activity(session, row.agent_id, days=days, targets=targets) for row in table]
        moment = {"since", "as_of"}
        assert [row.model_dump(exclude=moment) for row in table] == [row.model_dump(exclude=moment) for row in each]
        assert [row.agent_id for row in table] == ["ALICE", "BOB", "CARL", "DANA"]
        assert len({row.as_of for row in table}) == 1
        if days == 30:  # the history holds every figure, so the comparison compares something
            assert table[0].replies > 0 and sum(row.notes for row in table) > 0
            assert sum(row.resolved.resolved for row in table) > 3 and sum(row.reopened.reopened for row in table) > 0
            assert sum(row.first_responses.answered for row in table) > 3
            assert sum(row.next_replies.replies for row in table) > 3
            assert sum(row.satisfaction.rated for row in table) > 3 and table[2].replies == 0
            assert sum(row.satisfaction.solved for row in table) > 3 and sum(r.satisfaction.solved_rated for r in table)
    with session_factory() as session:
        active = team_activity(session, days=7, active=True, targets=targets)
    assert [row.agent_id for row in active] == ["ALICE", "BOB", "CARL"]
