"""An agent's text search of the tickets (`GET /api/tickets/?q=`), on SQLite and PostgreSQL: each word or
"phrase" must be somewhere in the ticket (subject, description, messages, the customer's name or email), in any
letter case, with LIKE's wildcards taken literally; what it refuses; and, on PostgreSQL, the trigram indexes
migration 0027 builds, or their absence where the role may not install pg_trgm."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from benchmarks.support import fresh_database
from gateway.services import search
from gateway.services.search import RECENT_TICKETS, ROW_SCAN_TICKETS, has_for, text_matches
from shared.db import SEARCH_INDEXES, make_engine, run_migrations
from shared.models import Ticket
from tests.conftest import PG_ADMIN_URL, SESSION_TAG
from tests.gateway.conftest import web_ticket


def _create(api, subject: str, description: str, email: str, name: str) -> str:  # type: ignore[no-untyped-def]
    """A web ticket with this text from this customer; its id."""
    return web_ticket(api, subject=subject, description=description, customer_email=email, customer_name=name)


def _search(api, q: str, **filters: object) -> list[str]:  # type: ignore[no-untyped-def]
    response = api.get("/api/tickets/", params={"q": q, **filters})
    assert response.status_code == 200, response.text
    return [t["ticket_id"] for t in response.json()]


@pytest.mark.parametrize(
    ("window", "rows"),
    [(RECENT_TICKETS, ROW_SCAN_TICKETS), (2, ROW_SCAN_TICKETS), (0, ROW_SCAN_TICKETS), (2, 0), (0, 0)],
    ids=["walked", "walked-then-read", "read", "walked-then-collected", "collected"],
)
def test_each_term_is_found_anywhere_in_the_ticket_in_any_case(api, monkeypatch, window: int, rows: int) -> None:  # type: ignore[no-untyped-def]
    """The same answers whether the newest (oldest) tickets held the page (all 4 here, or 2 of them), or the
    tickets were read row by row or collected through the indexes."""
    monkeypatch.setattr(search, "RECENT_TICKETS", window)
    monkeypatch.setattr(search, "ROW_SCAN_TICKETS", rows)
    jug = _create(api, "Blender arrived broken", "The glass jug cracked in transit.", "ann@example.com", "Ann Lee")
    kettle = _create(api, "Refund for the kettle", "Please refund my order, it leaks.", "bo@shop.test", "Bo Kim")
    parcel = _create(api, "Where is my parcel?", "Tracking says delivered.", "cy@example.com", "Cy Diaz")
    paths = _create(api, "Charged twice", r"I paid 100% twice, receipt in C:\Users\me", "di@example.com", "Di Ng")
    note = {"body": "Customer sent photos of the crack.", "internal": True}
    assert api.post(f"/api/tickets/{jug}/messages", json=note).status_code == 201
    reply = {"body": "We opened a claim with the CARRIER for your parcel."}
    assert api.post(f"/api/tickets/{parcel}/messages", json=reply).status_code == 201

    assert _search(api, "kettle") == [kettle]  # subject
    assert _search(api, "KETTLE Leaks") == [kettle]  # and description, any letter case
    assert _search(api, "refund blender") == []  # every term in the same ticket
    assert _search(api, "carrier claim") == [parcel]  # an agent's reply
    assert _search(api, "photos") == [jug]  # an internal note: only agents search
    assert _search(api, "diaz") == [parcel]  # the customer's name
    assert _search(api, "shop.test") == [kettle]  # and email
    assert _search(api, '"glass jug"') == [jug]  # a phrase, in its order
    assert _search(api, '"jug glass"') == []
    assert _search(api, '" glass   jug "') == [jug]  # its spaces as one, as typed or pasted
    assert _search(api, "crack") == [jug]  # inside a word, once though found twice
    assert _search(api, "bl\x00ender") == [jug]  # NUL dropped, as from the ticket's own text
    assert _search(api, 'a "kettle') == [kettle]  # one letter is a term too; a lone quote is not
    # the first 8 terms count: the 9th, found nowhere, is not used; a repeat in another letter case counts once
    assert _search(api, "kettle for the please my order leaks it samovar") == [kettle]
    assert _search(api, "kettle KETTLE for the please my order leaks samovar") == []
    assert _search(api, "example.com") == [paths, parcel, jug]  # newest first
    assert _search(api, "example.com", limit=2) == [paths, parcel]  # the newest two held the page
    assert _search(api, "example.com", limit=2, offset=1) == [parcel, jug]  # they did not
    assert _search(api, "example.com", sort="oldest", limit=1) == [jug]  # the oldest two held it
    assert _search(api, "example.com", sort="oldest", limit=2) == [jug, parcel]  # they did not
    assert _search(api, "example.com", offset=2) == [jug]
    assert _search(api, "example.com", customer_email="cy@example.com") == [parcel]  # with the other filters
    assert _search(api, "example.com", awaiting_reply=False) == [parcel]  # every one of them (answered)
    # LIKE's wildcards and its escape character are the text they are
    assert _search(api, "0%") == [paths]
    assert _search(api, "%%") == []
    assert _search(api, "__") == []
    assert _search(api, r"c:\users") == [paths]
    assert _search(api, r"\u") == [paths]
    assert _search(api, r"\\") == []

    erased = api.post(f"/api/tickets/{kettle}/erase")
    assert erased.status_code == 200, erased.text
    assert _search(api, "kettle") == []  # its text is gone
    assert _search(api, "bo@shop.test") == []  # and the erased ticket is no longer the customer's


def test_a_search_with_nothing_to_find_or_too_long_is_refused(api) -> None:  # type: ignore[no-untyped-def]
    for q, says in (
        ("", "has nothing to search for"),
        ('  "" \u2003"', "has nothing to search for"),  # spaces (an em space too) and quotes only
        ("\x00", "has nothing to search for"),  # NUL is dropped, as from the ticket's own text
        ("x" * 201, "at most 200 characters"),
    ):
        response = api.get("/api/tickets/", params={"q": q})
        assert response.status_code == 422, (q, response.text)
        assert "q" in response.json()["detail"] and says in response.json()["detail"], (q, response.text)


def _indexes(url: str) -> set[str]:
    engine = make_engine(url)
    with engine.connect() as conn:
        names = set(conn.scalars(sa.text("SELECT indexname FROM pg_indexes WHERE indexname LIKE '%_trgm'")))
    engine.dispose()
    return names


def test_postgresql_searches_through_trigram_indexes(pg_url) -> None:  # type: ignore[no-untyped-def]
    assert _indexes(pg_url) == SEARCH_INDEXES
    engine = make_engine(pg_url)
    query = sa.select(Ticket.ticket_id).where(
        *text_matches("kettle", has_for("postgresql"))
    )  # as the ticket list filters
    sql = query.compile(dialect=engine.dialect, compile_kwargs={"literal_binds": True})
    with engine.connect() as conn:
        conn.execute(sa.text("SET enable_seqscan = off"))  # a few rows: otherwise reading them is cheaper
        plan = "\n".join(conn.scalars(sa.text(f"EXPLAIN {sql}")))
    engine.dispose()
    for name in SEARCH_INDEXES:
        assert f"Bitmap Index Scan on {name}" in plan, plan


def test_without_pg_trgm_the_migration_goes_on_and_search_reads_the_rows(client_for, redis_client, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A role that may not install an extension (no CREATE on its database) migrates without the indexes."""
    name, role = f"copilot_test_{SESSION_TAG}_notrgm", f"copilot_test_{SESSION_TAG}_app"
    owner_url = fresh_database("postgresql", tmp_path, name, PG_ADMIN_URL)
    owner = sa.create_engine(owner_url, isolation_level="AUTOCOMMIT")
    with owner.connect() as conn:
        conn.execute(sa.text(f'DROP ROLE IF EXISTS "{role}"'))
        conn.execute(sa.text(f'CREATE ROLE "{role}" LOGIN'))
        conn.execute(sa.text(f'GRANT CONNECT ON DATABASE "{name}" TO "{role}"'))
        conn.execute(sa.text(f'GRANT ALL ON SCHEMA public TO "{role}"'))
    owner.dispose()
    url = make_url(owner_url).set(username=role, password=None).render_as_string(hide_password=False)
    try:
        run_migrations(url)
        assert _indexes(url) == set()
        api = client_for(url)
        kettle = _create(api, "Refund for the kettle", "It leaks.", "bo@shop.test", "Bo Kim")
        _create(api, "Where is my parcel?", "Tracking says delivered.", "cy@example.com", "Cy Diaz")
        assert _search(api, "Kettle leaks") == [kettle]
    finally:
        root = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
        with root.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            conn.execute(sa.text(f'DROP ROLE IF EXISTS "{role}"'))
        root.dispose()
