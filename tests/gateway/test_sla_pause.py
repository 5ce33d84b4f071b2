"""SLA_PAUSE_IN_PENDING on SQLite and PostgreSQL: the resolution clock stands still while a ticket waits on its
customer. One database read by two gateways, one pausing and one not (the default), shows the same tickets
both ways: due time, overdue list and count, the due order, what runs out soon, the week's resolution
figures and the due alerts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from gateway.services.due_alerts import alert_due_tickets
from shared.db import session_scope
from shared.models import Alert, Ticket
from tests.conftest import force_ticket
from tests.gateway.conftest import listed_ids, parse_time, read_ticket, web_ticket

HIGH = timedelta(hours=24)  # the default resolution target of a high ticket


@pytest.fixture
def gateways(client_for, db_url):  # type: ignore[no-untyped-def]
    """(pausing, running): two gateways over one database, with and without SLA_PAUSE_IN_PENDING."""
    return client_for(db_url, sla_pause_in_pending=True), client_for(db_url)


def _high(api, db_url: str, arrived: datetime) -> str:  # type: ignore[no-untyped-def]
    """A high ticket that arrived at `arrived` (its resolution clock from then, as a new ticket's is), answered
    then, so that only its resolution target runs."""
    ticket_id = web_ticket(api)
    answered = {"first_response_at": arrived, "awaiting_reply_since": None}
    force_ticket(db_url, ticket_id, priority="high", created_at=arrived, resolution_counted_from=arrived, **answered)
    return ticket_id


def _move(api, ticket_id: str, status: str) -> None:  # type: ignore[no-untyped-def]
    response = api.put(f"/api/tickets/{ticket_id}/status", json={"status": status})
    assert response.status_code == 200, response.text


def _overdue_high(api) -> int:  # type: ignore[no-untyped-def]
    return api.get("/api/overview").json()["unresolved_overdue_by_priority"]["high"]  # type: ignore[no-any-return]


def _near(value: str | None, expected: datetime) -> bool:
    """Within a minute: the stay ends when the request runs, a few seconds after the test's clock read."""
    at = parse_time(value)
    return at is not None and abs(at - expected) < timedelta(minutes=1)


def test_a_stay_in_pending_moves_the_due_time_and_nothing_pending_is_overdue(gateways, db_url) -> None:  # type: ignore[no-untyped-def]
    pausing, running = gateways
    now = datetime.now(UTC)
    arrived = now - timedelta(hours=30)  # 30 h ago: 6 h past the 24 h target, if nothing pauses
    waiting = _high(pausing, db_url, arrived)
    _move(pausing, waiting, "pending")
    force_ticket(db_url, waiting, pending_since=now - timedelta(hours=10))  # set pending 10 h ago
    working = _high(pausing, db_url, now - timedelta(hours=22))  # never pending: 2 h left either way

    # pending: no due time, not overdue, sorted last, while the clock that runs counts it late
    assert read_ticket(pausing, waiting)["due_at"] is None
    assert parse_time(read_ticket(running, waiting)["due_at"]) == arrived + HIGH
    assert listed_ids(pausing, overdue=True) == [] and listed_ids(running, overdue=True) == [waiting]
    assert listed_ids(pausing, overdue=False) == [working, waiting]
    assert (_overdue_high(pausing), _overdue_high(running)) == (0, 1)
    assert listed_ids(pausing, sort="due") == [working, waiting]
    assert listed_ids(running, sort="due") == [waiting, working]

    # an agent takes it back: the 10 h stay moves the clock's start, 20 h of its 24 h used, 4 h left
    _move(pausing, waiting, "open")
    assert _near(read_ticket(pausing, waiting)["due_at"], arrived + timedelta(hours=10) + HIGH)
    assert parse_time(read_ticket(running, waiting)["due_at"]) == arrived + HIGH  # unchanged without pausing
    assert listed_ids(pausing, overdue=True) == [] and listed_ids(running, overdue=True) == [waiting]
    assert listed_ids(pausing, sort="due") == [working, waiting]  # 2 h left, then 4 h
    assert listed_ids(pausing, due_within_minutes=300, sort="due") == [working, waiting]  # both within 5 h
    assert listed_ids(pausing, due_within_minutes=180) == [working]
    assert listed_ids(running, due_within_minutes=300) == [working]  # the other is past its target already

    # set pending again for 2 h, then the customer writes: both stays count
    _move(pausing, waiting, "pending")
    force_ticket(db_url, waiting, pending_since=datetime.now(UTC) - timedelta(hours=2))
    posted = pausing.post(f"/api/tickets/{waiting}/customer-messages", json={"body": "Any news?"})
    assert posted.status_code == 201, posted.text
    shown = read_ticket(pausing, waiting)
    assert shown["status"] == "open" and _near(shown["due_at"], arrived + timedelta(hours=12) + HIGH)


def test_the_weeks_resolutions_leave_the_time_pending_out(gateways, db_url) -> None:  # type: ignore[no-untyped-def]
    """Resolved 30 h after arrival, 10 of them pending: within the 24 h target only when the clock pauses."""
    pausing, running = gateways
    now = datetime.now(UTC)
    ticket_id = _high(pausing, db_url, now - timedelta(hours=30))
    _move(pausing, ticket_id, "pending")
    force_ticket(db_url, ticket_id, pending_since=now - timedelta(hours=10))
    _move(pausing, ticket_id, "resolved")  # solved from pending: the stay ends there too

    paused = pausing.get("/api/overview").json()["resolved_last_7d"]
    counted = running.get("/api/overview").json()["resolved_last_7d"]
    assert (paused["resolved"], paused["within_target"], counted["within_target"]) == (1, 1.0, 0.0)
    assert 19.9 < paused["p50_hours"] < 20.1 and 29.9 < counted["p50_hours"] < 30.1


def test_due_alerts_wait_while_pending_and_count_from_the_moved_start(  # type: ignore[no-untyped-def]
    gateways, db_url, session_factory, settings_for, receiver
) -> None:
    pausing, _ = gateways
    values = {"alert_webhook_url": receiver.url, "alert_due_within_minutes": 60}
    paused, plain = settings_for(db_url, sla_pause_in_pending=True, **values), settings_for(db_url, **values)
    now = datetime.now(UTC)
    arrived = now - timedelta(hours=23, minutes=30)  # 30 min left on the 24 h target, if nothing pauses
    ticket_id = _high(pausing, db_url, arrived)
    _move(pausing, ticket_id, "pending")
    force_ticket(db_url, ticket_id, pending_since=now - timedelta(hours=2))

    def due_pass(settings, at: datetime) -> list[tuple[str, str, datetime]]:  # type: ignore[no-untyped-def]
        with session_scope(session_factory) as session:
            ids = alert_due_tickets(session, settings, now=at)
            return [(a.ticket_id, a.event, a.counted_from) for a in (session.get(Alert, i) for i in ids) if a]

    assert due_pass(paused, now) == []  # pending: its clock stands still
    _move(pausing, ticket_id, "open")  # 2 h later than it would have: 2 h 30 min left
    with session_scope(session_factory) as session:
        start = session.get(Ticket, ticket_id).resolution_counted_from
    assert abs(start - (arrived + timedelta(hours=2))) < timedelta(minutes=1)
    assert due_pass(paused, now) == []
    [(alerted, event, counted_from)] = due_pass(paused, now + timedelta(hours=2))  # 30 min left then
    assert (alerted, event, counted_from) == (ticket_id, "ticket.resolution_due", start)
    [(_, _, from_arrival)] = due_pass(plain, now)  # the clock that runs: 30 min left now, from arrival
    assert from_arrival == arrived


def test_a_new_ticket_counts_from_its_arrival_on_either_path(client_for, db_url, session_factory) -> None:  # type: ignore[no-untyped-def]
    """The form (PostgreSQL's single statement, or the ORM's path), a follow-up and a row written without it."""
    api = client_for(db_url, sla_pause_in_pending=True)
    ticket_id = web_ticket(api)
    with session_scope(session_factory) as session:
        session.add(Ticket(ticket_id="T-ORM", customer_id=session.get(Ticket, ticket_id).customer_id, subject="s",
                           description="d", created_at=datetime(2026, 12, 1, 9, tzinfo=UTC)))  # fmt: skip
    with session_scope(session_factory) as session:
        for row in (session.get(Ticket, ticket_id), session.get(Ticket, "T-ORM")):
            assert row is not None and row.resolution_counted_from == row.created_at


def test_a_ticket_back_from_a_week_pending_is_found_by_what_runs_out_soon(gateways, db_url) -> None:  # type: ignore[no-untyped-def]
    """Its arrival lies before any priority's target span, its moved start does not: the range on the start
    column finds it (the arrival's would not)."""
    pausing, running = gateways
    now = datetime.now(UTC)
    ticket_id = _high(pausing, db_url, now - timedelta(days=8))
    _move(pausing, ticket_id, "pending")
    force_ticket(db_url, ticket_id, pending_since=now - timedelta(days=7, hours=20))
    _move(pausing, ticket_id, "open")  # 4 h used: 20 h left
    assert listed_ids(pausing, due_within_minutes=1440) == [ticket_id]
    assert listed_ids(running, due_within_minutes=1440) == [] and listed_ids(running, overdue=True) == [ticket_id]
