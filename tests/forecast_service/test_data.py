"""History loading: the database on both dialects, CSV import with gaps, the synthetic generator."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from forecast_service.data import HistoryError, load_db_history, read_history_csv, synthetic_history
from shared.models import Customer, Ticket


def test_db_history_counts_tickets_per_utc_hour(session_factory) -> None:  # type: ignore[no-untyped-def]
    # Given tickets at 10:05, 10:59 and 13:30 UTC (one given in another zone), none at 11-12
    base = datetime(2025, 3, 3, 10, 5, tzinfo=UTC)
    stamps = [
        base,
        base + timedelta(minutes=54),
        (base + timedelta(hours=3, minutes=25)).astimezone(__import__("zoneinfo").ZoneInfo("America/New_York")),
    ]
    with session_factory() as session:
        session.add(Customer(customer_id="C1", email="c1@example.com"))
        for n, stamp in enumerate(stamps):
            session.add(Ticket(ticket_id=f"T{n}", customer_id="C1", subject="s", description="d", created_at=stamp))
        session.commit()
    # When the history is read up to 15:00
    history = load_db_history(session_factory.kw["bind"], until=pd.Timestamp("2025-03-03 15:00"))
    # Then quiet hours are real zeros and the grid stops before `until`
    assert history is not None and history.source == "database"
    assert history.series.to_dict() == {
        pd.Timestamp("2025-03-03 10:00"): 2.0,
        pd.Timestamp("2025-03-03 11:00"): 0.0,
        pd.Timestamp("2025-03-03 12:00"): 0.0,
        pd.Timestamp("2025-03-03 13:00"): 1.0,
        pd.Timestamp("2025-03-03 14:00"): 0.0,
    }


def test_db_history_is_none_without_tickets(session_factory) -> None:  # type: ignore[no-untyped-def]
    assert load_db_history(session_factory.kw["bind"]) is None


def _business_hours_csv(path: Path) -> pd.Series:
    """Weekdays 07-20 only, one weekday missing entirely (a holiday), like a call centre export."""
    hours = pd.date_range("2025-03-03", "2025-03-21 23:00", freq="h")
    keep = (hours.dayofweek < 5) & (hours.hour >= 7) & (hours.hour <= 20) & (hours.normalize() != "2025-03-12")
    counts = pd.Series(np.arange(keep.sum()) % 50 + 5, index=hours[keep])
    counts.rename_axis("hour_start").rename("calls").to_csv(path)
    return counts


def test_csv_hourly_counts_keep_gaps_unobserved(tmp_path: Path) -> None:
    expected = _business_hours_csv(tmp_path / "calls.csv")
    history = read_history_csv(tmp_path / "calls.csv")
    series = history.series
    assert series.index[0] == expected.index[0] and series.index[-1] == expected.index[-1]
    assert (series.index.to_series().diff().dropna() == pd.Timedelta(hours=1)).all()
    assert series.dropna().to_dict() == {k: float(v) for k, v in expected.items()}
    assert series.loc["2025-03-12"].isna().all()  # the missing day
    assert series.loc["2025-03-08"].isna().all()  # a weekend
    assert np.isnan(series.loc[pd.Timestamp("2025-03-04 03:00")])  # a night


def test_csv_one_row_per_ticket_counts_rows_and_fills_quiet_hours(tmp_path: Path) -> None:
    path = tmp_path / "tickets.csv"
    path.write_text(
        "id,created,subject\n"
        "1,2025-03-03T09:10:00Z,a\n2,2025-03-03T09:50:00+00:00,b\n"
        "3,2025-03-03 12:01:00,c\n4,not a date,d\n"
    )
    series = read_history_csv(path).series
    assert series.tolist() == [2.0, 0.0, 0.0, 1.0]


def test_csv_columns_can_be_named_and_ambiguity_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "two.csv"
    path.write_text("start,end,tickets,calls\n2025-03-03 09:00,2025-03-03 10:00,4,7\n")
    with pytest.raises(HistoryError, match="--time-col"):
        read_history_csv(path)
    with pytest.raises(HistoryError, match="--count-col"):
        read_history_csv(path, time_col="start")
    assert read_history_csv(path, time_col="start", count_col="calls").series.tolist() == [7.0]
    with pytest.raises(HistoryError, match="not in"):
        read_history_csv(path, time_col="nope")


def test_csv_count_column_with_text_is_an_error_not_one_ticket_per_row(tmp_path: Path) -> None:
    path = tmp_path / "counts.csv"
    path.write_text('hour_start,count\n2025-03-03 09:00,"1,234"\n2025-03-03 10:00,5\n')
    with pytest.raises(HistoryError, match=r"'count' .* holds non-numbers \(e\.g\. '1,234'\)"):
        read_history_csv(path)
    (tmp_path / "bytes.csv").write_bytes(b"\xff\xfe\x00")
    with pytest.raises(HistoryError, match=r"cannot read .*bytes\.csv"):
        read_history_csv(tmp_path / "bytes.csv")


def test_synthetic_history_is_reproducible_and_has_the_seed_patterns() -> None:
    end = pd.Timestamp("2025-06-30")
    history = synthetic_history(end=end, seed=7)
    series = history.series
    assert history.source == "synthetic" and len(series) == 26 * 168
    assert series.equals(synthetic_history(end=end, seed=7).series)
    shorter = synthetic_history(end=end - pd.Timedelta(days=3), weeks=4, seed=7).series
    assert series.reindex(shorter.index).equals(shorter)  # overlapping windows agree
    assert not series.equals(synthetic_history(end=end, seed=8).series)

    ordinary = series[(series.index.day > 3) & (series.index.hour >= 6)]
    by_day = ordinary.groupby(ordinary.index.dayofweek).mean()
    assert by_day[0] / by_day[1] == pytest.approx(1.4, rel=0.15)  # Monday +40%
    assert by_day[6] / by_day[1] == pytest.approx(0.4, rel=0.15)  # Sunday -60%
    weekday = ordinary[ordinary.index.dayofweek.isin([1, 2, 3])]
    office = weekday[(weekday.index.hour >= 9) & (weekday.index.hour < 17)].mean()
    assert office / weekday[weekday.index.hour >= 17].mean() == pytest.approx(2.0, rel=0.15)
    month_start = series[(series.index.day <= 3) & series.index.dayofweek.isin([1, 2, 3])]
    assert month_start.mean() > 1.3 * series[series.index.dayofweek.isin([1, 2, 3])].mean()
