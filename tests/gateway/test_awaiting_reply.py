"""Since when each customer has waited for a reply (`awaiting_reply_since`), on SQLite and PostgreSQL: the
clock's moves through the API and the webhooks, the list's queue of those waiting longest, the overview's
count, and what migration 0014 backfills."""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa
from alembic import command

from shared.db import alembic_config, run_migrations
from shared.models import utcnow
from tests.conftest import force_ticket
from tests.legacy_rows import hour, insert_customer, insert_message, insert_ticket

TICKET = {"customer_email": "wait@example.com", "subject": "Refund?", "description": "Where is my refund?"}


def _ticket(api, **extra) -> dict:  # type: ignore[no-untyped-def]
    response = api.post("/api/tickets/create", json={**TICKET, "source": "web", **extra})
    assert response.status_code == 201, response.text
    return response.json()["ticket"]


def _post(api, ticket_id: str, route: str, **body) -> dict:  # type: ignore[no-untyped-def]
    response = api.post(f"/api/tickets/{ticket_id}/{route}", json=body)
    assert response.status_code == 201, response.text
    return response.json()


def _since(view: dict) -> datetime | None:
    value = view["awaiting_reply_since"]
    return None if value is None else datetime.fromisoformat(value)


def test_the_clock_runs_from_the_customers_oldest_unanswered_message(api):
    ticket = _ticket(api)
    ticket_id = ticket["ticket_id"]
    assert _since(ticket) == datetime.fromisoformat(ticket["created_at"])  # waiting from arrival

    assert _since(_post(api, ticket_id, "messages", body="Checking with finance.", internal=True)["ticket"]) == (
        datetime.fromisoformat(ticket["created_at"])
    )  # a note answers nobody
    assert _since(_post(api, ticket_id, "messages", body="Refund sent today.")["ticket"]) is None

    first = _post(api, ticket_id, "customer-messages", body="It is not on my card yet.")
    started = datetime.fromisoformat(first["message"]["created_at"])
    assert _since(first["ticket"]) == started
    second = _post(api, ticket_id, "customer-messages", body="Hello??")["ticket"]
    assert _since(second) == started  # still waiting since their first unanswered message
    assert _since(api.get(f"/api/tickets/{ticket_id}").json()) == started

    assert _since(_post(api, ticket_id, "messages", body="It takes 3-5 days.")["ticket"]) is None
    _post(api, ticket_id, "customer-messages", body="OK, I will wait.")
    resolved = api.put(f"/api/tickets/{ticket_id}/status", json={"status": "resolved"})
    assert resolved.status_code == 200, resolved.text
    assert _since(api.get(f"/api/tickets/{ticket_id}").json()) is None  # resolved: nobody is kept waiting

    reopened = _post(api, ticket_id, "customer-messages", body="Still nothing!")
    assert reopened["ticket"]["status"] == "open"
    assert _since(reopened["ticket"]) == datetime.fromisoformat(reopened["message"]["created_at"])

    for step in ("resolved", "closed"):
        assert api.put(f"/api/tickets/{ticket_id}/status", json={"status": step}).status_code == 200
    assert _since(_post(api, ticket_id, "customer-messages", body="Thanks!")["ticket"]) is None  # closed: final


def test_the_queue_of_customers_waiting_longest(api):
    now = utcnow()
    url = api.app.state.settings.database_url

    def waiting(hours: float | None, **columns) -> str:  # type: ignore[no-untyped-def]
        ticket_id = _ticket(api)["ticket_id"]
        since = None if hours is None else now - timedelta(hours=hours)
        force_ticket(url, ticket_id, awaiting_reply_since=since, **columns)
        return ticket_id

    two_hours = waiting(2)
    two_days = waiting(48, status="pending")
    answered = waiting(None, status="open")
    resolved_waiting = waiting(100, status="resolved")  # as stored by hand: the status decides
    ten_minutes = waiting(1 / 6)

    def ids(query: str) -> list[str]:
        response = api.get(f"/api/tickets/?{query}")
        assert response.status_code == 200, response.text
        return [t["ticket_id"] for t in response.json()]

    assert ids("awaiting_reply=true&sort=awaiting") == [two_days, two_hours, ten_minutes]
    assert set(ids("awaiting_reply=false")) == {answered, resolved_waiting}
    assert ids("sort=awaiting")[-1] == answered  # none awaited: last
    overview = api.get("/api/overview").json()
    assert overview["awaiting_reply"] == 3
    assert datetime.fromisoformat(overview["oldest_awaiting_reply_since"]) == now - timedelta(hours=48)
    response = api.get("/api/tickets/?awaiting_reply=soon")
    assert response.status_code == 422 and "awaiting_reply" in response.json()["detail"], response.text
    assert api.get("/api/tickets/?sort=waiting").status_code == 422


def test_an_empty_queue_awaits_nobody(api):
    overview = api.get("/api/overview").json()
    assert overview["awaiting_reply"] == 0 and overview["oldest_awaiting_reply_since"] is None


def test_migration_backfills_who_is_waiting(bare_db_url):
    """Unresolved tickets only: never answered, since arrival; answered, since the first customer message
    after the last public agent reply (a note is not a reply), or nobody."""
    command.upgrade(alembic_config(bare_db_url), "0013_first_response_targets")
    engine = sa.create_engine(bare_db_url)
    with engine.begin() as conn:
        insert_customer(conn)
        for ticket_id, status, answered in (
            ("NEVER", "new", None), ("WROTE", "open", 1), ("REPLIED", "pending", 1),
            ("NOTED", "open", 1), ("DONE", "resolved", None),
        ):  # fmt: skip
            insert_ticket(conn, ticket_id, status, answered)
        messages = (
            ("WROTE", "agent", False, 1), ("WROTE", "customer", None, 2), ("WROTE", "customer", None, 3),
            ("REPLIED", "agent", False, 1), ("REPLIED", "customer", None, 2), ("REPLIED", "agent", False, 4),
            ("NOTED", "agent", False, 1), ("NOTED", "customer", None, 2), ("NOTED", "agent", True, 3),
        )  # fmt: skip
        for ticket_id, author, internal, at in messages:
            insert_message(conn, ticket_id, author, internal, at)
    run_migrations(bare_db_url)
    from shared.models import UTCDateTime

    with engine.connect() as conn:
        column = sa.column("awaiting_reply_since", UTCDateTime())
        rows = dict(conn.execute(sa.select(sa.column("ticket_id"), column).select_from(sa.table("tickets"))).all())
    engine.dispose()
    expected = {"NEVER": hour(0), "WROTE": hour(2), "REPLIED": None, "NOTED": hour(2), "DONE": None}
    assert rows == expected
