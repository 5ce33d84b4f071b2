"""A team's business hours: the weekly hours it works, in its time zone, less its holidays.

With BUSINESS_HOURS set, every service target (resolution, first response, next reply) counts only these
hours, as Zendesk's business-hours SLA policies do: a high ticket arriving on Friday at 16:00 with an 8 h
target in a Mon-Fri 09:00-17:00 week is due on Monday at 16:00, not on Saturday at midnight.

Everything rests on one function, `seconds(t)`: the business seconds from a fixed origin to the instant `t`
(Zendesk's and every textbook's "business time" coordinate). It never decreases and is flat outside business
hours, so "more than a target of business time since `start` at `now`" is `start < cutoff(now, target)`, one
instant computed here: the database's tests on a ticket's clock keep their shape and their indexes. A due time
is `moment(seconds(start) + target)`, and the database computes `seconds` itself for what it must order or
measure per row (the list sorted by due time, the week's resolution times): through migration 0041's function
on PostgreSQL, and a function of the same name registered on each SQLite connection (`register_sqlite`).

Local wall time is the week's clock, so a DST change moves the hours with the team (09:00 stays 09:00). A
change inside business hours would make the wall clock skip or repeat business time; such a schedule is
refused when the calendar is made (`BusinessHoursError`).
"""

from __future__ import annotations

import dataclasses
import re
from bisect import bisect_left, bisect_right
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import cached_property, lru_cache
from itertools import pairwise
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays as holiday_calendars
from sqlalchemy import ColumnElement, Float, func, literal
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import InstrumentedAttribute

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
WEEK_US = 7 * 86_400_000_000
DAY_US = 86_400_000_000
ORIGIN = datetime(1970, 1, 5)  # a Monday, local wall time: week 0 starts here
EPOCH = datetime(1970, 1, 1)
ORIGIN_US = (ORIGIN - EPOCH) // timedelta(microseconds=1)
QUARTER_US = 900_000_000
# Holidays are read for these years (the `holidays` package computes them per year); older or later tickets
# count their holidays' hours as business hours.
HOLIDAY_YEARS = range(2015, 2046)
SQLITE_FUNCTION = "copilot_business_seconds"

_ITEM = re.compile(r"^(?P<days>[a-z]{3}(?:-[a-z]{3})?(?:,[a-z]{3}(?:-[a-z]{3})?)*)\s+(?P<spans>.+)$")
_SPAN = re.compile(r"^(\d{1,2}):(\d{2})-(\d{1,2}):(\d{2})$")


class BusinessHoursError(ValueError):
    """A BUSINESS_* setting that cannot make a calendar; the message says which part and why."""


@dataclass(frozen=True)
class BusinessCalendar:
    """The week's business spans (microseconds from Monday 00:00 local), the zone, and the closed days.

    Made by `calendar_for` (cached): the spans sorted and apart, the holidays sorted, each with the business
    microseconds its closing removes and `seconds` at its start (constant through the day)."""

    hours: str
    zone_name: str
    holidays: str
    week: tuple[tuple[int, int], ...]
    closed: tuple[date, ...]
    zone: ZoneInfo = field(repr=False, compare=False)
    _starts: tuple[int, ...] = field(repr=False, compare=False)  # each closed day's midnight, wall us from ORIGIN
    _removed: tuple[int, ...] = field(repr=False, compare=False)  # business us removed by closed days 1..k
    _flat: tuple[int, ...] = field(repr=False, compare=False)  # `us` at each closed day's start
    _edges: tuple[int, ...] = field(repr=False, compare=False)  # the week's opening and closing times in turn
    _elapsed: tuple[int, ...] = field(repr=False, compare=False)  # the week's business us at each edge
    _offsets: dict[int, int] = field(default_factory=dict, repr=False, compare=False)  # `_offset`'s memo

    @property
    def key(self) -> str:
        """What the SQLite function is told to find this calendar by."""
        return f"{self.hours}|{self.zone_name}|{self.holidays}"

    @cached_property
    def week_us(self) -> int:
        """Business microseconds in a week without closed days."""
        return sum(b - a for a, b in self.week)

    # -- the business-time coordinate ------------------------------------------------------------------------

    def us(self, moment: datetime) -> int:
        """Business microseconds from the origin to `moment` (aware; naive is read as UTC)."""
        utc = (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC).replace(tzinfo=None)
        epoch = (utc - EPOCH) // timedelta(microseconds=1)
        return self._at_wall(epoch + self._offset(epoch // QUARTER_US))

    def _offset(self, quarter: int) -> int:
        """The zone's UTC offset (us) during the `quarter`-th quarter hour since the epoch, less the origin's
        distance: zones change their offsets on a quarter hour (UTC), and a dict beats a zone lookup per row."""
        found = self._offsets.get(quarter)
        if found is None:
            moment = EPOCH.replace(tzinfo=UTC) + timedelta(minutes=15 * quarter)
            offset = moment.astimezone(self.zone).utcoffset() or timedelta(0)
            found = self._offsets[quarter] = offset // timedelta(microseconds=1) - ORIGIN_US
        return found

    def seconds(self, moment: datetime) -> float:
        """`us` in seconds: what the database's `sql_seconds` computes for a stored time."""
        return self.us(moment) / 1_000_000

    def moment(self, business_us: int) -> datetime:
        """The earliest instant (UTC) at which `us` reaches `business_us`: a due time, or a cutoff."""
        passed = bisect_left(self._flat, business_us)  # closed days whose start is before the value is reached
        wall = self._wall_at(business_us + (self._removed[passed - 1] if passed else 0))
        local = (ORIGIN + timedelta(microseconds=wall)).replace(tzinfo=self.zone)
        return local.astimezone(UTC)

    def is_open(self, moment: datetime) -> bool:
        """Whether business time runs at `moment`: within the hours, not on a closed day."""
        return self.us(moment + timedelta(microseconds=1)) > self.us(moment)

    def add(self, start: datetime, span: timedelta) -> datetime:
        """When `span` of business time since `start` has passed."""
        return self.moment(self.us(start) + span // timedelta(microseconds=1))

    def cutoff(self, now: datetime, span: timedelta) -> datetime:
        """The instant before which a clock must have started to hold more than `span` of business time at
        `now`: `us(now) - us(start) > span` exactly when `start < cutoff(now, span)`."""
        return self.moment(self.us(now) - span // timedelta(microseconds=1))

    def between(self, start: datetime, end: datetime) -> timedelta:
        """The business time from `start` to `end`."""
        return timedelta(microseconds=self.us(end) - self.us(start))

    def _weekly(self, wall: int) -> int:
        """Business us from the origin to a local wall time (us from the origin), holidays not removed."""
        weeks, into = divmod(wall, WEEK_US)
        j = bisect_right(self._edges, into)  # edges passed: odd while open
        if j == 0:
            return weeks * self.week_us
        return weeks * self.week_us + self._elapsed[j - 1] + (into - self._edges[j - 1] if j % 2 else 0)

    def _at_wall(self, wall: int) -> int:
        k = bisect_right(self._starts, wall)  # closed days started by then
        if k and wall < self._starts[k - 1] + DAY_US:
            return self._flat[k - 1]  # on a closed day: as at its start
        return self._weekly(wall) - (self._removed[k - 1] if k else 0)

    def _wall_at(self, weekly_us: int) -> int:
        """The earliest local wall time whose `_weekly` reaches `weekly_us`."""
        weeks = -(-weekly_us // self.week_us) - 1  # so that the rest is in (0, week]
        rest = weekly_us - weeks * self.week_us
        for a, b in self.week:
            if rest <= b - a:
                return weeks * WEEK_US + a + rest
            rest -= b - a
        raise AssertionError("unreachable: the rest is at most a week's business time")

    # -- the same coordinate in the database -----------------------------------------------------------------

    def sql_seconds(
        self, dialect: str, column: InstrumentedAttribute[Any] | ColumnElement[Any]
    ) -> ColumnElement[float]:
        """`seconds` of a stored time, computed by the database (NULL stays NULL)."""
        if dialect != "postgresql":
            return func.copilot_business_seconds(column, self.key, type_=Float)
        floats = ARRAY(Float)
        return func.copilot_business_seconds(  # migration 0041's function
            column,
            self.zone_name,
            literal([edge / 1e6 for span in self.week for edge in span], floats),
            literal([e / 1e6 for e in self._elapsed], floats),
            self.week_us / 1e6,
            literal([s / 1e6 for s in self._starts], floats),
            literal([r / 1e6 for r in self._removed], floats),
            literal([f / 1e6 for f in self._flat], floats),
            type_=Float,
        )


def parse_hours(text: str) -> tuple[tuple[int, int], ...]:
    """BUSINESS_HOURS as the week's spans: items `days HH:MM-HH:MM[,HH:MM-HH:MM]` separated by `;`, days a
    name (`mon`), a range (`mon-fri`) or a list of them; `24:00` ends a day. Spans may not overlap."""
    spans: list[tuple[int, int]] = []
    for item in (part.strip().lower() for part in text.split(";")):
        if not item:
            continue
        matched = _ITEM.match(item)
        if matched is None:
            raise BusinessHoursError(f"BUSINESS_HOURS: {item!r} is not 'days HH:MM-HH:MM' (e.g. 'mon-fri 09:00-17:00')")
        days = _days(matched["days"], item)
        for span in matched["spans"].replace(" ", "").split(","):
            opens, closes = _span(span, item)
            spans += [(d * DAY_US + opens, d * DAY_US + closes) for d in days]
    spans.sort()
    for (_, b1), (a2, _) in pairwise(spans):
        if a2 < b1:
            raise BusinessHoursError(f"BUSINESS_HOURS: two spans overlap on {DAYS[a2 // DAY_US]} ({text!r})")
    if not spans:
        raise BusinessHoursError("BUSINESS_HOURS: no hours given; leave it empty to count every hour")
    merged: list[tuple[int, int]] = []
    for a, b in spans:  # a span ending where the next starts (a night shift over midnight) is one span
        merged[-1:] = [(merged[-1][0], b)] if merged and merged[-1][1] == a else [*merged[-1:], (a, b)]
    return tuple(merged)


def _days(text: str, item: str) -> list[int]:
    days: list[int] = []
    for part in text.split(","):
        first, _, last = part.partition("-")
        for name in (first, last or first):
            if name not in DAYS:
                raise BusinessHoursError(f"BUSINESS_HOURS: {name!r} in {item!r} is not a day (mon, tue, ... sun)")
        start, end = DAYS.index(first), DAYS.index(last or first)
        if end < start:
            raise BusinessHoursError(f"BUSINESS_HOURS: {part!r} in {item!r} runs backwards (write e.g. 'mon-fri')")
        days += range(start, end + 1)
    return days


def _span(text: str, item: str) -> tuple[int, int]:
    matched = _SPAN.match(text)
    if matched is None:
        raise BusinessHoursError(f"BUSINESS_HOURS: {text!r} in {item!r} is not 'HH:MM-HH:MM'")
    h1, m1, h2, m2 = (int(g) for g in matched.groups())
    opens, closes = (h1 * 60 + m1) * 60_000_000, (h2 * 60 + m2) * 60_000_000
    if m1 > 59 or m2 > 59 or opens >= DAY_US or closes > DAY_US:
        raise BusinessHoursError(f"BUSINESS_HOURS: {text!r} in {item!r} is not a time of day (00:00-24:00)")
    if closes <= opens:
        raise BusinessHoursError(f"BUSINESS_HOURS: {text!r} in {item!r} must open before it closes")
    return opens, closes


def parse_holidays(text: str) -> tuple[date, ...]:
    """BUSINESS_HOLIDAYS: comma-separated country codes of the `holidays` package (`US`, `DE-BY` for a
    subdivision: each public holiday of HOLIDAY_YEARS) and dates (`2026-12-24`), the days the team is closed."""
    closed: set[date] = set()
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", item):
            try:
                closed.add(date.fromisoformat(item))
            except ValueError:
                raise BusinessHoursError(f"BUSINESS_HOLIDAYS: {item!r} is not a date") from None
            continue
        country, _, subdiv = item.upper().partition("-")
        try:
            found = holiday_calendars.country_holidays(country, subdiv=subdiv or None, years=HOLIDAY_YEARS)
        except NotImplementedError:
            raise BusinessHoursError(
                f"BUSINESS_HOLIDAYS: {item!r} is neither a date (YYYY-MM-DD) nor a country the holidays package"
                " knows (e.g. US, GB, DE-BY)"
            ) from None
        closed.update(found)
    return tuple(sorted(closed))


@lru_cache(maxsize=16)
def calendar_for(hours: str, zone_name: str = "UTC", holidays: str = "") -> BusinessCalendar:
    """The calendar the BUSINESS_* settings describe, made once per process (holidays are read here)."""
    week = parse_hours(hours)
    try:
        zone = ZoneInfo(zone_name)
    except (ZoneInfoNotFoundError, ValueError):
        raise BusinessHoursError(
            f"BUSINESS_TIMEZONE: {zone_name!r} is not an IANA time zone (e.g. Europe/Berlin)"
        ) from None
    closed = parse_holidays(holidays)
    _refuse_dst_inside(week, zone, zone_name)
    edges = tuple(edge for span in week for edge in span)
    open_week = BusinessCalendar(hours, zone_name, "", week, (), zone, (), (), (), edges, tuple(_elapsed(week)))
    starts: list[int] = []
    removed: list[int] = [0]
    flat: list[int] = []
    for day in closed:  # each closed day: where it starts, what `us` holds through it, what it takes away
        wall = (datetime.combine(day, datetime.min.time()) - ORIGIN) // timedelta(microseconds=1)
        starts.append(wall)
        flat.append(open_week._weekly(wall) - removed[-1])
        removed.append(removed[-1] + open_week._weekly(wall + DAY_US) - open_week._weekly(wall))
    calendar = dataclasses.replace(
        open_week,
        holidays=holidays,
        closed=closed,
        _starts=tuple(starts),
        _removed=tuple(removed[1:]),
        _flat=tuple(flat),
    )
    _REGISTERED[calendar.key] = calendar
    return calendar


def _elapsed(week: tuple[tuple[int, int], ...]) -> list[int]:
    """The week's business us at each opening and closing time in turn."""
    done, elapsed = 0, []
    for a, b in week:
        elapsed += [done, done + b - a]
        done += b - a
    return elapsed


def _refuse_dst_inside(week: tuple[tuple[int, int], ...], zone: ZoneInfo, zone_name: str) -> None:
    """Refuse business hours that hold a DST change of `zone` (over HOLIDAY_YEARS): there the wall clock
    skips or repeats an hour, which business time must not."""
    day = datetime(HOLIDAY_YEARS.start, 1, 1, tzinfo=UTC)
    end = datetime(HOLIDAY_YEARS.stop, 1, 1, tzinfo=UTC)
    offset = day.astimezone(zone).utcoffset()
    while day < end:
        following = day + timedelta(days=1)
        if following.astimezone(zone).utcoffset() != offset:
            change = day
            while (change + timedelta(minutes=15)).astimezone(zone).utcoffset() == offset:
                change += timedelta(minutes=15)
            change += timedelta(minutes=15)
            # the wall clock reads up to `before` until the change, from `after` on: [low, high) is skipped or repeated
            before = (change - timedelta(microseconds=1)).astimezone(zone).replace(tzinfo=None)
            before += timedelta(microseconds=1)
            after = change.astimezone(zone).replace(tzinfo=None)
            low, high = min(before, after), max(before, after)
            lo = (low - ORIGIN) // timedelta(microseconds=1) % WEEK_US
            hi = lo + (high - low) // timedelta(microseconds=1)
            for a, b in week:  # no zone's change crosses Monday 00:00 in HOLIDAY_YEARS (every zone checked)
                if a < hi and lo < b:
                    raise BusinessHoursError(
                        f"BUSINESS_HOURS: {zone_name}'s clocks go from {before:%H:%M} to"
                        f" {after:%H:%M} on {low:%a %Y-%m-%d}, inside business hours; start or end the hours away"
                        " from that time"
                    )
            offset = following.astimezone(zone).utcoffset()
        day = following


_REGISTERED: dict[str, BusinessCalendar] = {}


def _sqlite_seconds(stored: str | None, key: str) -> float | None:
    """SQLite's `copilot_business_seconds(time, calendar)`: a stored (UTC) time's `seconds`."""
    if stored is None:
        return None
    return _REGISTERED[key].seconds(datetime.fromisoformat(stored))


def register_sqlite(dbapi_connection: Any) -> None:
    """Give a SQLite connection `copilot_business_seconds`, which `sql_seconds` calls there."""
    dbapi_connection.create_function(SQLITE_FUNCTION, 2, _sqlite_seconds, deterministic=True)
