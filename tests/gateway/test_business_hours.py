"""BUSINESS_HOURS on SQLite and PostgreSQL: one database read by a gateway counting business hours and by one
counting every hour (the default). Tickets are placed by their age in business time at the test's moment,
checked minute by minute against the calendar's definition, so the test holds whatever day and hour it runs:
due times, the overdue, unanswered and reply lists and counts, the due order (the database's business
seconds), what runs out soon, the week's resolution figures, and a stay in pending under
SLA_PAUSE_IN_PENDING."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from gateway.services.sla import _seconds, _summary, resume_clock
from shared.business_hours import BusinessCalendar, calendar_for, parse_holidays
from shared.config import get_settings
from shared.models import Ticket, TicketMessage
from tests.conftest import force_ticket
from tests.gateway.conftest import listed_ids, parse_time, read_ticket, web_ticket
from tests.shared.test_business_hours import brute_business

H = timedelta(hours=1)
MINUTE = timedelta(minutes=1)


def _fixed_zone(local_hour: int) -> str:
    """A zone without DST (Etc/GMT-N is UTC+N) where it is now about `local_hour` o'clock."""
    offset = (local_hour - datetime.now(UTC).hour + 12) % 24 - 12  # in -12..11
    return "UTC" if offset == 0 else f"Etc/GMT{-offset:+d}"


# The team's week as set, and two every-day weeks whose office is open, or closed, as the test runs.
CALENDARS = {
    "new_york": ("mon-fri 09:00-17:00", "America/New_York", "US"),
    "open_now": ("mon-sun 09:00-17:00", _fixed_zone(12), ""),
    "closed_now": ("mon-sun 09:00-17:00", _fixed_zone(21), "2026-12-24"),
}


@pytest.fixture(params=list(CALENDARS))
def setting(request: pytest.FixtureRequest) -> dict[str, str]:
    hours, zone, holidays = CALENDARS[request.param]
    return {"business_hours": hours, "business_timezone": zone, "business_holidays": holidays}


@pytest.fixture
def week(setting: dict[str, str]) -> BusinessCalendar:
    return calendar_for(setting["business_hours"], setting["business_timezone"], setting["business_holidays"])


# A high ticket's next reply within 10 h: over a business day, so that a wait can be in time in business hours
# and late counting every hour (9.5 business hours hold a night).
TARGETS = {"next_reply_high_hours": 10}


@pytest.fixture
def gateways(client_for, db_url, setting):  # type: ignore[no-untyped-def]
    """(business, every hour): two gateways over one database, with and without BUSINESS_HOURS."""
    return client_for(db_url, **setting, **TARGETS), client_for(db_url, **TARGETS)


def _now() -> datetime:
    """The test's moment, on a whole minute, so that business ages in whole minutes land on whole minutes."""
    return datetime.now(UTC).replace(second=0, microsecond=0)


def _ago(week: BusinessCalendar, now: datetime, business: timedelta) -> datetime:
    """The earliest instant `business` of business time before `now`, checked against the definition."""
    at = week.moment(week.us(now) - business // timedelta(microseconds=1))
    assert _brute(week, at, now) == business
    return at


def _brute(week: BusinessCalendar, start: datetime, end: datetime) -> timedelta:
    """Business time from `start` to `end` minute by minute: the calendar's definition."""
    return brute_business(week.hours, ZoneInfo(week.zone_name), set(parse_holidays(week.holidays)), start, end)


def _ticket(api, db_url: str, priority: str, arrived: datetime, **values: object) -> str:  # type: ignore[no-untyped-def]
    """A ticket of `priority` that arrived at `arrived`, answered then unless `values` say otherwise."""
    ticket_id = web_ticket(api)
    answered: dict[str, object] = {"first_response_at": arrived, "awaiting_reply_since": None}
    force_ticket(
        db_url,
        ticket_id,
        priority=priority,
        created_at=arrived,
        resolution_counted_from=arrived,
        **{**answered, **values},
    )
    return ticket_id


def test_targets_count_business_hours(gateways, db_url, week) -> None:  # type: ignore[no-untyped-def]
    business, every_hour = gateways
    now = _now()
    late = _ticket(business, db_url, "high", _ago(week, now, 25 * H))  # 1 h past its 24 h, either way
    # 20 business hours hold at least two nights: over 24 wall hours, so late only when every hour counts
    in_time = _ticket(business, db_url, "high", _ago(week, now, 20 * H))
    critical = _ticket(business, db_url, "critical", _ago(week, now, 3 * H))  # 1 business hour left of 4
    unanswered = _ticket(business, db_url, "high", _ago(week, now, 5 * H), first_response_at=None)  # 4 h target
    fresh = _ticket(business, db_url, "high", _ago(week, now, 204 * MINUTE), first_response_at=None)  # 36 min left
    # 30 min left of a critical's 1 h: first by its first response due time, though arrived after `fresh`
    new_critical = _ticket(business, db_url, "critical", _ago(week, now, 30 * MINUTE), first_response_at=None)
    waiting = _ticket(business, db_url, "high", _ago(week, now, 2 * H), awaiting_reply_since=_ago(week, now, 11 * H))
    # waited 9.5 business hours of its 10: in time, and late counting every hour (a night between)
    waiting_in_time = _ticket(
        business, db_url, "high", _ago(week, now, 2 * H), awaiting_reply_since=_ago(week, now, 570 * MINUTE)
    )
    # a critical's 2 h next reply, 1.5 business hours past: due before the high ones, though it waited less
    waiting_critical = _ticket(
        business, db_url, "critical", _ago(week, now, 225 * MINUTE), awaiting_reply_since=_ago(week, now, 210 * MINUTE)
    )

    # due times: the calendar's, and exactly the target in business time after arrival
    for ticket_id, target in ((late, 24 * H), (in_time, 24 * H), (critical, 4 * H)):
        ticket = read_ticket(business, ticket_id)
        due, arrived = parse_time(ticket["due_at"]), parse_time(ticket["created_at"])
        assert due is not None and arrived is not None and due == week.add(arrived, target)
        assert _brute(week, arrived, due) == target
        assert parse_time(read_ticket(every_hour, ticket_id)["due_at"]) == arrived + target
    assert parse_time(read_ticket(business, unanswered)["first_response_due_at"]) == week.add(
        _ago(week, now, 5 * H), 4 * H
    )
    assert parse_time(read_ticket(business, waiting_in_time)["reply_due_at"]) == week.add(
        _ago(week, now, 570 * MINUTE), 10 * H
    )

    # the lists and the overview's counts
    assert listed_ids(business, overdue=True) == [late]
    assert set(listed_ids(every_hour, overdue=True)) >= {late, in_time}
    assert listed_ids(business, unanswered_overdue=True) == [unanswered]
    assert set(listed_ids(business, reply_overdue=True)) == {waiting, waiting_critical}
    assert set(listed_ids(every_hour, reply_overdue=True)) >= {waiting, waiting_in_time}
    assert listed_ids(business, awaiting_reply=True, sort="reply_due") == [waiting_critical, waiting, waiting_in_time]
    overview = business.get("/api/overview").json()
    assert overview["unresolved_overdue_by_priority"]["high"] == 1
    assert overview["unanswered_overdue"] == 1 and overview["reply_overdue"] == 2
    assert overview["business_hours"]["hours"] == week.hours
    assert overview["business_hours"]["timezone"] == week.zone_name
    assert overview["business_hours"]["open_now"] in (week.is_open(now), week.is_open(datetime.now(UTC)))
    assert every_hour.get("/api/overview").json()["business_hours"] is None

    # the due order, by the database's business seconds: the late one, the critical one's hour, then in_time's 4 h
    assert listed_ids(business, sort="due", overdue=False)[:2] == [
        waiting_critical,
        critical,
    ]  # 15 min, then 1 h left of 4
    ordered = listed_ids(business, sort="due")
    assert [t for t in ordered if t in (late, critical, in_time)] == [late, critical, in_time]
    by_first_response = listed_ids(business, sort="first_response_due", answered=False)
    assert by_first_response == [unanswered, new_critical, fresh]  # 1 business hour past, 30 min left, 36

    # what runs out soon: the critical ticket's hour, in wall minutes from now (more if the office is closed)
    for ticket_id, left in ((critical, H), (waiting_in_time, 30 * MINUTE)):
        minutes = int((week.add(now, left) - now) / MINUTE)  # as many while open; at most 1440 can be asked
        assert ticket_id not in listed_ids(business, due_within_minutes=min(minutes - 5, 1440))
        if minutes + 2 <= 1440:  # not on a weekend's eve
            assert ticket_id in listed_ids(business, due_within_minutes=minutes + 2)


def test_resolution_times_count_business_hours(gateways, db_url, week, session_factory) -> None:  # type: ignore[no-untyped-def]
    business, every_hour = gateways
    now = _now()
    resolved = now - timedelta(minutes=30)
    assert business.post("/api/agents", json={"agent_id": "ANN", "name": "Ann Lee"}).status_code == 201
    for hours in (30, 10):  # one past its 24 h, one in time (though over 24 wall hours: 10 h hold a night)
        arrived = _ago(week, resolved, hours * H)
        _ticket(
            business,
            db_url,
            "high",
            arrived,
            status="resolved",
            resolved_at=resolved,
            assigned_to="ANN",
            first_response_at=None,
        )
    # first answered by ANN 3 business hours after arriving (within 4 h), 30 min ago
    answered_id = _ticket(business, db_url, "high", _ago(week, resolved, 3 * H), first_response_at=resolved)
    # and ANN's next reply on another, to a customer who had waited 9.5 business hours of its 10 (a night between)
    again_id = _ticket(business, db_url, "high", _ago(week, resolved, 60 * H))  # first answered over a week ago
    with session_factory() as session, session.begin():
        reply = {"source": "web", "author_type": "agent", "body": "Sorted.", "internal": False, "agent_id": "ANN"}
        session.add(TicketMessage(ticket_id=answered_id, created_at=resolved, **reply))
        waited = _ago(week, resolved, 570 * MINUTE)
        session.add(TicketMessage(ticket_id=again_id, created_at=resolved, waited_since=waited, **reply))
    overview = business.get("/api/overview").json()
    week_figures = overview["resolved_last_7d"]
    assert week_figures["resolved"] == 2
    assert week_figures["within_target"] == 0.5
    assert week_figures["p50_hours"] == 10.0 and week_figures["p90_hours"] == 30.0
    activity = business.get("/api/agents/ANN/activity").json()
    answered = overview["first_response_last_7d"]
    assert answered["answered"] == 1 and answered["p50_hours"] == 3.0 and answered["within_target"] == 1.0
    assert activity["resolved"] == week_figures and activity["first_responses"] == answered
    again = overview["next_reply_last_7d"]
    assert again == {"replies": 1, "p50_hours": 9.5, "p90_hours": 9.5, "within_target": 1.0}
    assert activity["next_replies"] == again
    assert every_hour.get("/api/overview").json()["next_reply_last_7d"]["within_target"] == 0.0
    plain = every_hour.get("/api/overview").json()["resolved_last_7d"]
    assert plain["within_target"] == 0.0 and plain["p50_hours"] > 24


@pytest.fixture
def process_calendar(monkeypatch: pytest.MonkeyPatch, setting: dict[str, str]) -> Iterator[None]:
    """BUSINESS_HOURS in the process's settings too: a stay in pending ends through them (`resume_clock`)."""
    for name, value in setting.items():
        monkeypatch.setenv(name.upper(), value)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def test_a_stay_in_pending_moves_the_due_time_by_its_business_hours(  # type: ignore[no-untyped-def]
    process_calendar, client_for, db_url, week, setting
) -> None:
    pausing = client_for(db_url, sla_pause_in_pending=True, **setting)
    now = _now()
    arrived = _ago(week, now, 20 * H)
    ticket_id = _ticket(pausing, db_url, "high", arrived)
    assert pausing.put(f"/api/tickets/{ticket_id}/status", json={"status": "pending"}).status_code == 200
    force_ticket(db_url, ticket_id, pending_since=_ago(week, now, 6 * H))  # pending for 6 business hours
    assert read_ticket(pausing, ticket_id)["due_at"] is None
    assert pausing.put(f"/api/tickets/{ticket_id}/status", json={"status": "open"}).status_code == 200
    due = parse_time(read_ticket(pausing, ticket_id)["due_at"])
    # 24 h of business time from arrival plus the 6 h stay (the request ran a moment after `now`)
    expected = week.add(arrived, 30 * H)
    assert due is not None and abs(due - expected) < timedelta(minutes=2), (due, expected)


def test_the_weeks_figures_read_once_match_the_three_queries(gateways, db_url, week, session_factory) -> None:  # type: ignore[no-untyped-def]
    """Under BUSINESS_HOURS the week's figures are counted from one read of the rows (`_summary_read`): the
    same nearest-rank percentiles, share and counts as the database's three queries over the same seconds."""
    business, _ = gateways
    now = _now()
    rng = random.Random(11)
    for i in range(23):
        resolved = now - timedelta(minutes=rng.randrange(1, 60 * 24 * 6))
        arrived = resolved - timedelta(minutes=rng.randrange(0, 60 * 24 * 5))
        ticket_id = _ticket(business, db_url, "low", arrived, status="resolved", resolved_at=resolved)
        force_ticket(db_url, ticket_id, priority=(None, "low", "medium", "high", "critical")[i % 5])
    with session_factory() as session:
        seconds = _seconds(session, Ticket.resolved_at, Ticket.created_at, week)
        window = Ticket.resolved_at >= now - timedelta(days=7)
        targets = get_settings().targets.resolution
        recent = Ticket.resolved_at >= now - timedelta(days=1)
        read = _summary(session, seconds, window, targets, recent, in_python=True)
        queried = _summary(session, seconds, window, targets, recent)
    assert read == queried and read[0] == 23 and read[1]["within_target"] is not None


def test_a_stay_counts_only_its_business_hours(monkeypatch: pytest.MonkeyPatch) -> None:
    """`resume_clock` under a New York Mon-Fri 09:00-17:00 week: a stay from Friday 16:00 to Monday 10:00 moves
    the clock's start by 2 h; one from Friday 18:00 to Monday 08:00 holds no business time and leaves it."""
    for name, value in {"BUSINESS_HOURS": "mon-fri 09:00-17:00", "BUSINESS_TIMEZONE": "America/New_York"}.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    new_york = ZoneInfo("America/New_York")
    try:
        arrived = datetime(2026, 12, 4, 10, tzinfo=new_york)
        over_weekend = Ticket(
            status="pending", created_at=arrived, pending_since=datetime(2026, 12, 4, 16, tzinfo=new_york)
        )
        resume_clock(over_weekend, datetime(2026, 12, 7, 10, tzinfo=new_york))
        assert over_weekend.resolution_counted_from == datetime(2026, 12, 4, 12, tzinfo=new_york)
        closed = Ticket(status="pending", created_at=arrived, pending_since=datetime(2026, 12, 4, 18, tzinfo=new_york))
        resume_clock(closed, datetime(2026, 12, 7, 8, tzinfo=new_york))
        assert closed.resolution_counted_from is None  # the start stays the arrival
    finally:
        get_settings.cache_clear()
