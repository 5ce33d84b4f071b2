"""Keys linked to agents (`api_keys.agent_id`) on SQLite and PostgreSQL: `GET /api/me`, `me` in the list, views,
the export, assignments, the bulk change and macros, replies signed with the agent's name, and a deactivated
agent's key refused until they are back."""

from __future__ import annotations

from typing import Any

import jsonschema
import pytest
import sqlalchemy as sa
from pydantic import ValidationError

from gateway import keys as keys_cli
from shared.auth import Role, authenticate, create_key
from shared.models import ApiKey, TicketMessage
from shared.schemas import ApiKeyCreate
from tests.conftest import force_ticket
from tests.gateway.conftest import web_ticket


@pytest.fixture
def team(client_for, db_url, redis_client, session_factory):  # type: ignore[no-untyped-def]
    """Agents ALICE and BOB, each with an agent key linked to them (`api.alice`, `api.bob`), an unlinked agent
    key (`api.shared`), an unlinked admin (`api.admin`) and the web form's integration key (the default)."""
    api = client_for(db_url, auth_disabled=False)
    with session_factory() as session:
        admin = create_key(session, name="boss", role=Role.admin)[1]
        api.headers["X-API-Key"] = create_key(session, name="webform", role=Role.integration)[1]
        api.admin = {"X-API-Key": admin}
        shared_row, shared_key = create_key(session, name="front-desk", role=Role.agent)
        api.shared, api.shared_id = {"X-API-Key": shared_key}, shared_row.id
    for agent_id, name in (("ALICE", "Alice Moreau"), ("BOB", "Bob Okafor")):
        body = {"agent_id": agent_id, "name": name, "email": f"{agent_id.lower()}@support.example"}
        assert api.post("/api/agents", json=body, headers=api.admin).status_code == 201
        made = api.post(
            "/api/keys", json={"name": f"{agent_id.lower()}-laptop", "role": "agent", "agent_id": agent_id},
            headers=api.admin,
        )  # fmt: skip
        assert made.status_code == 201, made.text
        assert made.json()["agent_id"] == agent_id
        setattr(api, agent_id.lower(), {"X-API-Key": made.json()["key"]})
    return api


def _ids(response) -> list[str]:  # type: ignore[no-untyped-def]
    assert response.status_code == 200, response.text
    return [t["ticket_id"] for t in response.json()]


def _nobody(response, key_name: str) -> None:  # type: ignore[no-untyped-def]
    """The 422 for `me` from a key linked to no agent, naming the key and how to link it."""
    assert response.status_code == 422, response.text
    detail = response.json()["detail"]
    assert f"key '{key_name}' is linked to none" in detail and "/api/keys" in detail


def test_me_says_who_the_key_is_and_links_are_checked(team, session_factory) -> None:  # type: ignore[no-untyped-def]
    me = team.get("/api/me", headers=team.alice).json()
    assert (me["name"], me["role"]) == ("alice-laptop", "agent")
    assert (me["agent"]["agent_id"], me["agent"]["name"], me["agent"]["open_tickets"]) == ("ALICE", "Alice Moreau", 0)
    assert team.get("/api/me", headers=team.shared).json()["agent"] is None
    assert team.get("/api/me").json()["role"] == "integration"  # any key may ask

    def made(body: dict[str, Any]) -> Any:
        return team.post("/api/keys", json={"name": "k", "role": "agent", **body}, headers=team.admin)

    unknown = made({"agent_id": "NOBODY"})
    assert unknown.status_code == 404 and "agent 'NOBODY' not found" in unknown.json()["detail"]
    service = made({"role": "integration", "agent_id": "ALICE"})
    assert service.status_code == 422 and "service's key" in service.json()["detail"]
    assert made({"agent_id": "bad id"}).status_code == 422
    assert team.patch("/api/agents/BOB", json={"active": False}, headers=team.admin).status_code == 200
    away = made({"agent_id": "BOB"})
    assert away.status_code == 409 and "BOB' is deactivated" in away.json()["detail"]
    with session_factory() as session:  # none of the refused keys was stored
        assert session.scalar(sa.select(sa.func.count()).select_from(ApiKey).where(ApiKey.name == "k")) == 0
    reserved = team.post("/api/agents", json={"agent_id": "Me", "name": "Me Myself"}, headers=team.admin)
    assert reserved.status_code == 422 and "'me' is reserved" in reserved.text

    # Linking a key made before: the key stays the same; null unlinks it.
    linked = team.patch(f"/api/keys/{team.shared_id}", json={"agent_id": "ALICE"}, headers=team.admin)
    assert linked.status_code == 200 and linked.json()["agent_id"] == "ALICE"
    assert team.get("/api/me", headers=team.shared).json()["agent"]["agent_id"] == "ALICE"
    assert team.patch(f"/api/keys/{team.shared_id}", json={}, headers=team.admin).status_code == 422
    assert team.patch(f"/api/keys/{team.shared_id}", json={"agent_id": "BOB"}, headers=team.admin).status_code == 409
    unlinked = team.patch(f"/api/keys/{team.shared_id}", json={"agent_id": None}, headers=team.admin)
    assert unlinked.status_code == 200 and unlinked.json()["agent_id"] is None
    assert team.get("/api/me", headers=team.shared).json()["agent"] is None
    assert team.patch("/api/keys/99999", json={"agent_id": "ALICE"}, headers=team.admin).status_code == 404
    for role in ("integration", "monitor"):
        service_key = made({"role": role}).json()["id"]
        refused = team.patch(f"/api/keys/{service_key}", json={"agent_id": "ALICE"}, headers=team.admin)
        assert refused.status_code == 409 and "service's key" in refused.json()["detail"]
    listed = {k["name"]: k["agent_id"] for k in team.get("/api/keys", headers=team.admin).json()}
    assert listed["alice-laptop"] == "ALICE" and listed["front-desk"] is None
    assert team.delete(f"/api/keys/{team.shared_id}", headers=team.admin).status_code == 200
    revoked = team.patch(f"/api/keys/{team.shared_id}", json={"agent_id": "ALICE"}, headers=team.admin)
    assert revoked.status_code == 409 and "revoked" in revoked.json()["detail"]


@pytest.mark.parametrize(
    "extra",
    [{}, {"agent_id": None}, {"agent_id": "ALICE"}, {"role": "integration"}, {"role": "integration", "agent_id": None},
     {"role": "integration", "agent_id": "ALICE"}, {"role": "admin", "agent_id": "ALICE"},
     {"role": "monitor", "agent_id": "ALICE"}, {"role": "monitor"}],
)  # fmt: skip
def test_the_documented_key_schema_and_the_check_agree(extra: dict[str, Any]) -> None:
    """What the OpenAPI schema's `anyOf` refuses (a service's key linked to an agent) is what the model refuses."""
    body = {"name": "k", "role": "agent", **extra}
    documented = jsonschema.Draft202012Validator(ApiKeyCreate.model_json_schema()).is_valid(body)
    try:
        ApiKeyCreate.model_validate(body)
    except ValidationError:
        accepted = False
    else:
        accepted = True
    assert documented == accepted
    assert accepted == (body["role"] not in ("integration", "monitor") or body.get("agent_id") is None)


def test_a_deactivated_agents_key_is_refused_until_they_are_back(team, session_factory) -> None:  # type: ignore[no-untyped-def]
    assert team.get("/api/tickets/", headers=team.bob).status_code == 200
    assert team.patch("/api/agents/BOB", json={"active": False}, headers=team.admin).status_code == 200
    refused = team.get("/api/tickets/", headers=team.bob)
    assert refused.status_code == 401 and refused.headers["WWW-Authenticate"] == "Bearer"
    assert "belongs to agent 'BOB', who is deactivated" in refused.json()["detail"]
    assert "PATCH /api/agents/BOB with active true" in refused.json()["detail"]
    assert team.get("/api/tickets/", headers=team.alice).status_code == 200  # only BOB's keys
    with session_factory() as session:
        used_before = session.scalars(sa.select(ApiKey.last_used_at).where(ApiKey.name == "bob-laptop")).one()
    assert team.patch("/api/agents/BOB", json={"active": True}, headers=team.admin).status_code == 200
    assert team.get("/api/tickets/", headers=team.bob).status_code == 200
    # An admin's key linked to BOB cannot deactivate BOB (it would refuse itself at once); it can rename him.
    lead = team.post("/api/keys", json={"name": "bob-admin", "role": "admin", "agent_id": "BOB"}, headers=team.admin)
    own = {"X-API-Key": lead.json()["key"]}
    itself = team.patch("/api/agents/BOB", json={"active": False, "name": "Bob O."}, headers=own)
    assert itself.status_code == 409 and "another admin does it" in itself.json()["detail"]
    assert team.get("/api/agents/BOB", headers=own).json()["name"] == "Bob Okafor"  # nothing was changed
    assert team.patch("/api/agents/BOB", json={"name": "Bob O."}, headers=own).status_code == 200
    assert team.patch("/api/agents/ALICE", json={"active": False}, headers=own).status_code == 200
    with session_factory() as session:  # the refused request did not count as a use
        assert session.scalars(sa.select(ApiKey.last_used_at).where(ApiKey.name == "bob-laptop")).one() == used_before


def test_me_lists_counts_and_exports_each_callers_own_tickets(team, db_url) -> None:  # type: ignore[no-untyped-def]
    alices = [web_ticket(team, subject=f"Alice's {n}") for n in range(3)]
    bobs = [web_ticket(team, subject="Bob's")]
    nobodys = web_ticket(team, subject="Nobody's")
    for ticket_id in alices:
        force_ticket(db_url, ticket_id, assigned_to="ALICE")
    force_ticket(db_url, alices[2], status="resolved")
    force_ticket(db_url, bobs[0], assigned_to="BOB")

    assert _ids(team.get("/api/tickets/?assigned_to=me", headers=team.alice)) == alices[::-1]
    assert _ids(team.get("/api/tickets/?assigned_to=ME&status=new", headers=team.alice)) == alices[1::-1]
    assert _ids(team.get("/api/tickets/?assigned_to=me", headers=team.bob)) == bobs
    assert nobodys not in _ids(team.get("/api/tickets/?assigned_to=ALICE", headers=team.bob))
    _nobody(team.get("/api/tickets/?assigned_to=me", headers=team.shared), "front-desk")

    # One view, each agent's own tickets: written by an admin who is nobody's agent.
    mine = {"view_id": "mine", "title": "My new tickets", "filters": {"assigned_to": "me", "status": "new"}}
    written = team.post("/api/views", json=mine, headers=team.admin)
    assert written.status_code == 201, written.text
    assert written.json()["count"] is None and "key 'boss' is linked to none" in written.json()["problem"]
    assert written.json()["query"] == "status=new&assigned_to=me"
    assert team.get("/api/views/mine", headers=team.alice).json()["count"] == 2
    assert team.get("/api/views/mine", headers=team.bob).json()["count"] == 1
    counted = {v["view_id"]: v for v in team.get("/api/views?counts=true", headers=team.bob).json()}
    assert (counted["mine"]["count"], counted["mine"]["problem"]) == (1, None)
    shared_listing = team.get("/api/views?counts=true", headers=team.shared).json()
    assert [(v["count"], "front-desk" in v["problem"]) for v in shared_listing] == [(None, True)]
    assert _ids(team.get("/api/views/mine/tickets", headers=team.alice)) == alices[1::-1]
    assert _ids(team.get("/api/views/mine/tickets", headers=team.bob)) == bobs
    _nobody(team.get("/api/views/mine/tickets", headers=team.shared), "front-desk")
    rewritten = team.put("/api/views/mine", json={"title": "Mine", "filters": mine["filters"]}, headers=team.admin)
    assert rewritten.status_code == 200 and rewritten.json()["filters"]["assigned_to"] == "me"

    # The export reads `me` the same way; a manager linked to BOB exports BOB's.
    with_manager = team.post(
        "/api/keys", json={"name": "bob-lead", "role": "manager", "agent_id": "BOB"}, headers=team.admin
    )
    lead = {"X-API-Key": with_manager.json()["key"]}
    exported = team.get("/api/tickets/export?assigned_to=me&columns=ticket_id,assigned_to", headers=lead)
    assert exported.status_code == 200 and exported.text.splitlines() == ["ticket_id,assigned_to", f"{bobs[0]},BOB"]
    by_view = team.get("/api/views/mine/export?columns=ticket_id", headers=lead)
    assert by_view.text.splitlines() == ["ticket_id", bobs[0]]
    _nobody(team.get("/api/tickets/export?assigned_to=me", headers=team.admin), "boss")
    _nobody(team.get("/api/views/mine/export", headers=team.admin), "boss")


def test_me_assigns_to_the_caller_by_hand_in_bulk_and_by_macro(team, db_url, session_factory) -> None:  # type: ignore[no-untyped-def]
    first, second, third = (web_ticket(team, subject=f"Ticket {n}") for n in range(3))
    taken = team.put(f"/api/tickets/{first}/assign", json={"agent_id": "me"}, headers=team.alice)
    assert taken.status_code == 200 and taken.json()["assigned_to"] == "ALICE"
    _nobody(team.put(f"/api/tickets/{second}/assign", json={"agent_id": "me"}, headers=team.shared), "front-desk")
    assert team.get(f"/api/tickets/{second}", headers=team.bob).json()["assigned_to"] is None

    bulk = {"ticket_ids": [first, second], "assign": {"agent_id": "me"}}
    moved = team.post("/api/tickets/bulk", json=bulk, headers=team.bob)
    assert moved.status_code == 200 and moved.json()["updated"] == 2
    assert {t: team.get(f"/api/tickets/{t}", headers=team.bob).json()["assigned_to"] for t in (first, second)} == {
        first: "BOB",
        second: "BOB",
    }
    _nobody(team.post("/api/tickets/bulk", json=bulk, headers=team.shared), "front-desk")

    # A macro that takes the ticket: saved with `me`, it assigns whoever applies it.
    take = {
        "macro_id": "take",
        "title": "Take it",
        "body": "I'm on it.",
        "internal": True,
        "assign": {"agent_id": "me"},
    }
    assert team.post("/api/macros", json=take, headers=team.admin).status_code == 201
    assert team.get("/api/macros/take", headers=team.alice).json()["assign"] == {"agent_id": "me"}
    applied = team.post(f"/api/tickets/{third}/macros/take", headers=team.alice)
    assert applied.status_code == 201, applied.text
    assert applied.json()["ticket"]["assigned_to"] == "ALICE"
    _nobody(team.post(f"/api/tickets/{second}/macros/take", headers=team.shared), "front-desk")
    with session_factory() as session:  # refused before anything was posted on `second`
        notes = session.scalars(sa.select(TicketMessage.ticket_id).where(TicketMessage.macro_id == "take")).all()
    assert notes == [third]


def test_replies_carry_the_agents_name_else_the_keys(team, session_factory) -> None:  # type: ignore[no-untyped-def]
    ticket_id = web_ticket(team)
    by_alice = team.post(f"/api/tickets/{ticket_id}/messages", json={"body": "Looking now."}, headers=team.alice)
    assert by_alice.status_code == 201, by_alice.text
    message = by_alice.json()["message"]
    assert (message["author_name"], message["author_email"]) == ("Alice Moreau", "alice@support.example")
    by_desk = team.post(
        f"/api/tickets/{ticket_id}/messages", json={"body": "Noted.", "internal": True}, headers=team.shared
    )
    assert (by_desk.json()["message"]["author_name"], by_desk.json()["message"]["author_email"]) == ("front-desk", None)
    # A later rename shows on later replies; each reply keeps the name it was written under.
    assert team.patch("/api/agents/ALICE", json={"name": "Alice M."}, headers=team.admin).status_code == 200
    later = team.post(f"/api/tickets/{ticket_id}/messages", json={"body": "Fixed."}, headers=team.alice)
    assert later.json()["message"]["author_name"] == "Alice M."
    # A macro's reply and a merge's note are the caller's too.
    thanks = {"macro_id": "thanks", "title": "Thanks", "body": "Thanks for your patience."}
    assert team.post("/api/macros", json=thanks, headers=team.admin).status_code == 201
    assert team.post(f"/api/tickets/{ticket_id}/macros/thanks", headers=team.bob).status_code == 201
    duplicate = web_ticket(team, subject="Same problem again")
    merged = team.post(f"/api/tickets/{duplicate}/merge", json={"into": ticket_id}, headers=team.bob)
    assert merged.status_code == 200, merged.text
    thread = team.get(f"/api/tickets/{ticket_id}/messages", headers=team.bob).json()
    assert [(m["author_name"], m["author_email"]) for m in thread] == [
        ("Alice Moreau", "alice@support.example"),
        ("front-desk", None),
        ("Alice M.", "alice@support.example"),
        ("Bob Okafor", "bob@support.example"),
        ("Bob Okafor", "bob@support.example"),  # the merge's note
    ]


def test_a_macro_is_signed_with_the_name_of_the_agent_applying_it(team, session_factory) -> None:  # type: ignore[no-untyped-def]
    body = "Hi {{customer.first_name}}, it is fixed.\n{{ agent.first_name }} ({{agent.name}}), support"
    signed = {"macro_id": "signed", "title": "Fixed", "body": body}
    assert team.post("/api/macros", json=signed, headers=team.admin).status_code == 201
    typo = team.post("/api/macros", json={"title": "Typo", "body": "{{agent.nme}}"}, headers=team.admin)
    assert typo.status_code == 422 and "{{agent.first_name}}" in typo.text  # the known ones are listed
    ticket_id = web_ticket(team)  # from Ann Lee

    def preview(headers: dict[str, str]) -> str:
        shown = team.get(f"/api/tickets/{ticket_id}/macros/signed", headers=headers)
        assert shown.status_code == 200, shown.text
        return str(shown.json()["body"])

    assert preview(team.bob) == "Hi Ann, it is fixed.\nBob (Bob Okafor), support"
    assert preview(team.admin) == "Hi Ann, it is fixed.\n{{ agent.first_name }} ({{agent.name}}), support"
    refused = team.post(f"/api/tickets/{ticket_id}/macros/signed", headers=team.shared)
    assert refused.status_code == 422 and "key 'front-desk' is linked to no agent" in refused.json()["detail"]
    first_only = {"macro_id": "first-only", "title": "Thanks", "body": "Thanks! {{ agent.first_name }}"}
    assert team.post("/api/macros", json=first_only, headers=team.admin).status_code == 201
    assert team.post(f"/api/tickets/{ticket_id}/macros/first-only", headers=team.shared).status_code == 422
    applied = team.post(f"/api/tickets/{ticket_id}/macros/signed", headers=team.alice)
    assert applied.status_code == 201, applied.text
    thread = team.get(f"/api/tickets/{ticket_id}/messages", headers=team.alice).json()
    assert [m["body"] for m in thread] == ["Hi Ann, it is fixed.\nAlice (Alice Moreau), support"]  # one: none refused


def test_the_cli_links_keys_to_agents(cli_db: str, capsys, session_factory) -> None:  # type: ignore[no-untyped-def]
    from gateway.services.agents import create_agent
    from shared.schemas import AgentCreate

    with session_factory() as session:
        create_agent(session, AgentCreate(agent_id="ALICE", name="Alice"))
    assert keys_cli.main(["create", "--role", "agent", "--name", "alice", "--agent", "ALICE"]) == 0
    key = capsys.readouterr().out.strip()
    assert keys_cli.main(["create", "--role", "agent", "--name", "desk"]) == 0
    capsys.readouterr()
    with session_factory() as session:
        principal = authenticate(session, key)
        assert principal is not None and (principal.agent_id, principal.author) == ("ALICE", "Alice")
        desk = session.scalars(sa.select(ApiKey).where(ApiKey.name == "desk")).one()
    assert keys_cli.main(["list"]) == 0
    rows = {line.split()[1]: line.split()[3] for line in capsys.readouterr().out.splitlines()[1:]}
    assert rows == {"alice": "ALICE", "desk": "-"}
    assert keys_cli.main(["link", str(desk.id), "--agent", "ALICE"]) == 0
    assert "linked to agent 'ALICE'" in capsys.readouterr().err
    assert keys_cli.main(["link", str(desk.id), "--none"]) == 0
    assert "linked to no agent" in capsys.readouterr().err
    assert keys_cli.main(["link", str(desk.id), "--agent", "NOBODY"]) == 2
    assert "agent 'NOBODY' not found" in capsys.readouterr().err
    for role in ("integration", "monitor"):
        assert keys_cli.main(["create", "--role", role, "--name", "x", "--agent", "ALICE"]) == 2
        assert "service's key" in capsys.readouterr().err


def test_an_agent_says_they_are_away_and_back_and_an_admin_can_too(team) -> None:  # type: ignore[no-untyped-def]
    """`PUT /api/me/away` for the caller's agent (kept since it began, recorded in the agent's history), an
    admin's PATCH for anyone; an agent away in the rotation may be released, since it passes them by."""
    away = team.put("/api/me/away", json={"away": True}, headers=team.alice)
    assert away.status_code == 200, away.text
    assert (away.json()["agent_id"], away.json()["away"]) == ("ALICE", True)
    since = away.json()["away_since"]
    assert since is not None
    again = team.put("/api/me/away", json={"away": True}, headers=team.alice)
    assert (again.json()["away"], again.json()["away_since"]) == (True, since)  # still away since then
    assert team.get("/api/me", headers=team.alice).json()["agent"]["away"] is True
    listed = team.get("/api/agents", params={"away": True}, headers=team.bob)
    assert [a["agent_id"] for a in listed.json()] == ["ALICE"]
    assert [a["agent_id"] for a in team.get("/api/agents", params={"away": False}, headers=team.bob).json()] == ["BOB"]
    back = team.put("/api/me/away", json={"away": False}, headers=team.alice)
    assert (back.json()["away"], back.json()["away_since"]) == (False, None)
    history = team.get("/api/agents/ALICE/history", headers=team.bob).json()
    assert [(h["field"], h["old_value"], h["new_value"], h["actor"].split(":")[-1]) for h in history] == [
        ("away", "false", "true", "alice-laptop"),
        ("away", "true", "false", "alice-laptop"),
    ]

    nobody = team.put("/api/me/away", json={"away": True}, headers=team.shared)
    assert nobody.status_code == 404 and "key 'front-desk' is linked to no agent" in nobody.json()["detail"]
    assert team.put("/api/me/away", json={"away": True}).status_code == 403  # the web form's integration key
    for body, says in (({"away": "yes"}, "away:"), ({}, "away: Field required"), ({"away": None}, "away:")):
        refused = team.put("/api/me/away", json=body, headers=team.alice)
        assert refused.status_code == 422 and says in refused.json()["detail"], (body, refused.text)

    # an admin marks BOB away: in the rotation, he may now be released (it would not hand his tickets back)
    rotated = team.patch("/api/agents/BOB", json={"auto_assign": True}, headers=team.admin)
    assert rotated.status_code == 200, rotated.text
    refused = team.post("/api/agents/BOB/release", headers=team.admin)
    assert refused.status_code == 409 and '{"away": true}' in refused.json()["detail"]
    marked = team.patch("/api/agents/BOB", json={"away": True}, headers=team.admin)
    assert (marked.json()["away"], marked.json()["auto_assign"]) == (True, True)
    assert team.post("/api/agents/BOB/release", headers=team.admin).status_code == 200
    assert team.patch("/api/agents/BOB", json={"away": None}, headers=team.admin).status_code == 422
