"""A gateway started on a database that lacks its migrations (a deploy that skipped `alembic upgrade`):
readiness says so and every request is a 503 naming the fix, not a 500; migrating heals it live."""

from __future__ import annotations

from alembic import command
from alembic.script import ScriptDirectory
from sqlalchemy import text

from shared.db import alembic_config, make_engine, run_migrations, schema_gap

TICKET = {"customer_email": "ann@example.com", "subject": "Where is my parcel?", "description": "Order 1001 is late."}


def test_unmigrated_database_answers_503_with_the_fix_until_migrated(client_for, bare_db_url):
    api = client_for(bare_db_url)

    ready = api.get("/ready")
    assert ready.status_code == 503
    assert ready.json()["checks"]["database"].startswith("error: database schema is at no revision (never migrated)")
    assert "make migrate" in ready.json()["checks"]["database"] and ready.json()["checks"]["redis"] == "ok"
    for response in (api.post("/api/tickets/create", json=TICKET), api.get("/api/tickets/"), api.get("/api/agents")):
        assert response.status_code == 503, response.text
        assert response.json()["detail"].startswith("database schema is not migrated to this version:")

    # Part-way (the first revision only): readiness names where it stands.
    command.upgrade(alembic_config(bare_db_url), "0001")
    assert "database schema is at 0001, this code needs" in api.get("/ready").json()["checks"]["database"]

    run_migrations(bare_db_url)
    assert api.get("/ready").status_code == 200
    assert api.post("/api/tickets/create", json=TICKET).status_code == 201


def test_unmigrated_database_is_503_before_the_key_check_too(client_for, bare_db_url):
    api = client_for(bare_db_url, auth_disabled=False)

    response = api.get("/api/tickets/", headers={"Authorization": "Bearer sc_" + "x" * 43})
    assert response.status_code == 503, response.text
    assert "make migrate" in response.json()["detail"]


def test_a_database_ahead_of_the_code_counts_as_migrated(bare_db_url):
    """A rolling deploy: the new release migrated first, this (older) gateway still serves."""
    run_migrations(bare_db_url)
    head = max(ScriptDirectory.from_config(alembic_config(bare_db_url)).get_heads())  # the main line's newest
    engine = make_engine(bare_db_url)
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = 'from_a_newer_release'"
                          " WHERE version_num = :head"), {"head": head})  # fmt: skip
        assert schema_gap(conn) is None
        conn.execute(text("DELETE FROM alembic_version WHERE version_num = 'from_a_newer_release'"))
        needs = f"this code needs 0002_corrections, 0006_kb_index_requests, {head}"
        assert needs in (schema_gap(conn) or "")
    engine.dispose()
