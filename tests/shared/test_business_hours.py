"""The business-hours calendar: its coordinate, due times and cutoffs against hand-worked examples, its inverse
and its database twins against brute force, and the settings it refuses with a message naming the part."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from shared.business_hours import calendar_for, parse_holidays, parse_hours
from shared.config import Settings
from shared.db import make_engine
from shared.models import UTCDateTime

BERLIN = ZoneInfo("Europe/Berlin")
H = timedelta(hours=1)


def berlin(*args: int) -> datetime:
    return datetime(*args, tzinfo=BERLIN)  # type: ignore[misc]


def brute_business(calendar_hours: str, zone: ZoneInfo, closed: set[date], start: datetime, end: datetime) -> timedelta:
    """Business time from `start` to `end` minute by minute (both on minute boundaries): the definition."""
    week = parse_hours(calendar_hours)
    total, t = timedelta(0), start
    while t < end:
        local = t.astimezone(zone)
        into = (local.weekday() * 1440 + local.hour * 60 + local.minute) * 60_000_000
        if local.date() not in closed and any(a <= into < b for a, b in week):
            total += timedelta(minutes=1)
        t += timedelta(minutes=1)
    return total


def test_due_times_skip_nights_weekends_and_holidays() -> None:
    week = calendar_for("mon-fri 09:00-17:00", "Europe/Berlin", "DE,2026-12-24")
    friday = berlin(2026, 12, 4, 16, 0)
    # 1 h on Friday, 7 h on Monday: due Monday 16:00, and exactly 8 business hours later
    assert week.add(friday, 8 * H) == berlin(2026, 12, 7, 16, 0)
    assert week.between(friday, berlin(2026, 12, 7, 16, 0)) == 8 * H
    # Wednesday 23rd 16:00 + 2 h: 24th (a date), 25th and 26th (German holidays), the weekend: Monday 28th 10:00
    assert week.add(berlin(2026, 12, 23, 16, 0), 2 * H) == berlin(2026, 12, 28, 10, 0)
    # A ticket arriving on Saturday starts counting on Monday at 09:00
    assert week.add(berlin(2026, 12, 5, 11, 0), 4 * H) == berlin(2026, 12, 7, 13, 0)
    # A target that runs out at closing time is due then, not at the next opening
    assert week.add(berlin(2026, 12, 7, 9, 0), 8 * H) == berlin(2026, 12, 7, 17, 0)
    # Across the spring DST change the hours stay 09:00-17:00 on the wall clock (5 days of 8 h)
    assert week.between(berlin(2026, 3, 27, 17, 0), berlin(2026, 4, 2, 17, 0)) == 32 * H
    assert week.is_open(berlin(2026, 12, 7, 9, 0)) and not week.is_open(berlin(2026, 12, 7, 17, 0))
    assert not week.is_open(berlin(2026, 12, 25, 12, 0)) and not week.is_open(berlin(2026, 12, 6, 12, 0))


def test_cutoff_is_the_late_test() -> None:
    """`start < cutoff(now, span)` exactly when more than `span` of business time has run from start to now."""
    week = calendar_for("mon-fri 09:00-17:00", "Europe/Berlin", "DE")
    now = berlin(2026, 12, 7, 10, 0)  # Monday 10:00
    cutoff = week.cutoff(now, 4 * H)  # 1 h today, 3 h on Friday: Friday 14:00
    assert cutoff == berlin(2026, 12, 4, 14, 0)
    assert week.between(cutoff, now) == 4 * H
    assert week.between(cutoff - timedelta(microseconds=1), now) > 4 * H
    # a ticket from Friday 18:00 (closed) has run 1 h at Monday 10:00: its cutoff for 1 h is the earliest such
    assert week.cutoff(now, H) == berlin(2026, 12, 4, 17, 0)


def test_inverse_and_brute_force_agree() -> None:
    hours = "mon-thu 08:30-12:00,13:00-17:30; fri 08:30-15:00; sat 22:00-24:00; sun 00:00-01:00"
    calendar = calendar_for(hours, "America/New_York", "US,2026-12-24")
    zone = ZoneInfo("America/New_York")
    closed = set(parse_holidays("US,2026-12-24"))
    rng = random.Random(7)
    base = datetime(2026, 10, 20, tzinfo=UTC)
    for _ in range(40):
        start = base + timedelta(minutes=rng.randrange(0, 60 * 24 * 70))
        end = start + timedelta(minutes=rng.randrange(0, 60 * 24 * 12))
        assert calendar.between(start, end) == brute_business(hours, zone, closed, start, end), (start, end)
    for _ in range(2000):
        moment = base + timedelta(seconds=rng.randrange(0, 86400 * 400), microseconds=rng.randrange(10**6))
        value = calendar.us(moment)
        earliest = calendar.moment(value)
        assert calendar.us(earliest) == value and earliest <= moment
        assert calendar.us(earliest - timedelta(microseconds=1)) < value  # the earliest such instant


def test_the_database_computes_the_same_coordinate(pg_url: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """The SQLite function and migration 0041's PostgreSQL function give `seconds` for stored times."""
    calendar = calendar_for("mon-fri 09:00-17:00; sat 10:00-14:00", "America/New_York", "US,2026-12-24")
    rng = random.Random(3)
    base = datetime(2024, 1, 1, tzinfo=UTC)
    times = [
        base + timedelta(seconds=rng.randrange(0, 4 * 365 * 86400), microseconds=rng.randrange(10**6))
        for _ in range(500)
    ]
    times += [datetime(2026, 12, 24, 15, tzinfo=UTC), datetime(2026, 12, 26, 15, 30, tzinfo=UTC), None]
    for url in (f"sqlite:///{tmp_path / 'probe.db'}", pg_url):
        engine = make_engine(url)
        table = sa.Table(
            "business_probe", sa.MetaData(), sa.Column("id", sa.Integer, primary_key=True), sa.Column("at", UTCDateTime)
        )
        table.drop(engine, checkfirst=True)
        table.create(engine)
        try:
            with engine.begin() as connection:
                connection.execute(table.insert(), [{"id": i, "at": t} for i, t in enumerate(times)])
                rows = connection.execute(sa.select(table.c.id, calendar.sql_seconds(engine.dialect.name, table.c.at)))
                got = dict(rows.all())
        finally:
            table.drop(engine)
            engine.dispose()
        assert got[len(times) - 1] is None
        worst = max(abs(got[i] - calendar.seconds(t)) for i, t in enumerate(times) if t is not None)
        assert worst < 1e-3, (url, worst)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"business_hours": "mon-fri 9-17"}, "'9-17' in 'mon-fri 9-17' is not 'HH:MM-HH:MM'"),
        ({"business_hours": "weekdays 09:00-17:00"}, "is not 'days HH:MM-HH:MM'"),
        ({"business_hours": "mon-fry 09:00-17:00"}, "'fry' in 'mon-fry 09:00-17:00' is not a day"),
        ({"business_hours": "fri-mon 09:00-17:00"}, "'fri-mon' in 'fri-mon 09:00-17:00' runs backwards"),
        ({"business_hours": "mon 17:00-09:00"}, "must open before it closes"),
        ({"business_hours": "mon 09:60-17:00"}, "'09:60-17:00' in 'mon 09:60-17:00' is not a time of day"),
        ({"business_hours": "mon 09:00-24:30"}, "'09:00-24:30' in 'mon 09:00-24:30' is not a time of day"),
        ({"business_hours": "mon 09:00-17:00; mon 16:00-18:00"}, "two spans overlap on mon"),
        ({"business_hours": ";"}, "no hours given"),
        ({"business_hours": "mon-fri 09:00-17:00", "business_timezone": "Europe/Atlantis"}, "not an IANA time zone"),
        ({"business_hours": "mon-fri 09:00-17:00", "business_holidays": "XX"}, "'XX' is neither a date"),
        ({"business_hours": "mon-fri 09:00-17:00", "business_holidays": "2026-02-30"}, "'2026-02-30' is not a date"),
        ({"business_holidays": "US"}, "BUSINESS_HOLIDAYS needs BUSINESS_HOURS"),
        (
            {"business_hours": "sun 00:00-24:00", "business_timezone": "Europe/Berlin"},
            "Europe/Berlin's clocks go from 02:00 to 03:00 on Sun 2015-03-29, inside business hours",
        ),
    ],
)
def test_settings_that_make_no_calendar_are_refused_at_start(values: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        Settings(**values)  # type: ignore[arg-type]


def test_settings_make_the_calendar_and_empty_counts_every_hour() -> None:
    assert Settings(business_hours="").targets.calendar is None
    calendar = Settings(
        business_hours=" Mon-Fri 09:00-12:00, 13:00-17:00 ; sat 10:00-14:00", business_timezone="UTC"
    ).targets.calendar
    assert calendar is not None
    assert calendar.week_us == (5 * 7 + 4) * 3_600_000_000
    # A night shift over midnight is one span, and a week that wraps from Sunday into Monday counts both ends
    assert parse_hours("mon-fri 22:00-24:00; tue-sat 00:00-06:00")[0] == (22 * 3_600_000_000, 30 * 3_600_000_000)
    wrapping = calendar_for("sun 20:00-24:00; mon 00:00-04:00")
    assert wrapping.between(datetime(2026, 12, 6, 22, tzinfo=UTC), datetime(2026, 12, 7, 2, tzinfo=UTC)) == 4 * H
