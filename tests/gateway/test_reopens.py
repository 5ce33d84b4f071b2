"""Reopenings (migration 0045) on SQLite and PostgreSQL: each move of a ticket from resolved back to open, by its
customer's message or an agent, counts on the ticket (`reopens`, `reopened_at`); `?reopened=` lists them, the
overview reports the week's reopened tickets beside its resolved ones, an agent's activity theirs; the
migration backfills them from the history."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.conftest import force_ticket


def _ticket(api, subject: str) -> str:  # type: ignore[no-untyped-def]
    body = {"customer_email": "x@example.com", "subject": subject, "description": "My parcel never arrived."}
    response = api.post("/api/tickets/create", json=body)
    assert response.status_code == 201, response.text
    return response.json()["ticket"]["ticket_id"]


def _move(api, ticket_id: str, status: str) -> None:  # type: ignore[no-untyped-def]
    moved = api.put(f"/api/tickets/{ticket_id}/status", json={"status": status})
    assert moved.status_code == 200, moved.text


def _customer_writes(api, ticket_id: str) -> None:  # type: ignore[no-untyped-def]
    posted = api.post(f"/api/tickets/{ticket_id}/customer-messages", json={"body": "It still has not come."})
    assert posted.status_code == 201, posted.text


def _reopens(api, ticket_id: str) -> tuple[int, bool]:  # type: ignore[no-untyped-def]
    ticket = api.get(f"/api/tickets/{ticket_id}").json()
    return ticket["reopens"], ticket["reopened_at"] is not None


def _listed(api, **query: object) -> list[str]:  # type: ignore[no-untyped-def]
    response = api.get("/api/tickets/", params={**query, "sort": "oldest"})
    assert response.status_code == 200, response.text
    return [t["ticket_id"] for t in response.json()]


def test_a_resolution_that_does_not_hold_is_counted_and_reported(api, db_url) -> None:  # type: ignore[no-untyped-def]
    for agent_id, name in (("AG-1", "Ann"), ("AG-2", "Bo")):
        assert api.post("/api/agents", json={"agent_id": agent_id, "name": name}).status_code == 201
    twice, waiting, held, never = (_ticket(api, s) for s in ("Lost parcel", "Pending", "Held", "New"))
    assert _reopens(api, twice) == (0, False)
    force_ticket(db_url, twice, assigned_to="AG-1", priority="high")
    force_ticket(db_url, held, priority="low")

    # resolved, then its customer writes: reopened; resolved again, then an agent reopens it: twice
    _move(api, twice, "resolved")
    _customer_writes(api, twice)
    assert api.get(f"/api/tickets/{twice}").json()["status"] == "open"
    assert _reopens(api, twice) == (1, True)
    _move(api, twice, "resolved")
    _move(api, twice, "open")
    assert _reopens(api, twice) == (2, True)
    # a pending ticket its customer answers, and one resolved and kept so, were never reopened
    _move(api, waiting, "pending")
    _customer_writes(api, waiting)
    _move(api, held, "resolved")
    assert (_reopens(api, waiting), _reopens(api, held)) == ((0, False), (0, False))

    assert _listed(api, reopened=True) == [twice]
    assert _listed(api, reopened=False) == [waiting, held, never]
    assert _listed(api, reopened=True, assigned_to="AG-1", status="open") == [twice]
    view = api.post("/api/views", json={"view_id": "reopened", "title": "Reopened", "filters": {"reopened": True}})
    assert view.status_code == 201 and view.json()["count"] == 1, view.text

    # the week: one reopened beside one still resolved; a reopening more than 7 days ago is out of it
    overview = api.get("/api/overview").json()
    assert overview["resolved_last_7d"]["resolved"] == 1
    assert overview["reopened_last_7d"] == {"reopened": 1, "rate": 0.5}
    activity = api.get("/api/agents/AG-1/activity").json()
    assert activity["reopened"] == {"reopened": 1, "rate": 1.0}  # AG-1 holds it; none of theirs stayed resolved
    assert api.get("/api/agents/AG-2/activity").json()["reopened"] == {"reopened": 0, "rate": None}
    force_ticket(db_url, twice, reopened_at=datetime.now(UTC) - timedelta(days=8))
    assert api.get("/api/overview").json()["reopened_last_7d"] == {"reopened": 0, "rate": 0.0}
    force_ticket(db_url, held, status="open", resolved_at=None)
    assert api.get("/api/overview").json()["reopened_last_7d"] == {"reopened": 0, "rate": None}


def test_the_migration_counts_the_reopenings_the_history_recorded(bare_db_url) -> None:  # type: ignore[no-untyped-def]
    """Each `resolved -> open` entry of the history is a reopening, the latest its time; other moves are not."""
    import sqlalchemy as sa
    from alembic import command

    from shared.db import alembic_config, run_migrations
    from tests.legacy_rows import hour, insert_customer, insert_ticket

    command.upgrade(alembic_config(bare_db_url), "0044_agent_away")
    engine = sa.create_engine(bare_db_url)
    with engine.begin() as conn:
        insert_customer(conn)
        for ticket_id in ("T1", "T2", "T3"):
            insert_ticket(conn, ticket_id)
        for ticket_id, at, old, new in (
            ("T1", 1, "open", "resolved"),
            ("T1", 2, "resolved", "open"),
            ("T1", 3, "open", "resolved"),
            ("T1", 6, "resolved", "open"),
            ("T2", 1, "pending", "open"),  # a customer answering: not a reopening
            ("T2", 2, "resolved", "closed"),
        ):
            conn.execute(
                sa.text(
                    "INSERT INTO audit_log (ticket_id, field, old_value, new_value, actor, created_at)"
                    " VALUES (:t, 'status', :old, :new, 'a', :at)"
                ),
                {"t": ticket_id, "old": old, "new": new, "at": hour(at).isoformat()},
            )
        conn.execute(
            sa.text(
                "INSERT INTO audit_log (ticket_id, field, old_value, new_value, actor, created_at)"
                " VALUES ('T3', 'priority', 'resolved', 'open', 'a', :at)"  # another field's entry
            ),
            {"at": hour(4).isoformat()},
        )
    run_migrations(bare_db_url)
    with engine.connect() as conn:
        rows = {
            ticket_id: (reopens, reopened_at)
            for ticket_id, reopens, reopened_at in conn.execute(
                sa.text("SELECT ticket_id, reopens, reopened_at FROM tickets ORDER BY ticket_id")
            )
        }
    engine.dispose()

    def when(value):  # type: ignore[no-untyped-def]
        value = datetime.fromisoformat(value) if isinstance(value, str) else value  # SQLite: text
        return value if value.tzinfo else value.replace(tzinfo=UTC)

    assert rows["T1"][0] == 2 and when(rows["T1"][1]) == hour(6)
    assert rows["T2"] == (0, None) and rows["T3"] == (0, None)
