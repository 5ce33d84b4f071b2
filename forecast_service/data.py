"""Hourly ticket-arrival history: from the database, from a CSV, or synthetic for a new install.

Every loader returns a `History`: a pandas Series on a complete hourly grid (naive UTC
timestamps), NaN where the hour was not observed (closed hours, missing days of an
imported file) and a real count, possibly 0, where it was. Keeping "unobserved" apart
from "zero" is what lets business-hours data train without pretending nights are quiet days.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from pathlib import Path

import holidays
import numpy as np
import pandas as pd
from sqlalchemy import Engine, func, select

from shared.models import Ticket

HOURS_PER_WEEK = 168


class HistoryError(ValueError):
    """The history given cannot be used (unknown column, no timestamps, too short)."""


@dataclass(frozen=True)
class History:
    """Hourly counts plus where they came from (shown by /model/info)."""

    series: pd.Series
    source: str

    @property
    def start(self) -> pd.Timestamp:
        return self.series.index[0]

    @property
    def end(self) -> pd.Timestamp:
        return self.series.index[-1]

    @property
    def observed_hours(self) -> int:
        return int(self.series.notna().sum())

    def weeks(self) -> float:
        """Span of the history in weeks, gaps included."""
        return len(self.series) / HOURS_PER_WEEK


def to_grid(counts: pd.Series) -> pd.Series:
    """Counts indexed by hour put on a complete hourly grid, NaN in hours absent from `counts`."""
    if counts.empty:
        raise HistoryError("history has no rows")
    index = pd.DatetimeIndex(counts.index)
    if index.tz is not None:
        index = index.tz_convert("UTC").tz_localize(None)
    counts = pd.Series(counts.to_numpy(dtype=float), index=index.floor("h"))
    counts = counts.groupby(level=0).sum(min_count=1).sort_index()
    grid = pd.date_range(counts.index[0], counts.index[-1], freq="h")
    out = counts.reindex(grid)
    out.index.name = "hour_start"
    out.name = "count"
    return out


def now_hour() -> pd.Timestamp:
    """The start of the current UTC hour as a naive timestamp (the grid's convention)."""
    return pd.Timestamp(datetime.now(UTC).replace(tzinfo=None)).floor("h")


# --- database -------------------------------------------------------------------------------------


def _hour_bucket(engine: Engine):  # type: ignore[no-untyped-def]
    """A SQL expression truncating created_at to its UTC hour, for the engine's dialect."""
    column = Ticket.created_at
    if engine.dialect.name == "postgresql":
        return func.date_trunc("hour", func.timezone("UTC", column))
    # SQLite stores the UTC wall time as text; strftime truncates it the same way.
    return func.strftime("%Y-%m-%d %H:00:00", column)


def load_db_history(engine: Engine, *, until: pd.Timestamp | None = None) -> History | None:
    """Hourly ticket arrivals from `tickets.created_at`, zeros in quiet hours; None without tickets.

    The grid runs from the first ticket's hour to `until` (default: the current hour, excluded)
    because an hour the desk was open but received nothing is a real zero.
    """
    bucket = _hour_bucket(engine).label("hour")
    stmt = select(bucket, func.count()).select_from(Ticket).group_by(bucket).order_by(bucket)
    with engine.connect() as conn:
        rows = conn.execute(stmt).all()
    if not rows:
        return None
    index = pd.to_datetime([str(hour) for hour, _ in rows], utc=True).tz_localize(None)
    counts = pd.Series([float(n) for _, n in rows], index=index)
    series = to_grid(counts).fillna(0.0)
    until = now_hour() if until is None else until
    if until > series.index[-1]:
        grid = pd.date_range(series.index[0], until - pd.Timedelta(hours=1), freq="h")
        series = series.reindex(grid, fill_value=0.0)
        series.index.name = "hour_start"
    return History(series=series, source="database")


# --- CSV ------------------------------------------------------------------------------------------

_TIME_NAMES = ("hour_start", "timestamp", "created_at", "datetime", "date", "time", "ds", "hour")
_COUNT_NAMES = ("count", "counts", "tickets", "ticket_count", "calls", "volume", "y", "n", "value")


def _pick(columns: list[str], preferred: tuple[str, ...], kind: str, flag: str) -> str:
    named = [c for c in columns if c.lower() in preferred]
    if len(named) == 1:
        return named[0]
    if len(columns) == 1:
        return columns[0]
    raise HistoryError(f"cannot tell which column holds the {kind} among {columns}; pass {flag} COLUMN")


def read_history_csv(path: str | Path, *, time_col: str | None = None, count_col: str | None = None) -> History:
    """Hourly history from a CSV of hourly counts (`hour_start,count`) or of one row per ticket.

    Columns are detected when unambiguous. With a count column, hours missing from the file
    stay unobserved (closed hours, missing days); with one row per ticket, hours between the
    first and last ticket without any row are zeros.
    """
    path = Path(path)
    try:
        frame = pd.read_csv(path)
    except (OSError, UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise HistoryError(f"cannot read {path}: {exc}") from exc
    if frame.empty:
        raise HistoryError(f"{path} has no rows")
    columns = list(frame.columns)
    for name in (time_col, count_col):
        if name is not None and name not in columns:
            raise HistoryError(f"column {name!r} not in {path} (columns: {columns})")

    if time_col is None:
        candidates = []
        for column in columns:
            if column == count_col or pd.api.types.is_numeric_dtype(frame[column]):
                continue
            parsed = pd.to_datetime(frame[column], errors="coerce", utc=True, format="mixed")
            if parsed.notna().mean() > 0.5:  # a few bad rows are skipped, not fatal
                candidates.append(column)
        if not candidates:
            raise HistoryError(f"no timestamp column found in {path} (columns: {columns})")
        time_col = _pick(candidates, _TIME_NAMES, "timestamps", "--time-col")

    if count_col is None:
        numeric = [c for c in columns if c != time_col and pd.api.types.is_numeric_dtype(frame[c])]
        named = [c for c in numeric if c.lower() in _COUNT_NAMES]
        # A count column holding text would otherwise be ignored and every row counted as one ticket.
        textual = [c for c in columns if c != time_col and c not in numeric and str(c).lower() in _COUNT_NAMES]
        if textual and not named:
            column = frame[textual[0]]
            bad = column[pd.to_numeric(column, errors="coerce").isna() & column.notna()]
            raise HistoryError(
                f"column {textual[0]!r} of {path} holds non-numbers (e.g. {bad.iloc[0] if len(bad) else None!r}):"
                " fix them, or rename the column if each row is one ticket"
            )
        if len(named) == 1 or (len(numeric) == 1 and len(columns) == 2):
            count_col = (named or numeric)[0]
        elif len(named) > 1:
            raise HistoryError(f"several count columns {named} in {path}; pass --count-col COLUMN")

    stamps = pd.to_datetime(frame[time_col], errors="coerce", utc=True, format="mixed")
    keep = stamps.notna()
    if not keep.any():
        raise HistoryError(f"column {time_col!r} of {path} holds no timestamps")
    stamps = stamps[keep].dt.tz_localize(None)
    if count_col is not None:
        values = pd.to_numeric(frame.loc[keep, count_col], errors="coerce")
        counts = pd.Series(values.to_numpy(dtype=float), index=pd.DatetimeIndex(stamps))
        counts = counts.dropna()
        if (counts < 0).any():
            raise HistoryError(f"column {count_col!r} of {path} has negative counts")
        series = to_grid(counts)
    else:
        counts = pd.Series(1.0, index=pd.DatetimeIndex(stamps))
        series = to_grid(counts).fillna(0.0)
    return History(series=series, source=f"csv:{path.name}")


# --- synthetic ------------------------------------------------------------------------------------


@lru_cache(maxsize=16)
def holiday_dates(country: str, years: tuple[int, ...]) -> frozenset[date]:
    """Public holidays of `country` in `years` (the `holidays` package, offline)."""
    return frozenset(holidays.country_holidays(country, years=list(years)).keys())


def black_friday(year: int) -> date:
    """The day after the fourth Thursday of November."""
    first = date(year, 11, 1)
    thursday = first + timedelta(days=(3 - first.weekday()) % 7 + 21)
    return thursday + timedelta(days=1)


def calendar_flags(index: pd.DatetimeIndex, country: str) -> tuple[np.ndarray, np.ndarray]:
    """Per-hour holiday and Black Friday flags (0/1 arrays)."""
    years = tuple(sorted({int(y) for y in index.year}))
    days = holiday_dates(country, years)
    dates = index.date
    holiday = np.fromiter((d in days for d in dates), dtype=float, count=len(index))
    fridays = {black_friday(y) for y in years}
    friday = np.fromiter((d in fridays for d in dates), dtype=float, count=len(index))
    return holiday, friday


def synthetic_history(
    *,
    end: pd.Timestamp | None = None,
    weeks: float = 26,
    seed: int = 42,
    base_rate: float = 4.0,
    country: str = "US",
) -> History:
    """Six months (by default) of hourly tickets with the seed's patterns, reproducible per seed.

    Business hours 9-17 about 2x, Monday +40%, Sunday -60%, 1st-3rd of the month +50%,
    Black Friday +200%, public holidays +100%, Poisson noise. Noise is drawn per timestamp
    from `seed`, so two series that overlap agree on their common hours.
    """
    end = now_hour() if end is None else pd.Timestamp(end).floor("h")
    hours = math.ceil(weeks * HOURS_PER_WEEK)
    index = pd.date_range(end - pd.Timedelta(hours=hours), periods=hours, freq="h")
    rate = np.full(hours, base_rate)
    hour = index.hour.to_numpy()
    dow = index.dayofweek.to_numpy()
    rate *= np.where((hour >= 9) & (hour < 17), 2.0, 1.0)
    rate *= np.where(hour < 6, 0.5, 1.0)  # nights are quieter than evenings
    rate *= np.select([dow == 0, dow == 6], [1.4, 0.4], 1.0)
    rate *= np.where(index.day.to_numpy() <= 3, 1.5, 1.0)
    holiday, friday = calendar_flags(index, country)
    rate *= np.where(holiday > 0, 2.0, 1.0)
    rate *= np.where(friday > 0, 3.0, 1.0)
    # One generator per absolute hour keeps values stable whatever the window asked for.
    epoch_hours = ((index - pd.Timestamp("2000-01-01")) // pd.Timedelta(hours=1)).to_numpy()
    uniforms = np.array([np.random.default_rng([seed, int(h)]).random() for h in epoch_hours], dtype=float)
    counts = _poisson_ppf(uniforms, rate)
    series = pd.Series(counts, index=index, name="count")
    series.index.name = "hour_start"
    return History(series=series, source="synthetic")


def _poisson_ppf(u: np.ndarray, lam: np.ndarray) -> np.ndarray:
    """Poisson quantiles by inverse CDF (rates here are small, so the walk is short)."""
    k = np.zeros_like(lam)
    p = np.exp(-lam)
    cdf = p.copy()
    active = u > cdf
    while active.any():
        k[active] += 1
        p[active] *= lam[active] / k[active]
        cdf[active] += p[active]
        active = u > cdf
    return k
