"""The calendar-adjusted profile the served forecast blends with: effects found, taken out, put back;
level, weekday factor and intraday shares recovered, partial days counted by what they cover."""

from __future__ import annotations

import numpy as np
import pandas as pd

from forecast_service import baseline
from forecast_service.data import synthetic_history
from forecast_service.model import Forecaster

END = pd.Timestamp("2025-09-29")  # a Monday; the next days include the 1st-3rd of October


def _weekdays_only(series: pd.Series) -> pd.Series:
    index = series.index
    return series.mask((index.dayofweek >= 5) | (index.hour < 7) | (index.hour > 20))


def test_month_start_effect_is_measured_and_forecast_on_the_days_it_falls() -> None:
    # The synthetic generator makes the 1st-3rd of each month 1.5x busier.
    series = synthetic_history(end=END, weeks=16, seed=7).series
    effects = baseline.calendar_effects(series, "US")
    assert 1.3 < np.exp(effects["month_start"]) < 1.7
    assert effects["post_closure"] == 0.0  # round-the-clock data has no closed days
    future = pd.date_range(END, periods=14 * 24, freq="h")
    forecast = pd.Series(baseline.decomposed_profile(series, future, 2, 0.5), index=future)
    # Wednesday 1 October against Wednesday 8 October: same slots, only the calendar differs.
    first, later = forecast["2025-10-01"].sum(), forecast["2025-10-08"].sum()
    assert later > 0 and abs(first / later - np.exp(effects["month_start"])) < 1e-9


def test_profile_beats_every_plain_weekly_mean_across_a_month_start() -> None:
    full = synthetic_history(end=END + pd.Timedelta(days=14), weeks=18, seed=7).series
    train, test = full[full.index < END], full[full.index >= END]
    future = pd.DatetimeIndex(test.index)
    actual = test.to_numpy()

    def mae(predicted: np.ndarray) -> float:
        return float(np.mean(np.abs(actual - predicted)))

    profile = mae(baseline.decomposed_profile(train, future, 2, 0.5))
    weekly = {k: mae(baseline.weekly_mean(train, future, k)) for k in range(2, 9)}
    assert profile < min(weekly.values())


def test_the_day_after_a_closure_is_flagged_and_does_not_inflate_the_profile() -> None:
    series = _weekdays_only(synthetic_history(end=END, weeks=12, seed=5).series)
    closed, backlog = pd.Timestamp("2025-09-08"), pd.Timestamp("2025-09-09")  # a shut Monday, then Tuesday
    series[series.index.normalize() == closed] = np.nan
    series[series.index.normalize() == backlog] *= 1.6
    series = series.loc[: series.last_valid_index()]
    days = pd.date_range(series.index[0].normalize(), series.index[-1].normalize(), freq="D")
    seen = np.isin(days, series.dropna().index.normalize())
    flags = baseline.day_flags(days, "US", seen)
    assert list(days[flags["post_closure"]]) == [backlog]  # weekends are not closures: never open
    assert not baseline.day_flags(days, "US")["post_closure"].any()  # future closures are unknown

    effects = baseline.calendar_effects(series, "US")
    # Measured, but one day is weak evidence: shrunk toward no effect by EFFECT_SHRINK pseudo-days.
    assert 0.5 * np.log(1.6) / (1 + baseline.EFFECT_SHRINK) < effects["post_closure"] < np.log(1.6)
    tuesday = pd.date_range("2025-09-30 07:00", periods=14, freq="h")  # the next Tuesday, open hours
    clean = series.copy()
    clean[clean.index.normalize() == backlog] /= 1.6
    truth = baseline.decomposed_profile(clean, tuesday, 2, 0.5).sum()
    adjusted = baseline.decomposed_profile(series, tuesday, 2, 0.5).sum()
    plain = baseline.weekly_mean(series, tuesday, 4).sum()
    assert abs(adjusted - truth) < 0.25 * abs(plain - truth)


def _structured(end: pd.Timestamp, weeks: int, level: float = 1000.0) -> tuple[pd.Series, np.ndarray, np.ndarray]:
    """A noise-free weekdays 07-20 series: level x weekday factor x intraday share, nothing else."""
    factor = np.array([1.2, 1.0, 0.9, 0.95, 0.95, 0.0, 0.0])
    share = np.zeros((7, 24))
    hump = np.sin(np.linspace(0.3, np.pi - 0.3, 14))
    share[:5, 7:21] = hump / hump.sum()
    share[0, 7:21] = np.roll(hump, 1) / hump.sum()  # Mondays start later than the other days
    index = pd.date_range(end - pd.Timedelta(weeks=weeks), end, freq="h", inclusive="left")
    dow, hour = index.dayofweek.to_numpy(), index.hour.to_numpy()
    values = level * factor[dow] * share[dow, hour]
    return pd.Series(np.where(share[dow, hour] > 0, values, np.nan), index=index), factor, share


def test_level_weekday_and_intraday_shares_are_recovered_and_closed_hours_forecast_zero() -> None:
    end = pd.Timestamp("2025-06-09")  # a Monday; no month start or holiday in the next week
    series, factor, share = _structured(end, weeks=8)
    future = pd.date_range(end, periods=7 * 24, freq="h")
    truth = 1000.0 * factor[future.dayofweek] * share[future.dayofweek, future.hour]
    forecast = baseline.decomposed_profile(series, future, 1, 0.0)
    np.testing.assert_allclose(forecast, truth, rtol=1e-6, atol=1e-6)
    assert (forecast[truth == 0] == 0).all()  # nights and the weekend were never open
    # Pooling the shape over weekdays blurs Monday's own, later start.
    pooled = baseline.decomposed_profile(series, future, 1, 1.0)
    monday = future.dayofweek == 0
    assert np.abs(pooled - truth)[monday].sum() > 0.01 * truth[monday].sum()


def test_a_recent_level_shift_moves_a_short_half_life_more_and_a_partial_day_does_not_drag_it() -> None:
    end = pd.Timestamp("2025-06-09")
    before, _, _ = _structured(end - pd.Timedelta(weeks=1), weeks=7)
    last_week, _, _ = _structured(end, weeks=1, level=1300.0)
    series = pd.concat([before, last_week])
    future = pd.date_range(end, periods=7 * 24, freq="h")
    short = baseline.decomposed_profile(series, future, 0.5, 0.0).sum()
    long = baseline.decomposed_profile(series, future, 4, 0.0).sum()
    plain = baseline.decomposed_profile(before, future, 4, 0.0).sum()
    assert plain < long < short < 1.3 * plain
    # Asked mid-day, today's hours count as the share of the day they carry, not as a low day:
    # by 16:00 (most of Monday's volume) as the whole Monday would; at 11:00 (under
    # MIN_DAY_SHARE of it) not at all, as if asked before Monday began.
    # (Calendar effects held at none: the step up spans 2-3 June, which would read as a month start.)
    none = dict.fromkeys(baseline.DAY_FLAGS, 0.0)
    monday, _, _ = _structured(end + pd.Timedelta(days=1), weeks=1 / 7, level=1300.0)
    tuesday = pd.date_range(end + pd.Timedelta(days=1), periods=24, freq="h")

    def tuesday_from(history: pd.Series) -> np.ndarray:
        return baseline.decomposed_profile(history, tuesday, 0.5, 0.0, effects=none)

    whole = tuesday_from(pd.concat([series, monday]))
    np.testing.assert_allclose(tuesday_from(pd.concat([series, monday.iloc[:16]])), whole, rtol=1e-9)
    np.testing.assert_allclose(tuesday_from(pd.concat([series, monday.iloc[:11]])), tuesday_from(series), rtol=1e-9)
    assert monday.iloc[:16].sum() < 0.7 * monday.sum()  # what a raw part-day total would have given


def _shut_on_holidays(end: pd.Timestamp) -> pd.Series:
    """Weekdays 07-20, closed on Memorial Day and Juneteenth 2025, each next open day 1.5x busier."""
    series = _weekdays_only(synthetic_history(end=end, weeks=12, seed=11).series)
    for closed, after in (("2025-05-26", "2025-05-27"), ("2025-06-19", "2025-06-20")):
        series[series.index.normalize() == pd.Timestamp(closed)] = np.nan
        series[series.index.normalize() == pd.Timestamp(after)] *= 1.5
    return series


def test_a_desk_shut_on_its_past_holidays_is_forecast_shut_on_the_next_and_busy_the_day_after() -> None:
    end = pd.Timestamp("2025-07-01")  # a Tuesday; Friday 4 July is a public holiday
    series = _shut_on_holidays(end)
    days = pd.date_range(end, periods=14, freq="D")
    flags, closed = baseline.future_day_flags(series, days, "US")
    assert list(days[closed]) == [pd.Timestamp("2025-07-04")]
    assert list(days[flags["post_closure"]]) == [pd.Timestamp("2025-07-07")]  # Monday, not Saturday

    future = pd.date_range(end, periods=14 * 24, freq="h")
    forecast = pd.Series(baseline.decomposed_profile(series, future, 2, 0.5), index=future)
    assert forecast["2025-07-04"].sum() == 0 and forecast["2025-07-03"].sum() > 0
    effect = np.exp(baseline.calendar_effects(series, "US")["post_closure"])
    assert effect > 1.1
    np.testing.assert_allclose(forecast["2025-07-07"].sum() / forecast["2025-07-14"].sum(), effect)

    # The fallback forecaster knows it too: nothing on the holiday, the rest of the week as usual.
    fallback = Forecaster.baseline().forecast(series, 14 * 24)["predicted"]
    assert fallback["2025-07-04"].sum() == 0 and fallback["2025-07-03"].sum() > 0


def test_a_desk_open_on_its_past_holidays_is_forecast_open_on_the_next() -> None:
    series = synthetic_history(end=pd.Timestamp("2025-07-01"), weeks=12, seed=11).series  # holidays 2x busier
    days = pd.date_range("2025-07-01", periods=14, freq="D")
    flags, closed = baseline.future_day_flags(series, days, "US")
    assert not closed.any() and not flags["post_closure"].any()
    future = pd.date_range("2025-07-01", periods=14 * 24, freq="h")
    forecast = pd.Series(baseline.decomposed_profile(series, future, 2, 0.5), index=future)
    assert forecast["2025-07-04"].sum() > 1.3 * forecast["2025-07-11"].sum()


def test_a_history_that_ends_on_a_closed_weekday_makes_the_next_open_day_post_closure() -> None:
    series = _shut_on_holidays(pd.Timestamp("2025-07-01"))
    friday = pd.Timestamp("2025-06-27")  # shut for the day, and the history ends on it
    series = series[series.index < friday + pd.Timedelta(days=1)]
    series[series.index.normalize() == friday] = np.nan
    days = pd.date_range(friday, periods=7, freq="D")
    flags, closed = baseline.future_day_flags(series, days, "US")
    assert not closed.any()  # not a holiday: nothing says the desk will shut again
    assert list(days[flags["post_closure"]]) == [pd.Timestamp("2025-06-30")]
