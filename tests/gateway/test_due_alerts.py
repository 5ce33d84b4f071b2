"""Alerts for tickets about to miss a target (`gateway.services.due_alerts`): a customer's wait for a reply,
by the first response and then the next reply target, and the resolution target; once per wait and
priority, only near or just past the target, through the urgent alerts' outbox to a real receiver
(each database; the delivery task goes to real Redis)."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from alembic import command

from classifier_worker.delivery import deliver
from gateway.services.due_alerts import CLOCKS, LOOKBACK, _add, alert_due_tickets
from gateway.sweeper import sweep_once
from shared.config import Settings
from shared.db import alembic_config, run_migrations, session_scope
from shared.models import Alert, Ticket, utcnow
from shared.schemas import Priority
from tests.classifier_worker.test_alerts import add_alert, alert_row, rated
from tests.conftest import force_ticket
from tests.legacy_rows import hour, insert_customer, insert_ticket

# Targets far apart, so each test moves one clock: high is answered within 4 h, answered again within 8 h,
# resolved within 48 h; critical within 1 h, 2 h and 24 h; medium answered within 4 h.
TARGETS = {
    "first_response_high_hours": 4, "next_reply_high_hours": 8, "sla_high_hours": 48,
    "first_response_critical_hours": 1, "next_reply_critical_hours": 2, "sla_critical_hours": 24,
    "first_response_medium_hours": 4,
}  # fmt: skip


@pytest.fixture
def settings(db_url, settings_for, receiver) -> Settings:  # type: ignore[no-untyped-def]
    return settings_for(  # type: ignore[no-any-return]
        db_url, alert_webhook_url=receiver.url, alert_ticket_url="https://desk.example.com/t/{ticket_id}", **TARGETS
    )


def waiting(api, db_url: str, priority: str, since: datetime, **values: object) -> str:  # type: ignore[no-untyped-def]
    """A ticket at `priority` whose customer has waited since `since` (and which arrived then, unless given)."""
    ticket_id = rated(api, db_url, priority)
    force_ticket(db_url, ticket_id, **{"created_at": since, "awaiting_reply_since": since, **values})
    return ticket_id


def due_pass(factory, settings: Settings, now: datetime) -> list[Alert]:  # type: ignore[no-untyped-def]
    with session_scope(factory) as session:
        ids = alert_due_tickets(session, settings, now=now)
    return [alert_row(factory, alert_id) for alert_id in ids]


def test_a_wait_about_to_run_past_its_target_alerts_once(api, db_url, session_factory, settings):  # type: ignore[no-untyped-def]
    now = utcnow()
    since = now - timedelta(hours=3, minutes=40)  # the 4 h first response target runs out in 20 min
    soon = waiting(api, db_url, "high", since)
    waiting(api, db_url, "high", now - timedelta(hours=3, minutes=20))  # 40 min left: not yet

    [alert] = due_pass(session_factory, settings, now)

    assert (alert.ticket_id, alert.event, alert.priority, alert.counted_from) == (
        soon,
        "ticket.reply_due",
        "high",
        since,
    )
    body = alert.payload
    assert body["event"] == "ticket.reply_due" and body["id"] == alert.alert_id
    assert body["due"] == {
        "target": "first_response",
        "due_at": (since + timedelta(hours=4)).isoformat(),
        "since": since.isoformat(),
    }
    assert body["text"].startswith(f"HIGH ticket {soon}: first response due in 20 min, unassigned: Everything is down.")
    assert body["text"].endswith(f"https://desk.example.com/t/{soon}")
    assert body["ticket"]["ticket_id"] == soon and body["ticket"]["working_priority"] == "high"
    assert body["ticket"]["assigned_to"] is None
    assert "ops@example.com" not in json.dumps(body)  # as urgent alerts: no customer address

    assert due_pass(session_factory, settings, now + timedelta(minutes=5)) == []  # the same wait: once
    [later] = due_pass(session_factory, settings, now + timedelta(minutes=11))  # the other one, 29 min left
    assert later.ticket_id != soon


def test_each_wait_and_each_target_alerts_on_its_own_clock(api, db_url, session_factory, settings):  # type: ignore[no-untyped-def]
    now = utcnow()
    arrived = now - timedelta(hours=47, minutes=50)  # the 48 h resolution target runs out in 10 min
    answered = now - timedelta(hours=40)
    since = now - timedelta(hours=7, minutes=45)  # wrote again after a reply: 8 h next reply target, 15 min left
    assert api.post("/api/agents", json={"agent_id": "AG-7", "name": "Ana"}).status_code == 201
    ticket_id = waiting(api, db_url, "high", since, created_at=arrived, first_response_at=answered, assigned_to="AG-7")

    alerts = {alert.event: alert for alert in due_pass(session_factory, settings, now)}

    assert set(alerts) == {"ticket.reply_due", "ticket.resolution_due"}
    reply, resolution = alerts["ticket.reply_due"], alerts["ticket.resolution_due"]
    assert reply.payload["due"]["target"] == "next_reply" and reply.counted_from == since
    assert reply.payload["text"].startswith(f"HIGH ticket {ticket_id}: next reply due in 15 min, assigned to AG-7:")
    assert reply.payload["ticket"]["assigned_to"] == "AG-7"
    assert resolution.counted_from == arrived
    assert resolution.payload["due"] == {
        "target": "resolution",
        "due_at": (arrived + timedelta(hours=48)).isoformat(),
        "since": arrived.isoformat(),
    }

    # Answered, then the customer writes again: a new wait, alerted again when it nears its target.
    again = now + timedelta(minutes=30)
    force_ticket(db_url, ticket_id, awaiting_reply_since=again)
    assert due_pass(session_factory, settings, again + timedelta(hours=7)) == []
    [next_wait] = due_pass(session_factory, settings, again + timedelta(hours=7, minutes=31))
    assert next_wait.event == "ticket.reply_due" and next_wait.counted_from == again


def test_a_raised_priority_moves_the_target_and_alerts_again(api, db_url, session_factory, settings):  # type: ignore[no-untyped-def]
    now = utcnow()
    ticket_id = waiting(api, db_url, "high", now - timedelta(hours=3, minutes=50))
    [high] = due_pass(session_factory, settings, now)

    force_ticket(db_url, ticket_id, priority="critical")  # now 1 h: overdue by 2 h 50 min
    [critical] = due_pass(session_factory, settings, now)

    assert (high.priority, critical.priority) == ("high", "critical")
    assert critical.payload["text"].startswith(f"CRITICAL ticket {ticket_id}: first response overdue by 2 h 50 min")


def test_only_unresolved_tickets_at_the_minimum_priority_near_their_target(api, db_url, session_factory, settings):  # type: ignore[no-untyped-def]
    now = utcnow()
    late = now - timedelta(hours=3, minutes=50)
    waiting(api, db_url, "medium", late)  # below ALERT_DUE_MIN_PRIORITY (high)
    waiting(api, db_url, "high", late, status="resolved")
    waiting(api, db_url, "high", late, status="closed")
    waiting(api, db_url, "high", now - timedelta(hours=4) - LOOKBACK - timedelta(minutes=1))  # long past: a backlog
    nobody = waiting(api, db_url, "high", late, awaiting_reply_since=None)  # answered: nobody waits
    unrated = waiting(api, db_url, "high", late)
    force_ticket(db_url, unrated, priority=None)  # not classified yet: no target

    assert due_pass(session_factory, settings, now) == []
    assert alert_due_tickets_with(
        session_factory, settings.model_copy(update={"alert_due_min_priority": Priority.medium}), now
    )

    force_ticket(db_url, nobody, awaiting_reply_since=late)
    for off in ({"alert_webhook_url": None}, {"alert_due_within_minutes": None}):
        assert alert_due_tickets_with(session_factory, settings.model_copy(update=off), now) == []
    assert [a.ticket_id for a in due_pass(session_factory, settings, now)] == [nobody]


def test_a_backlog_larger_than_a_pass_is_worked_through(api, db_url, session_factory, settings):  # type: ignore[no-untyped-def]
    """Each pass takes the most overdue first; the next pass goes on past those already alerted."""
    now = utcnow()
    older = waiting(api, db_url, "high", now - timedelta(hours=4, minutes=30))
    newer = waiting(api, db_url, "high", now - timedelta(hours=3, minutes=50))
    passes = [alert_due_tickets_with(session_factory, settings, now, limit=1) for _ in range(3)]
    assert [[alert_row(session_factory, a).ticket_id for a in ids] for ids in passes] == [[older], [newer], []]


def test_a_target_run_out_less_than_a_day_ago_still_alerts(api, db_url, session_factory, settings):  # type: ignore[no-untyped-def]
    """The gateway was down overnight: what ran out while it was, under LOOKBACK ago, is alerted late."""
    now = utcnow()
    reply = waiting(api, db_url, "high", now - timedelta(hours=27))  # 4 h target: 23 h late
    arrived = now - timedelta(hours=48 + 23, minutes=30)  # 48 h target: 23 h 30 min late
    resolution = waiting(api, db_url, "high", arrived, awaiting_reply_since=None)
    alerts = {a.ticket_id: a.payload["text"] for a in due_pass(session_factory, settings, now)}
    assert alerts[reply].startswith(f"HIGH ticket {reply}: first response overdue by 23 h 0 min")
    assert alerts[resolution].startswith(f"HIGH ticket {resolution}: resolution overdue by 23 h 30 min")


def test_at_zero_minutes_only_a_target_that_has_run_out_alerts(api, db_url, session_factory, settings):  # type: ignore[no-untyped-def]
    now = utcnow()
    ticket_id = waiting(api, db_url, "high", now - timedelta(hours=3, minutes=59))
    at_breach = settings.model_copy(update={"alert_due_within_minutes": 0})
    assert alert_due_tickets_with(session_factory, at_breach, now) == []
    [alert] = due_pass(session_factory, at_breach, now + timedelta(minutes=2))
    assert alert.ticket_id == ticket_id and "overdue by 1 min" in alert.payload["text"]


def test_a_second_insert_of_the_same_wait_adds_nothing(api, db_url, session_factory, settings):  # type: ignore[no-untyped-def]
    """Two passes at once (the gateway's loop and a cron `--once`) both find the ticket: the key keeps one."""
    now = utcnow()
    ticket_id = waiting(api, db_url, "high", now - timedelta(hours=3, minutes=50))
    with session_scope(session_factory) as session:
        ticket = session.get(Ticket, ticket_id)
        first = _add(session, *CLOCKS[0], ticket, settings, now)
        assert first is not None
        assert _add(session, *CLOCKS[0], ticket, settings, now + timedelta(seconds=1)) is None
    with session_factory() as session:
        assert session.scalars(sa.select(Alert.alert_id).where(Alert.ticket_id == ticket_id)).all() == [first]


def test_an_urgent_alert_and_a_due_alert_at_the_same_priority_both_stand(api, db_url, session_factory, settings):  # type: ignore[no-untyped-def]
    now = utcnow()
    ticket_id = waiting(api, db_url, "critical", now - timedelta(minutes=50))
    urgent = add_alert(session_factory, ticket_id, settings)
    [due] = due_pass(session_factory, settings, now)
    assert urgent is not None and due.alert_id != urgent
    assert alert_row(session_factory, urgent).event == "ticket.urgent"
    assert add_alert(session_factory, ticket_id, settings) is None  # still one urgent alert per priority


def test_the_sweeper_raises_them_and_the_alert_worker_delivers_them(  # type: ignore[no-untyped-def]
    api, db_url, session_factory, settings, receiver, redis_client
):
    ticket_id = waiting(api, db_url, "high", utcnow() - timedelta(hours=3, minutes=50))

    swept = sweep_once(session_factory, settings)

    [alert_id] = swept.due_alerts
    [task] = [json.loads(m) for m in redis_client.lrange("alerts", 0, -1)]
    assert task["headers"]["task"] == "classifier_worker.alerts.deliver"
    assert deliver(alert_id, settings=settings, factory=session_factory).status == "delivered"
    [received] = receiver.received
    body = json.loads(received.body)
    assert (body["id"], body["event"], body["ticket"]["ticket_id"]) == (alert_id, "ticket.reply_due", ticket_id)
    assert sweep_once(session_factory, settings).due_alerts == ()

    listed = api.get("/api/alerts", params={"event": "ticket.reply_due"}).json()
    assert [(a["alert_id"], a["event"], a["state"]) for a in listed] == [(alert_id, "ticket.reply_due", "delivered")]
    assert api.get("/api/alerts", params={"event": "ticket.urgent"}).json() == []
    bad = api.get("/api/alerts", params={"event": "ticket.late"})
    assert bad.status_code == 422 and "event" in bad.text


def test_a_ticket_another_writer_holds_waits_for_the_next_pass(  # type: ignore[no-untyped-def]
    api, db_url, session_factory, settings
):
    """PostgreSQL: a reply in flight holds the ticket's row; the pass skips it rather than alerting a wait the
    reply may be ending, and the next pass finds it if it still waits."""
    if not db_url.startswith("postgresql"):
        pytest.skip("row locks: SQLite has one writer at a time")
    now = utcnow()
    ticket_id = waiting(api, db_url, "high", now - timedelta(hours=3, minutes=50))
    holding, release = threading.Event(), threading.Event()

    def reply_in_flight() -> None:
        with session_factory() as other:
            other.execute(
                sa.select(Ticket.ticket_id).where(Ticket.ticket_id == ticket_id).with_for_update(key_share=True)
            )
            holding.set()
            release.wait(30)
            other.rollback()

    thread = threading.Thread(target=reply_in_flight)
    thread.start()
    try:
        assert holding.wait(30)
        assert due_pass(session_factory, settings, now) == []
    finally:
        release.set()
        thread.join()
    assert [a.ticket_id for a in due_pass(session_factory, settings, now)] == [ticket_id]


def test_the_queue_of_tickets_about_to_run_out(client_for, db_url, redis_client):  # type: ignore[no-untyped-def]
    """`?due_within_minutes=`: still in time, either clock, unresolved; with `sort=reply_due`, the one that runs
    out first on top. The same targets as the alerts (the app's settings)."""
    api = client_for(db_url, **TARGETS)
    now = utcnow()
    reply_20 = waiting(api, db_url, "high", now - timedelta(hours=3, minutes=40))  # first response in 20 min
    reply_10 = waiting(api, db_url, "critical", now - timedelta(minutes=50))  # critical: 1 h, in 10 min
    reply_40 = waiting(api, db_url, "high", now - timedelta(hours=3, minutes=20))
    arrived = now - timedelta(hours=47, minutes=45)  # resolution in 15 min, nobody waiting
    resolution_15 = waiting(api, db_url, "high", arrived, awaiting_reply_since=None)
    waiting(api, db_url, "high", now - timedelta(hours=4, minutes=5))  # already late: ?reply_overdue= lists it
    waiting(api, db_url, "high", now - timedelta(hours=3, minutes=40), status="resolved")
    unrated = waiting(api, db_url, "high", now - timedelta(hours=3, minutes=40))
    force_ticket(db_url, unrated, priority=None)

    def listed(**params: object) -> list[str]:
        response = api.get("/api/tickets/", params=params)
        assert response.status_code == 200, response.text
        return [t["ticket_id"] for t in response.json()]

    assert listed(due_within_minutes=30, sort="reply_due") == [reply_10, reply_20, resolution_15]
    assert set(listed(due_within_minutes=30)) == {reply_10, reply_20, resolution_15}
    assert set(listed(due_within_minutes=60)) == {reply_10, reply_20, reply_40, resolution_15}
    assert listed(due_within_minutes=30, priority="critical") == [reply_10]
    for bad in (0, 1441, "soon"):
        response = api.get("/api/tickets/", params={"due_within_minutes": bad})
        assert response.status_code == 422 and "due_within_minutes" in response.text


def alert_due_tickets_with(factory, settings: Settings, now: datetime, limit: int = 100) -> list[str]:  # type: ignore[no-untyped-def]
    with session_scope(factory) as session:
        return alert_due_tickets(session, settings, now=now, limit=limit)


def test_migration_keeps_alerts_as_urgent_ones_counted_from_arrival(bare_db_url):  # type: ignore[no-untyped-def]
    """0023 on an alert of 0020-0022's shape: an urgent one, from its ticket's arrival; the old key, one alert
    per (ticket, priority), gives way, so a due alert at the same priority fits beside it, and the new key
    holds: a second alert of that wait does not."""
    command.upgrade(alembic_config(bare_db_url), "0022_erasure")
    engine = sa.create_engine(bare_db_url)
    with engine.begin() as conn:
        insert_customer(conn)
        insert_ticket(conn, "T1")
        conn.execute(
            sa.text(
                "INSERT INTO alerts (alert_id, ticket_id, priority, payload, created_at, attempts)"
                " VALUES ('A1', 'T1', 'critical', '{}', :t, 0)"
            ),
            {"t": hour(1).isoformat()},
        )
    run_migrations(bare_db_url)
    factory = sa.orm.sessionmaker(engine)
    with factory() as session:
        old = session.get(Alert, "A1")
        assert old is not None and old.event == "ticket.urgent"
        assert old.counted_from == hour(0)
        session.add(
            Alert(alert_id="A2", ticket_id="T1", event="ticket.reply_due", priority="critical",
                  counted_from=old.counted_from, payload={}, created_at=utcnow())
        )  # fmt: skip
        session.commit()
        session.add(
            Alert(alert_id="A3", ticket_id="T1", event="ticket.reply_due", priority="critical",
                  counted_from=old.counted_from, payload={}, created_at=utcnow())
        )  # fmt: skip
        with pytest.raises(sa.exc.IntegrityError):
            session.commit()
    engine.dispose()


def test_under_business_hours_a_wait_alerts_as_its_business_target_nears(  # type: ignore[no-untyped-def]
    api, db_url, session_factory, settings
):
    """A high ticket's 4 h first response in a New York Mon-Fri 09:00-17:00 week: arriving on Friday at 14:00
    it has 1 h left at closing, which runs out on Monday at 10:00 (not on Friday at 18:00)."""
    business = settings.model_copy(
        update={"business_hours": "mon-fri 09:00-17:00", "business_timezone": "America/New_York"}
    )
    friday = datetime(2026, 12, 4, 19, 0, tzinfo=UTC)  # 14:00 in New York
    ticket_id = waiting(api, db_url, "high", friday)
    friday_evening = friday + timedelta(hours=3, minutes=40)  # 17:40: every hour counting, due in 20 min
    assert due_pass(session_factory, business, friday_evening) == []
    monday = datetime(2026, 12, 7, 14, 35, tzinfo=UTC)  # 09:35: 3 h 35 min of business time since
    # every hour counting: the first response ran out 65 h ago, past the lookback (the 48 h resolution 19 h ago)
    assert [a.event for a in due_pass(session_factory, settings, monday)] == ["ticket.resolution_due"]
    [alert] = due_pass(session_factory, business, monday)
    assert alert.ticket_id == ticket_id and alert.payload["due"]["due_at"] == "2026-12-07T15:00:00+00:00"
    assert "first response due in 25 min" in alert.payload["text"]
