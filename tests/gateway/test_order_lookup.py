"""Finding tickets by order id (`?order_id=`): the id given on the form, the ids the classifier found in
the text, and what migration 0009 backfills; and by tracking number (`?tracking_number=`), found in the
text, backfilled by 0011. On SQLite and PostgreSQL, the classifier a real worker."""

from __future__ import annotations

import json

import sqlalchemy as sa
from alembic import command
from sqlalchemy import select

from shared.db import alembic_config, run_migrations
from shared.models import TicketReference
from shared.references import FOUND, GIVEN, TRACKING, replace_found_references
from tests.conftest import _truncate, wait_until

TICKET = {
    "customer_email": "orders@example.com",
    "subject": "Where is my parcel?",
    "description": "It has not arrived yet.",
}


def _create(api, **fields):  # type: ignore[no-untyped-def]
    response = api.post("/api/tickets/create", json={**TICKET, **fields})
    assert response.status_code == 201, response.text
    return response.json()["ticket"]["ticket_id"]


def _found(api, order_id: str, by: str = "order_id") -> list[str]:  # type: ignore[no-untyped-def]
    response = api.get("/api/tickets/", params={by: order_id})
    assert response.status_code == 200, response.text
    return [t["ticket_id"] for t in response.json()]


def _references(session_factory, ticket_id: str) -> list[tuple[str, str]]:  # type: ignore[no-untyped-def]
    with session_factory() as session:
        rows = session.execute(
            select(TicketReference.kind, TicketReference.value)
            .where(TicketReference.ticket_id == ticket_id)
            .order_by(TicketReference.kind, TicketReference.value)
        )
        return [tuple(row) for row in rows]


def test_the_order_id_given_on_the_form_finds_the_ticket_at_once(api, session_factory):
    first = _create(api, order_id=" #a-2021 ")
    second = _create(api, order_id="A-2021")
    _create(api, order_id="A-20210")
    _create(api)

    assert _references(session_factory, first) == [(GIVEN, "A-2021")]
    for query in ("A-2021", "a-2021", "#A-2021", "  a-2021"):
        assert _found(api, query) == [second, first], query  # newest first, still queued
    assert _found(api, "2021") == []  # whole ids, not parts
    assert _found(api, "\x1c") == []  # passes the pattern (not whitespace there), stripped by Python to nothing
    assert _found(api, "#\x85") == []  # U+0085: not whitespace to JSON Schema either, though it is to Rust's regex
    for bad, says in (
        (" # ", "match pattern"),
        ("", "match pattern"),
        ("#", "match pattern"),
        ("\ufeff", "match pattern"),  # whitespace to JSON Schema (ECMAScript), though not to Rust's regex
        ("9" * 101, "at most 100"),
    ):
        response = api.get("/api/tickets/", params={"order_id": bad})
        assert response.status_code == 422 and response.json()["detail"].startswith("query.order_id:"), response.text
        assert says in response.json()["detail"]


def test_found_order_ids_are_replaced_the_given_one_kept(api, session_factory):
    ticket_id = _create(api, order_id="55213")
    with session_factory() as session:
        replace_found_references(session, ticket_id, {"order_ids": ["55213", "#55213", "ord-9", 42, "", "x" * 101]})
        session.commit()
    assert _references(session_factory, ticket_id) == [(GIVEN, "55213"), (FOUND, "55213"), (FOUND, "ORD-9")]
    assert _found(api, "ord-9") == [ticket_id] and _found(api, "55213") == [ticket_id]  # listed once

    with session_factory() as session:  # a re-run's classification: its ids replace the last ones
        replace_found_references(session, ticket_id, {"order_ids": ["77"]})
        replace_found_references(session, ticket_id, {"order_ids": ["77"]})  # a redelivered task writes the same
        session.commit()
    assert _references(session_factory, ticket_id) == [(GIVEN, "55213"), (FOUND, "77")]
    assert _found(api, "ord-9") == [] and _found(api, "77") == [ticket_id]


def test_found_tracking_numbers_are_their_own_lookup_keys(api, session_factory):
    ticket_id = _create(api, order_id="A1")
    other = _create(api)
    numbers = ["1Z999AA10123456784", "1z 999-aa1-0123456784", 42, "", "-", "9" * 101]
    with session_factory() as session:
        replace_found_references(session, ticket_id, {"order_ids": ["B2"], "tracking_numbers": numbers})
        replace_found_references(session, other, {"tracking_numbers": "1Z999AA10123456784"})  # not a list
        session.commit()
    assert _references(session_factory, ticket_id) == [
        (GIVEN, "A1"), (FOUND, "B2"), (TRACKING, "1Z999AA10123456784"),
    ]  # fmt: skip
    assert _references(session_factory, other) == []
    for query in ("1Z999AA10123456784", "1z999aa10123456784", " 1Z 999 AA1 0123 4567 84 ", "1Z-999-AA1-01234567-84"):
        assert _found(api, query, by="tracking_number") == [ticket_id], query
    assert _found(api, "1Z999AA1", by="tracking_number") == []  # whole numbers, not parts
    assert _found(api, "1Z999AA10123456784") == []  # an order id search does not match tracking numbers
    assert _found(api, "B2", by="tracking_number") == []  # nor the other way round
    assert _found(api, "-\x85", by="tracking_number") == []  # passes the pattern, nothing left to look up
    for bad, says in (
        ("", "match pattern"),
        (" - ", "match pattern"),
        ("\ufeff-", "match pattern"),
        ("9" * 101, "at most 100"),
    ):
        response = api.get("/api/tickets/", params={"tracking_number": bad})
        assert response.status_code == 422, response.text
        assert response.json()["detail"].startswith("query.tracking_number:") and says in response.json()["detail"]

    with session_factory() as session:  # a re-run that found none: both found kinds go, the given id stays
        replace_found_references(session, ticket_id, {})
        session.commit()
    assert _references(session_factory, ticket_id) == [(GIVEN, "A1")]
    assert _found(api, "1Z999AA10123456784", by="tracking_number") == []


def test_the_classifier_worker_writes_the_ids_it_finds(client_for, start_worker, pg_url, redis_client):
    _truncate(pg_url)
    start_worker("classifier_worker", pg_url, queues="classify")
    api = client_for(pg_url)
    description = (
        "Order #B-55213 never came, and the replacement order ORD-99871 is late too."
        " UPS tracking 1Z999AA10123456784 shows no movement."
    )
    ticket_id = _create(api, subject="Two late orders", description=description)

    assert wait_until(lambda: api.get(f"/api/tickets/{ticket_id}").json()["processing_state"] == "classified")
    extracted = api.get(f"/api/tickets/{ticket_id}").json()["extracted_metadata"]
    assert {"B-55213", "ORD-99871"} <= set(extracted["order_ids"]), extracted
    assert extracted["tracking_numbers"] == ["1Z999AA10123456784"], extracted
    assert _found(api, "b-55213") == [ticket_id] and _found(api, "#ORD-99871") == [ticket_id]
    assert _found(api, "1z999 aa1 0123 4567 84", by="tracking_number") == [ticket_id]


def _history_at(url: str, revision: str, extracted: dict[str, object], *statements: str) -> None:
    """A database migrated to `revision` holding one classified ticket per `extracted` entry (its
    extracted_metadata), then `statements` run as they are."""
    command.upgrade(alembic_config(url), revision)
    engine = sa.create_engine(url)
    now = "2026-12-01 10:00:00+00:00"
    with engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO customers (customer_id, email, created_at) VALUES ('C1', 'c@x.io', :n)"),
                     {"n": now})  # fmt: skip
        for ticket_id, metadata in extracted.items():
            conn.execute(
                sa.text(
                    "INSERT INTO tickets (ticket_id, customer_id, subject, description, status, needs_review,"
                    " urgency_keywords, extracted_metadata, kb_article_ids, source, processing_state,"
                    " processing_updated_at, created_at, updated_at) VALUES (:t, 'C1', 's', 'd', 'new', false,"
                    " '[]', :e, '[]', 'api', 'done', :n, :n, :n)"
                ),
                {"t": ticket_id, "e": json.dumps(metadata), "n": now},
            )
        for statement in statements:
            conn.execute(sa.text(statement))
    engine.dispose()


def test_migration_backfills_given_and_found_ids(bare_db_url):
    _history_at(
        bare_db_url,
        "0008_key_actors",
        {"T1": {"order_ids": ["#77", "ord-1", "ord-1"]}, "T2": {}, "T3": None},
        "INSERT INTO ticket_metadata (ticket_id, key, value) VALUES ('T2', 'order_id', ' #a9 '),"
        " ('T2', 'zendesk_tags', 'vip'), ('T3', 'order_id', '#')",
    )

    run_migrations(bare_db_url)

    engine = sa.create_engine(bare_db_url)
    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT ticket_id, kind, value FROM ticket_references ORDER BY 1, 2, 3")).all()
    engine.dispose()
    assert [tuple(r) for r in rows] == [("T1", FOUND, "77"), ("T1", FOUND, "ORD-1"), ("T2", GIVEN, "A9")]


def test_migration_backfills_found_tracking_numbers(bare_db_url):
    extracted = {
        "T1": {"order_ids": ["77"], "tracking_numbers": ["1Z999AA10123456784", "1z999aa1-0123456784"]},
        "T2": {"tracking_numbers": "not a list"},
        "T3": {"tracking_numbers": [None, " - ", "940011189922385" + "1234567"]},
    }
    _history_at(
        bare_db_url,
        "0010_resolution_times",
        extracted,
        f"INSERT INTO ticket_references (ticket_id, kind, value) VALUES ('T1', '{FOUND}', '77')",
    )

    run_migrations(bare_db_url)

    engine = sa.create_engine(bare_db_url)
    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT ticket_id, kind, value FROM ticket_references ORDER BY 1, 2, 3")).all()
    engine.dispose()
    assert [tuple(r) for r in rows] == [
        ("T1", FOUND, "77"), ("T1", TRACKING, "1Z999AA10123456784"), ("T3", TRACKING, "9400111899223851234567"),
    ]  # fmt: skip
