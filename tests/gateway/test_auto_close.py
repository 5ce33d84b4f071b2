"""Tickets moved on by the sweeper: resolved ones closed after AUTO_CLOSE_AFTER_HOURS (which tickets, counted
from what, the history's actor, the channel's delivery marked automatic, the pass's order and limit, a
reopen racing the pass, the setting turned off) and pending ones resolved after AUTO_SOLVE_PENDING_AFTER_HOURS
(off by default; the clock, the customer answering first, the migration's backfill). Each database, real
Redis, a real receiver."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from classifier_worker.delivery import deliver
from gateway.services.lifecycle import CLOSE, SOLVE, close_resolved, move, solve_pending
from gateway.sweeper import sweep_once
from shared.models import StatusDelivery, Ticket, utcnow
from shared.outbox import STATUSES
from shared.schemas import Status
from tests.conftest import force_ticket
from tests.gateway.conftest import queued_replies, stored, web_ticket

DAY = timedelta(days=1)


def _move(api, ticket_id: str, status: str) -> None:  # type: ignore[no-untyped-def]
    response = api.put(f"/api/tickets/{ticket_id}/status", json={"status": status})
    assert response.status_code == 200, response.text


def _resolved(api, db_url: str, days_ago: float, **extra: object) -> str:  # type: ignore[no-untyped-def]
    """A ticket an agent resolved `days_ago` days ago."""
    ticket_id = web_ticket(api, **extra)
    _move(api, ticket_id, "resolved")
    force_ticket(db_url, ticket_id, resolved_at=utcnow() - days_ago * DAY)
    return ticket_id


def _status(api, ticket_id: str) -> str:  # type: ignore[no-untyped-def]
    return api.get(f"/api/tickets/{ticket_id}").json()["status"]


def test_tickets_resolved_past_the_window_are_closed_by_the_pass(  # type: ignore[no-untyped-def]
    channel, db_url, session_factory, receiver, redis_client
):
    api, settings = channel
    old = _resolved(api, db_url, 5)  # 120 h ago, past the default 96
    recent = _resolved(api, db_url, 3)
    vendor = _resolved(api, db_url, 6, source="zendesk")  # closed too; its backend is Zendesk, told nothing
    still_open = web_ticket(api)
    pending = web_ticket(api)
    _move(api, pending, "pending")
    force_ticket(db_url, still_open, created_at=utcnow() - 30 * DAY)
    before = api.get(f"/api/tickets/{old}").json()
    redis_client.delete("replies")  # the resolves' own deliveries
    delivered_before = len(stored(session_factory, StatusDelivery, StatusDelivery.created_at))

    swept = sweep_once(session_factory, settings)

    assert swept.closed == (vendor, old)  # resolved longest ago first
    assert [_status(api, t) for t in (old, recent, vendor, still_open, pending)] == [
        "closed",
        "resolved",
        "closed",
        "new",
        "pending",
    ]
    after = api.get(f"/api/tickets/{old}").json()
    assert after["resolved_at"] == before["resolved_at"]  # when it was solved, as the overview counts it
    assert after["updated_at"] > before["updated_at"]
    (entry,) = [h for h in api.get(f"/api/tickets/{old}/history").json() if h["new_value"] == "closed"]
    assert (entry["field"], entry["old_value"], entry["actor"]) == ("status", "resolved", "system:auto-close")

    rows = stored(session_factory, StatusDelivery, StatusDelivery.created_at)
    assert len(rows) == delivered_before + 1  # the web ticket's close; the Zendesk ticket's is not sent
    row = rows[-1]
    assert (row.ticket_id, row.previous_status, row.status) == (old, "resolved", "closed")
    (task,) = queued_replies(redis_client)
    assert task["headers"]["argsrepr"] == repr([row.delivery_id])
    assert deliver(row.delivery_id, settings=settings, factory=session_factory, outbox=STATUSES).status == "delivered"
    body = json.loads(receiver.received[-1].body)
    assert body["status"] == {"from": "resolved", "to": "closed", "automatic": True}
    assert body["ticket"]["ticket_id"] == old and body["ticket"]["status"] == "closed"

    assert sweep_once(session_factory, settings).closed == ()  # nothing left due
    force_ticket(db_url, recent, resolved_at=utcnow() - 4 * DAY - timedelta(minutes=1))
    assert sweep_once(session_factory, settings).closed == (recent,)


def test_the_count_starts_at_the_latest_resolution(api, db_url, session_factory, settings_for):  # type: ignore[no-untyped-def]
    settings = settings_for(db_url)
    ticket_id = _resolved(api, db_url, 10)
    written = api.post(f"/api/tickets/{ticket_id}/customer-messages", json={"body": "It broke again."})
    assert written.status_code == 201 and written.json()["ticket"]["status"] == "open"
    with session_factory() as session:
        assert close_resolved(session, settings) == []  # reopened: nothing resolved any more
        _move(api, ticket_id, "resolved")  # resolved again, now
        assert close_resolved(session, settings) == []
        assert close_resolved(session, settings, now=utcnow() + 4 * DAY - timedelta(minutes=1)) == []
        assert close_resolved(session, settings, now=utcnow() + 4 * DAY + timedelta(minutes=1)) == [ticket_id]
    assert _status(api, ticket_id) == "closed"


def test_a_pass_closes_at_most_its_limit_the_longest_resolved_first(api, db_url, session_factory, settings_for):  # type: ignore[no-untyped-def]
    settings = settings_for(db_url, auto_close_after_hours=24)
    tickets = [_resolved(api, db_url, days) for days in (2, 4, 3)]
    with session_factory() as session:
        assert close_resolved(session, settings, limit=2) == [tickets[1], tickets[2]]
        assert close_resolved(session, settings, limit=2) == [tickets[0]]
        assert close_resolved(session, settings, limit=2) == []


def test_a_reopen_between_the_read_and_the_close_wins(api, db_url, session_factory, settings_for):  # type: ignore[no-untyped-def]
    """The pass read the ticket resolved; the customer's message commits before its claim."""
    ticket_id = _resolved(api, db_url, 5)
    with session_factory() as session:
        read_at = session.get(Ticket, ticket_id).resolved_at  # type: ignore[union-attr]
        session.rollback()
        assert api.post(f"/api/tickets/{ticket_id}/customer-messages", json={"body": "Still broken"}).status_code == 201
        assert move(session, CLOSE, ticket_id, read_at, frozenset({Status.closed})) is False
        _move(api, ticket_id, "resolved")  # resolved again: a new resolution time, not the one read
        assert move(session, CLOSE, ticket_id, read_at, frozenset({Status.closed})) is False
    assert _status(api, ticket_id) == "resolved"
    history = [h for h in api.get(f"/api/tickets/{ticket_id}/history").json() if h["field"] == "status"]
    assert CLOSE.actor not in {h["actor"] for h in history}


def test_empty_setting_closes_nothing(api, db_url, session_factory, settings_for):  # type: ignore[no-untyped-def]
    ticket_id = _resolved(api, db_url, 400)
    settings = settings_for(db_url, auto_close_after_hours="")
    assert settings.auto_close_after_hours is None
    assert sweep_once(session_factory, settings).closed == ()
    assert _status(api, ticket_id) == "resolved"


def _utc(at: datetime | str) -> datetime:
    """A time as the API writes it, or as stored (SQLite hands it back naive, in UTC), as an aware UTC time."""
    at = datetime.fromisoformat(at) if isinstance(at, str) else at
    return at.astimezone(UTC) if at.tzinfo else at.replace(tzinfo=UTC)


def _pending(api, db_url: str, days_ago: float) -> str:  # type: ignore[no-untyped-def]
    """A ticket an agent set pending `days_ago` days ago."""
    ticket_id = web_ticket(api)
    _move(api, ticket_id, "pending")
    force_ticket(db_url, ticket_id, pending_since=utcnow() - days_ago * DAY)
    return ticket_id


def test_pending_tickets_are_resolved_only_when_set_and_then_closed_later(  # type: ignore[no-untyped-def]
    channel, db_url, session_factory, receiver, redis_client
):
    api, settings = channel
    stale, fresh = _pending(api, db_url, 8), _pending(api, db_url, 2)
    answered = _pending(api, db_url, 9)
    assert api.post(f"/api/tickets/{answered}/customer-messages", json={"body": "Here it is."}).status_code == 201
    redis_client.delete("replies")
    assert sweep_once(session_factory, settings).solved == ()  # off by default
    assert _status(api, stale) == "pending"
    with session_factory() as session:
        since = session.get(Ticket, stale).pending_since  # type: ignore[union-attr]
    assert since is not None and _utc(api.get(f"/api/tickets/{stale}").json()["pending_since"]) == _utc(since)
    assert api.get(f"/api/tickets/{answered}").json()["pending_since"] is None  # reopened: no longer pending

    on = settings.model_copy(update={"auto_solve_pending_after_hours": 168.0})
    swept = sweep_once(session_factory, on)
    assert swept.solved == (stale,) and swept.closed == ()  # resolved now: due to close in 96 h, not this pass
    assert [_status(api, t) for t in (stale, fresh, answered)] == ["resolved", "pending", "open"]
    ticket = api.get(f"/api/tickets/{stale}").json()
    assert ticket["resolved_at"] is not None and ticket["awaiting_reply_since"] is None
    assert ticket["pending_since"] is None  # the column keeps it; the view shows it only while pending
    (entry,) = [h for h in api.get(f"/api/tickets/{stale}/history").json() if h["new_value"] == "resolved"]
    assert (entry["old_value"], entry["actor"]) == ("pending", "system:auto-solve")
    (row,) = [r for r in stored(session_factory, StatusDelivery, StatusDelivery.created_at) if r.ticket_id == stale]
    assert (row.previous_status, row.status, row.payload["status"]["automatic"]) == ("pending", "resolved", True)
    assert len(queued_replies(redis_client)) == 1

    with session_factory() as session:
        assert close_resolved(session, on, now=utcnow() + 4 * DAY + timedelta(minutes=1)) == [stale]


def test_setting_pending_again_restarts_the_clock_and_a_race_is_lost(api, db_url, session_factory, settings_for):  # type: ignore[no-untyped-def]
    settings = settings_for(db_url, auto_solve_pending_after_hours=24)
    assert settings_for(db_url, auto_solve_pending_after_hours="").auto_solve_pending_after_hours is None  # compose
    ticket_id = _pending(api, db_url, 3)
    with session_factory() as session:
        read_at = session.get(Ticket, ticket_id).pending_since  # type: ignore[union-attr]
        session.rollback()
        _move(api, ticket_id, "open")
        _move(api, ticket_id, "pending")  # pending again: from now
        again = api.get(f"/api/tickets/{ticket_id}").json()["pending_since"]
        assert read_at is not None and _utc(again) > _utc(read_at) + 2 * DAY
        assert move(session, SOLVE, ticket_id, read_at, frozenset()) is False  # the pass's read is stale
        assert solve_pending(session, settings) == []
        assert solve_pending(session, settings, now=utcnow() + timedelta(hours=24, minutes=1)) == [ticket_id]
    assert _status(api, ticket_id) == "resolved"


def test_migration_backfills_when_pending_tickets_were_set_pending(bare_db_url) -> None:  # type: ignore[no-untyped-def]
    """From the history's latest move to pending, else the ticket's `updated_at`; others stay NULL."""
    import sqlalchemy as sa
    from alembic import command

    from shared.db import alembic_config, run_migrations
    from tests.legacy_rows import hour, insert_customer, insert_ticket

    command.upgrade(alembic_config(bare_db_url), "0031_follow_ups")
    engine = sa.create_engine(bare_db_url)
    with engine.begin() as conn:
        insert_customer(conn)
        for ticket_id, status in (("T1", "pending"), ("T2", "pending"), ("T3", "open")):
            insert_ticket(conn, ticket_id, status=status)
        for at, new in ((1, "pending"), (2, "open"), (5, "pending")):
            conn.execute(
                sa.text(
                    "INSERT INTO audit_log (ticket_id, field, old_value, new_value, actor, created_at)"
                    " VALUES ('T1', 'status', 'x', :new, 'a', :at)"
                ),
                {"new": new, "at": hour(at).isoformat()},
            )
    run_migrations(bare_db_url)
    with engine.connect() as conn:
        rows = dict(conn.execute(sa.text("SELECT ticket_id, pending_since FROM tickets ORDER BY ticket_id")).all())
    engine.dispose()

    def when(value):  # type: ignore[no-untyped-def]
        value = datetime.fromisoformat(value) if isinstance(value, str) else value  # SQLite: text
        return value if value.tzinfo else value.replace(tzinfo=UTC)

    assert when(rows["T1"]) == hour(5) and when(rows["T2"]) == hour(0) and rows["T3"] is None
