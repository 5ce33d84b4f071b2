"""How long customers who wrote again waited for the next public agent reply (`waited_since` on that reply),
on SQLite and PostgreSQL: what the replies record, through the API and under concurrent replies, the
overview's week of next reply times, and what migration 0015 backfills."""

from __future__ import annotations

import threading
from datetime import timedelta

import sqlalchemy as sa
from alembic import command

from gateway.services.replies import add_message
from gateway.services.tickets import create_ticket
from shared.db import alembic_config, run_migrations
from shared.models import TicketMessage, UTCDateTime, utcnow
from shared.schemas import ReplyCreate, TicketCreate
from tests.conftest import force_ticket
from tests.legacy_rows import hour, insert_customer, insert_message, insert_ticket

TICKET = {"customer_email": "again@example.com", "subject": "Refund?", "description": "Where is my refund?"}


def _post(api, ticket_id: str, route: str, **body) -> dict:  # type: ignore[no-untyped-def]
    response = api.post(f"/api/tickets/{ticket_id}/{route}", json=body)
    assert response.status_code == 201, response.text
    return response.json()["message"]


def test_a_reply_to_a_customer_writing_again_records_when_they_wrote(api):
    ticket_id = api.post("/api/tickets/create", json=TICKET).json()["ticket"]["ticket_id"]
    assert _post(api, ticket_id, "messages", body="Refund sent.")["waited_since"] is None  # the first response

    wrote = _post(api, ticket_id, "customer-messages", body="Not on my card yet.")
    _post(api, ticket_id, "customer-messages", body="Hello??")
    assert _post(api, ticket_id, "messages", body="Looking.", internal=True)["waited_since"] is None  # a note
    answer = _post(api, ticket_id, "messages", body="It takes 3-5 days.")
    assert answer["waited_since"] == wrote["created_at"]  # from their first message since the last reply
    assert _post(api, ticket_id, "messages", body="Anything else?")["waited_since"] is None  # nobody waited

    listed = api.get(f"/api/tickets/{ticket_id}/messages").json()
    assert [m["waited_since"] for m in listed if m["waited_since"]] == [wrote["created_at"]]


def test_overview_reports_the_weeks_next_reply_times(api, session_factory):
    """Next reply targets by default: high 8 h, low 24 h. Waits of 1, 3 and 10 h on a high ticket, 20 h on a
    low one and 2 h on one without a priority; a reply 8 days ago and a first reply are not counted."""
    now = utcnow()
    url = api.app.state.settings.database_url

    def ticket(**columns) -> str:  # type: ignore[no-untyped-def]
        ticket_id = api.post("/api/tickets/create", json=TICKET).json()["ticket"]["ticket_id"]
        force_ticket(url, ticket_id, **columns)
        return ticket_id

    assert api.get("/api/overview").json()["next_reply_last_7d"] == {
        "replies": 0, "p50_hours": None, "p90_hours": None, "within_target": None,
    }  # fmt: skip
    high, low, untargeted = ticket(priority="high"), ticket(priority="low"), ticket()
    with session_factory() as session:
        for ticket_id, hours_ago, waited_h in (
            (high, 1, 1), (high, 30, 3), (high, 50, 10), (low, 2, 20), (untargeted, 5, 2),
            (high, 24 * 8, 5), (low, 3, None),
        ):  # fmt: skip
            at = now - timedelta(hours=hours_ago)
            session.add(
                TicketMessage(
                    ticket_id=ticket_id, source="api", author_type="agent", body="b", internal=False,
                    created_at=at, waited_since=None if waited_h is None else at - timedelta(hours=waited_h),
                )
            )  # fmt: skip
        session.commit()
    week = api.get("/api/overview").json()["next_reply_last_7d"]
    assert week == {"replies": 5, "p50_hours": 3.0, "p90_hours": 20.0, "within_target": 0.75}  # of 1, 2, 3, 10, 20 h


def test_of_concurrent_replies_only_one_answers_the_wait(session_factory, redis_client):
    with session_factory() as session:
        ticket_id = create_ticket(session, TicketCreate(**TICKET)).ticket_id
        add_message(session, ticket_id, ReplyCreate(body="Refund sent."), author_type="agent", author="a0")
        add_message(session, ticket_id, ReplyCreate(body="Still nothing."), author_type="customer", author="c")

    barrier = threading.Barrier(6)
    errors: list[BaseException] = []

    def reply(n: int) -> None:
        with session_factory() as session:
            barrier.wait()
            try:
                add_message(session, ticket_id, ReplyCreate(body=f"Answer {n}"), author_type="agent", author=f"a{n}")
            except BaseException as error:  # a deadlock, say: the test reports it
                errors.append(error)

    threads = [threading.Thread(target=reply, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert not errors, errors
    with session_factory() as session:
        query = sa.select(TicketMessage.waited_since).where(TicketMessage.ticket_id == ticket_id,
                                                            TicketMessage.body.like("Answer %"))  # fmt: skip
        waits = list(session.scalars(query))
    assert len(waits) == 6 and sum(w is not None for w in waits) == 1


def test_migration_backfills_the_next_reply_waits(bare_db_url):
    """A public agent reply after an earlier one answered the first customer message between them; a note
    is not a reply, and an agent message whose `internal` was never recorded (NULL) is neither."""
    command.upgrade(alembic_config(bare_db_url), "0014_awaiting_reply")
    engine = sa.create_engine(bare_db_url)
    with engine.begin() as conn:
        insert_customer(conn)
        for ticket_id in ("T1", "T2"):
            insert_ticket(conn, ticket_id)
        messages = (
            ("T1", "agent", False, 1, "first"), ("T1", "customer", None, 2, "c1"), ("T1", "customer", None, 3, "c2"),
            ("T1", "agent", True, 4, "note"), ("T1", "agent", False, 5, "second"), ("T1", "agent", False, 6, "third"),
            ("T1", "customer", None, 7, "c3"), ("T1", "agent", False, 8, "fourth"),
            ("T2", "agent", None, 1, "old"), ("T2", "customer", None, 2, "c4"), ("T2", "agent", False, 3, "t2"),
        )  # fmt: skip
        for ticket_id, author, internal, at, body in messages:
            insert_message(conn, ticket_id, author, internal, at, body)
    run_migrations(bare_db_url)
    with engine.connect() as conn:
        column = sa.column("waited_since", UTCDateTime())
        table = sa.table("ticket_messages")
        rows = dict(conn.execute(sa.select(sa.column("body"), column).select_from(table)).all())
    engine.dispose()
    assert {body: since for body, since in rows.items() if since is not None} == {"second": hour(2), "fourth": hour(7)}
