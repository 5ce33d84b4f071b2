"""API keys: hashed at rest, CLI create/list/revoke/ensure-admin, both headers, revocation, audit trail."""

from __future__ import annotations

import hashlib

import sqlalchemy as sa
from sqlalchemy import select

from gateway import keys as keys_cli
from shared import db as shared_db
from shared.auth import Role, authenticate, create_key, hash_key, revoke_key
from shared.models import ApiKey, AuditLog
from tests.conftest import cli_on


def every_stored_value(db_url: str) -> str:
    """All api_keys cells as text, to look for a key in clear."""
    engine = shared_db.make_engine(db_url)
    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT * FROM api_keys")).all()
    engine.dispose()
    return "\n".join(str(v) for row in rows for v in row)


def test_cli_create_prints_the_key_once_and_stores_only_its_hash(cli_db: str, capsys, session_factory) -> None:
    assert keys_cli.main(["create", "--role", "agent", "--name", "alice"]) == 0
    out = capsys.readouterr()
    key = out.out.strip()
    assert key.startswith("sc_") and len(key) >= 40
    stored = every_stored_value(cli_db)
    assert key not in stored and key[10:] not in stored  # only a short prefix is kept in clear
    assert hashlib.sha256(key.encode()).hexdigest() in stored
    if cli_db.startswith("sqlite"):  # not even in the database file's bytes (WAL included)
        path = cli_db.removeprefix("sqlite:///")
        for suffix in ("", "-wal"):
            try:
                data = open(path + suffix, "rb").read()  # noqa: SIM115
            except FileNotFoundError:
                continue
            assert key.encode() not in data
    with session_factory() as session:
        principal = authenticate(session, key)
        assert principal is not None and (principal.name, principal.role) == ("alice", Role.agent)

    assert keys_cli.main(["list"]) == 0
    listing = capsys.readouterr().out
    assert "alice" in listing and key not in listing and key[:10] in listing


def test_cli_revoke_and_ensure_admin(cli_db: str, capsys, session_factory) -> None:
    assert keys_cli.main(["ensure-admin"]) == 0
    admin_key = capsys.readouterr().out.strip()
    assert admin_key.startswith("sc_")
    assert keys_cli.main(["ensure-admin"]) == 0
    assert capsys.readouterr().out.strip() == ""  # an admin exists: no second key printed
    with session_factory() as session:
        row = session.scalars(select(ApiKey)).one()
    user = keys_cli._os_user()
    assert row.created_by == f"cli:{user}" and row.revoked_by is None
    assert keys_cli.main(["revoke", str(row.id)]) == 0
    with session_factory() as session:
        assert authenticate(session, admin_key) is None
        assert session.get(ApiKey, row.id).revoked_by == f"cli:{user}"
    assert keys_cli.main(["list", "--all"]) == 0
    assert f"by cli:{user}; revoked " in capsys.readouterr().out
    assert keys_cli.main(["ensure-admin"]) == 0  # the only admin was revoked: a new one is made
    assert capsys.readouterr().out.strip().startswith("sc_")
    assert keys_cli.main(["revoke", "9999"]) == 2
    assert "not found" in capsys.readouterr().err


def test_cli_on_an_unmigrated_or_unreachable_database_says_so(bare_db_url: str, monkeypatch, capsys) -> None:
    with cli_on(bare_db_url, monkeypatch):
        assert keys_cli.main(["list"]) == 2
        assert (
            capsys.readouterr().err
            == "error: the database is not migrated: run `make migrate` (alembic upgrade heads)\n"
        )
        assert keys_cli.main(["ensure-admin"]) == 0  # the one command that migrates first (make run uses it)
        assert keys_cli.main(["list"]) == 0
        capsys.readouterr()
    with cli_on("postgresql://postgres@127.0.0.1:1/none", monkeypatch):
        assert keys_cli.main(["revoke", "1"]) == 2
        assert capsys.readouterr().err.startswith("error: database unavailable: connection failed")


def test_both_headers_work_and_a_revoked_key_gets_401(client_for, db_url, redis_client, session_factory) -> None:
    api = client_for(db_url, auth_disabled=False)
    with session_factory() as session:
        row, key = create_key(session, name="bob", role=Role.agent)
    assert api.get("/api/tickets/", headers={"Authorization": f"Bearer {key}"}).status_code == 200
    assert api.get("/api/tickets/", headers={"X-API-Key": key}).status_code == 200
    bad = api.get("/api/tickets/", headers={"X-API-Key": key[:-1] + ("A" if key[-1] != "A" else "B")})
    assert bad.status_code == 401 and "invalid" in bad.json()["detail"]
    with session_factory() as session:
        revoke_key(session, key_id=row.id)
        assert session.get(ApiKey, row.id).last_used_at is not None
    assert api.get("/api/tickets/", headers={"X-API-Key": key}).status_code == 401


def test_admin_creates_keys_over_http_and_the_answer_is_the_only_copy(
    client_for, db_url, redis_client, session_factory
) -> None:
    api = client_for(db_url, auth_disabled=False)
    with session_factory() as session:
        admin = create_key(session, name="root", role=Role.admin)[1]
    made = api.post("/api/keys", json={"name": "zendesk", "role": "integration"}, headers={"X-API-Key": admin})
    assert made.status_code == 201
    new_key = made.json()["key"]
    listed = api.get("/api/keys", headers={"X-API-Key": admin}).json()
    assert {k["name"] for k in listed} == {"root", "zendesk"} and all("key" not in k for k in listed)
    root_id = listed[0]["id"]
    assert [k["created_by"] for k in listed] == ["system", f"key:{root_id}:root"]  # root was made in code
    with session_factory() as session:
        assert session.scalars(select(ApiKey.key_hash).where(ApiKey.name == "zendesk")).one() == hash_key(new_key)
    bad_role = api.post("/api/keys", json={"name": "x", "role": "root"}, headers={"X-API-Key": admin})
    assert bad_role.status_code == 422


def test_agent_history_records_who_renamed_deactivated_and_reactivated_an_agent(
    client_for, db_url, redis_client, session_factory
) -> None:  # type: ignore[no-untyped-def]
    api = client_for(db_url, auth_disabled=False)
    with session_factory() as session:
        root_row, admin_key = create_key(session, name="root", role=Role.admin)
        alice_key = create_key(session, name="alice", role=Role.agent)[1]
    admin, alice = {"X-API-Key": admin_key}, {"X-API-Key": alice_key}
    new = {"agent_id": "AG-8", "name": "Bo", "email": "bo@example.com"}
    assert api.post("/api/agents", json=new, headers=admin).status_code == 201
    assert api.get("/api/agents/AG-8/history", headers=alice).json() == []  # creation is the agent's created_at

    for change in ({"name": "Bo Chen", "email": "BO.CHEN@example.com"}, {"active": False}, {"name": "Bo Chen"}):
        assert api.patch("/api/agents/AG-8", json=change, headers=admin).status_code == 200
    assert api.patch("/api/agents/AG-8", json={"active": True}, headers=admin).status_code == 200

    history = api.get("/api/agents/AG-8/history", headers=alice)
    assert history.status_code == 200
    actor = f"key:{root_row.id}:root"
    assert [(e["agent_id"], e["field"], e["old_value"], e["new_value"], e["actor"]) for e in history.json()] == [
        ("AG-8", "name", "Bo", "Bo Chen", actor),
        ("AG-8", "email", "bo@example.com", "bo.chen@example.com", actor),
        ("AG-8", "active", "true", "false", actor),
        ("AG-8", "active", "false", "true", actor),  # the repeated name was no change: not logged
    ]
    missing = api.get("/api/agents/AG-404/history", headers=alice)
    assert missing.status_code == 404 and "AG-404" in missing.json()["detail"]
    assert api.get("/api/agents/AG-8/history").status_code == 401


def test_history_records_who_changed_status_and_assignment(client_for, db_url, redis_client, session_factory) -> None:
    api = client_for(db_url, auth_disabled=False)
    with session_factory() as session:
        agent_row, agent_key = create_key(session, name="alice", role=Role.agent)
        admin_key = create_key(session, name="root", role=Role.admin)[1]
    admin = {"X-API-Key": admin_key}
    alice = {"X-API-Key": agent_key}
    assert api.post("/api/agents", json={"agent_id": "AG-7", "name": "Al"}, headers=admin).status_code == 201
    body = {"customer_email": "h@example.com", "subject": "Where is it", "description": "Order 5 is late."}
    ticket_id = api.post("/api/tickets/create", json=body, headers=admin).json()["ticket"]["ticket_id"]

    assert api.put(f"/api/tickets/{ticket_id}/status", json={"status": "open"}, headers=alice).status_code == 200
    assert api.put(f"/api/tickets/{ticket_id}/assign", json={"agent_id": "AG-7"}, headers=alice).status_code == 200
    assert api.put(f"/api/tickets/{ticket_id}/status", json={"status": "open"}, headers=alice).status_code == 200

    history = api.get(f"/api/tickets/{ticket_id}/history", headers=alice)
    assert history.status_code == 200
    entries = [(e["field"], e["old_value"], e["new_value"], e["actor"]) for e in history.json()]
    actor = f"key:{agent_row.id}:alice"
    assert entries == [("status", "new", "open", actor), ("assigned_to", None, "AG-7", actor)]  # no-op not logged
    assert api.get("/api/tickets/TKT-NOPE/history", headers=alice).status_code == 404

    # A change made outside a request (a worker, a script) is attributed to "system".
    with session_factory() as session:
        from shared.models import Ticket

        session.get(Ticket, ticket_id).priority = "high"
        session.commit()
        last = session.scalars(select(AuditLog).order_by(AuditLog.id.desc())).first()
        assert (last.field, last.new_value, last.actor) == ("priority", "high", "system")


def test_a_key_cannot_revoke_itself_but_another_admin_can(client_for, db_url, redis_client, session_factory) -> None:
    api = client_for(db_url, auth_disabled=False)
    with session_factory() as session:
        first, first_key = create_key(session, name="root", role=Role.admin)
        second, second_key = create_key(session, name="backup", role=Role.admin)
    own = api.delete(f"/api/keys/{first.id}", headers={"X-API-Key": first_key})
    assert own.status_code == 409 and "cannot revoke itself" in own.json()["detail"]
    still = api.get("/api/keys", headers={"X-API-Key": first_key})
    assert still.status_code == 200 and still.json()[0]["revoked_by"] is None
    other = api.delete(f"/api/keys/{first.id}", headers={"X-API-Key": second_key})
    assert other.status_code == 200 and other.json()["revoked_at"] is not None
    assert other.json()["revoked_by"] == f"key:{second.id}:backup"
    assert api.get("/api/keys", headers={"X-API-Key": first_key}).status_code == 401
