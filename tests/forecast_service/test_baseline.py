"""The calendar-adjusted profile the served forecast blends with: effects found, taken out, put back."""

from __future__ import annotations

import numpy as np
import pandas as pd

from forecast_service import baseline
from forecast_service.data import synthetic_history

END = pd.Timestamp("2025-09-29")  # a Monday; the next days include the 1st-3rd of October


def _weekdays_only(series: pd.Series) -> pd.Series:
    index = series.index
    return series.mask((index.dayofweek >= 5) | (index.hour < 7) | (index.hour > 20))


def test_month_start_effect_is_measured_and_forecast_on_the_days_it_falls() -> None:
    # The synthetic generator makes the 1st-3rd of each month 1.5x busier.
    series = synthetic_history(end=END, weeks=16, seed=7).series
    effects, _ = baseline.calendar_effects(series, 4, "US")
    assert 1.3 < np.exp(effects["month_start"]) < 1.7
    assert effects["post_closure"] == 0.0  # round-the-clock data has no closed days
    future = pd.date_range(END, periods=14 * 24, freq="h")
    forecast = pd.Series(baseline.calendar_profile(series, future, 4), index=future)
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

    profile = mae(baseline.calendar_profile(train, future, 4))
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

    effects, _ = baseline.calendar_effects(series, 4, "US")
    # Measured, but one day is weak evidence: shrunk toward no effect by EFFECT_SHRINK pseudo-days.
    assert 0.5 * np.log(1.6) / (1 + baseline.EFFECT_SHRINK) < effects["post_closure"] < np.log(1.6)
    tuesday = pd.date_range("2025-09-30 07:00", periods=14, freq="h")  # the next Tuesday, open hours
    clean = series.copy()
    clean[clean.index.normalize() == backlog] /= 1.6
    truth = baseline.calendar_profile(clean, tuesday, 4).sum()
    adjusted = baseline.calendar_profile(series, tuesday, 4).sum()
    plain = baseline.weekly_mean(series, tuesday, 4).sum()
    assert abs(adjusted - truth) < 0.25 * abs(plain - truth)
