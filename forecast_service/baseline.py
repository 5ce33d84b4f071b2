"""Seasonal baselines and the error metrics every forecast is judged by.

A "slot" is an hour of the week (Monday 00:00 = 0 ... Sunday 23:00 = 167). Working by slot
rather than by position keeps business-hours data with missing days aligned: the value
repeated for a Friday 10:00 is the last observed Friday 10:00, not whatever came 70 open
hours earlier.
"""

from __future__ import annotations

from typing import cast

import numpy as np
import pandas as pd

SLOTS = 168


def slots(index: pd.DatetimeIndex) -> np.ndarray:
    """Hour-of-week of each timestamp."""
    return (index.dayofweek * 24 + index.hour).to_numpy()


def slot_table(series: pd.Series, k: int | None) -> np.ndarray:
    """Per slot, the mean of its last `k` observed values (all when k is None); NaN if never seen."""
    observed = series.dropna()
    frame = pd.DataFrame({"y": observed.to_numpy(), "slot": slots(pd.DatetimeIndex(observed.index))})
    grouped = frame.groupby("slot")["y"]
    means = grouped.mean() if k is None else grouped.apply(lambda v: v.iloc[-k:].mean())
    table = np.full(SLOTS, np.nan)
    table[means.index.to_numpy()] = means.to_numpy()
    return table


def open_slots(series: pd.Series, min_share: float = 0.5) -> np.ndarray:
    """Slots observed in at least `min_share` of the weeks the history spans (closed ones are not)."""
    index = pd.DatetimeIndex(series.index)
    seen = np.bincount(slots(index[series.notna().to_numpy()]), minlength=SLOTS)
    total = np.bincount(slots(index), minlength=SLOTS)
    return seen >= min_share * np.maximum(total, 1)


def seasonal_naive(series: pd.Series, future: pd.DatetimeIndex) -> np.ndarray:
    """The last observed week repeated: each future hour gets its slot's latest value (0 if unseen)."""
    return np.nan_to_num(slot_table(series, 1)[slots(future)])


def weekly_mean(series: pd.Series, future: pd.DatetimeIndex, k: int) -> np.ndarray:
    """Mean of the same weekday-hour over the last `k` observed weeks (0 if unseen)."""
    return np.nan_to_num(slot_table(series, k)[slots(future)])


def naive_scale(series: pd.Series) -> float:
    """In-sample MAE of the one-week seasonal difference (Hyndman's MASE denominator)."""
    diff = (series - series.shift(SLOTS)).dropna()
    return float(diff.abs().mean()) if len(diff) else float("nan")


def metrics(
    actual: np.ndarray,
    predicted: np.ndarray,
    *,
    naive: np.ndarray,
    scale: float,
    lower: np.ndarray | None = None,
    upper: np.ndarray | None = None,
) -> dict[str, float]:
    """MAE, RMSE, sMAPE (%), MASE, the seasonal-naive MAE and rel_mae, and 80% coverage."""
    actual = np.asarray(actual, dtype=float)
    predicted = np.asarray(predicted, dtype=float)
    error = actual - predicted
    mae = float(np.mean(np.abs(error)))
    denom = np.abs(actual) + np.abs(predicted)
    ratio = np.divide(2 * np.abs(error), denom, out=np.zeros_like(denom), where=denom > 0)
    naive_mae = float(np.mean(np.abs(actual - naive)))
    out = {
        "mae": mae,
        "rmse": float(np.sqrt(np.mean(error**2))),
        "smape": float(100 * np.mean(ratio)),
        "mase": mae / scale if scale > 0 else float("nan"),
        "naive_mae": naive_mae,
        "rel_mae": mae / naive_mae if naive_mae > 0 else float("nan"),
    }
    if lower is not None and upper is not None:
        out["coverage_80"] = float(np.mean((actual >= lower) & (actual <= upper)))
    return out


# --- calendar effects --------------------------------------------------------------------

DAY_FLAGS = ("month_start", "holiday", "black_friday", "post_closure")
EFFECTS_HALFLIFE = 4.0  # weeks; the weekday-hour profile calendar effects are measured against
EFFECT_SHRINK = 2.0  # pseudo-days at "no effect": a flag seen on few days moves the forecast less


def _calendar_flags(days: pd.DatetimeIndex, country: str) -> tuple[np.ndarray, np.ndarray]:
    from forecast_service.data import calendar_flags  # data imports nothing from here; keep it lazy anyway

    return calendar_flags(days, country)


def day_flags(days: pd.DatetimeIndex, country: str, seen: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Per calendar day: first three days of the month, public holiday, Black Friday and, when
    `seen` (was the day observed at all) is given, the first observed day after a closure.

    A closure is an unobserved day of a weekday that is usually open (a bank holiday on a
    weekdays-only series); the day after it carries the backlog. Future closures are unknown,
    so without `seen` that flag is all False.
    """
    holiday, friday = _calendar_flags(days, country)
    flags = {
        "month_start": np.asarray(days.day <= 3),
        "holiday": holiday > 0,
        "black_friday": friday > 0,
        "post_closure": np.zeros(len(days), dtype=bool),
    }
    if seen is not None:
        flags["post_closure"] = _after_closure(np.asarray(days.dayofweek), seen, _usually_open(days, seen))
    return flags


def _usually_open(days: pd.DatetimeIndex, seen: np.ndarray) -> np.ndarray:
    """Per weekday (Monday first): open on at least half of its days."""
    weekday = np.asarray(days.dayofweek)
    return np.bincount(weekday[seen], minlength=7) >= 0.5 * np.bincount(weekday, minlength=7)


def _after_closure(weekday: np.ndarray, seen: np.ndarray, usually_open: np.ndarray) -> np.ndarray:
    """Per day: open, after one or more closed days of weekdays that usually open."""
    out = np.zeros(len(seen), dtype=bool)
    closed_before = False
    for i in range(len(seen)):
        if seen[i]:
            out[i] = closed_before
            closed_before = False
        elif usually_open[weekday[i]]:
            closed_before = True
    return out


def future_day_flags(
    series: pd.Series, days: pd.DatetimeIndex, country: str
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Flags of `days` (calendar days from the history's last day on) and which of them will be closed.

    Future closures are unknown but for one kind: public holidays, when the history shut on the
    holidays that fell on days it usually opens (a bank closed on Memorial Day will be closed on
    4 July). Those are forecast closed, and the next open day carries the post-closure backlog
    the history measured, as does the first day after a closure the history ends on.
    """
    hist_days, _, seen, hist_flags = _history_days(series, country)
    return _future_flags(hist_days, seen, hist_flags, days, country)


def _future_flags(
    hist_days: pd.DatetimeIndex,
    seen: np.ndarray,
    hist_flags: dict[str, np.ndarray],
    days: pd.DatetimeIndex,
    country: str,
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    usually_open = _usually_open(hist_days, seen)
    on_open_day = hist_flags["holiday"] & usually_open[np.asarray(hist_days.dayofweek)]
    shuts_on_holidays = bool(on_open_day.any()) and float((~seen[on_open_day]).mean()) > 0.5
    span = pd.date_range(hist_days[0], max(hist_days[-1], days[-1]), freq="D")
    flags = day_flags(span, country)
    weekday = np.asarray(span.dayofweek)
    closed = shuts_on_holidays & flags["holiday"]
    expected = np.concatenate([seen, (usually_open[weekday] & ~closed)[len(hist_days) :]])
    flags["post_closure"] = _after_closure(weekday, expected, usually_open)
    at = ((days - span[0]) // pd.Timedelta(days=1)).to_numpy()
    closed[: len(hist_days)] &= ~seen  # a holiday the history shows open is open
    return {name: flag[at] for name, flag in flags.items()}, closed[at]


def _history_days(
    series: pd.Series, country: str
) -> tuple[pd.DatetimeIndex, np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """The calendar days `series` spans, each observed hour's day number, which days were seen, and the
    days' flags (post-closure included, since the history shows which days were closed)."""
    index = pd.DatetimeIndex(series.dropna().index)
    days = pd.date_range(series.index[0].normalize(), series.index[-1].normalize(), freq="D")
    day_of = ((index.normalize() - days[0]) // pd.Timedelta(days=1)).to_numpy()
    seen = np.bincount(day_of, minlength=len(days)) > 0
    return days, day_of, seen, day_flags(days, country, seen)


def _log_multiplier(effects: dict[str, float], flags: dict[str, np.ndarray]) -> np.ndarray:
    """Per day, the sum of the effects of the flags it carries."""
    return cast(np.ndarray, sum(effects[name] * flags[name] for name in DAY_FLAGS))


def _slot_ewm(values: np.ndarray, slot: np.ndarray, halflife: float) -> np.ndarray:
    """Per slot, the mean of its observed values weighted 0.5 ** (weeks back / halflife); NaN if unseen."""
    age = pd.Series(slot).groupby(slot).cumcount(ascending=False).to_numpy()
    weight = 0.5 ** (age / halflife)
    total = np.bincount(slot, weights=weight * values, minlength=SLOTS)
    mass = np.bincount(slot, weights=weight, minlength=SLOTS)
    return np.divide(total, mass, out=np.full(SLOTS, np.nan), where=mass > 0)


def calendar_effects(series: pd.Series, country: str, halflife: float = EFFECTS_HALFLIFE) -> dict[str, float]:
    """Log-multipliers of each day flag in the history.

    A plain weekly mean is pulled up for k weeks by a month-start or post-holiday week and
    forecasts the next month start as an ordinary day. Here each observed day's total is
    compared with an exponentially weighted profile built from unflagged days; a flag's effect
    is the mean log ratio of its days over that of unflagged days, shrunk toward zero by
    EFFECT_SHRINK pseudo-days. The profile then divides them out, so every week counts at its
    ordinary level, and multiplies them back onto the future days they fall on.
    """
    observed = series.dropna()
    values = observed.to_numpy(dtype=float)
    slot = slots(pd.DatetimeIndex(observed.index))
    days, day_of, seen, flags = _history_days(series, country)
    flagged = np.any(np.column_stack([flags[name] for name in DAY_FLAGS]), axis=1)
    clean = ~flagged[day_of]
    first = _slot_ewm(values[clean], slot[clean], halflife) if clean.sum() >= SLOTS else np.full(SLOTS, np.nan)
    first = np.where(np.isnan(first), _slot_ewm(values, slot, halflife), first)
    actual_total = np.bincount(day_of, weights=values, minlength=len(days))
    profile_total = np.bincount(day_of, weights=np.nan_to_num(first[slot]), minlength=len(days))
    ratio = np.log(np.maximum(actual_total, 1.0) / np.maximum(profile_total, 1.0))
    reference = float(ratio[seen & ~flagged].mean()) if (seen & ~flagged).any() else 0.0
    effects = {}
    for name in DAY_FLAGS:
        on = flags[name] & seen
        n = int(on.sum())
        effects[name] = float((ratio[on].mean() - reference) * n / (n + EFFECT_SHRINK)) if n else 0.0
    return effects


# --- level x weekday x intraday-share profile -----------------------------------------------------

# (level half-life in weeks, pooling of the intraday shape across weekdays): the served one is chosen
# on the validation stretch. Short half-lives follow a level that drifts; pooling trades each
# weekday's own shape for five to seven times the data behind it.
DECOMPOSED_CANDIDATES = tuple((level, pool) for level in (0.5, 1, 2, 4) for pool in (0.0, 0.5, 1.0))
WEEKDAY_HALFLIFE = 6.0  # weeks; weekday factors move slowly
MIN_DAY_SHARE = 0.5  # a day whose observed hours hold less of its usual volume says little of its total


def decomposed_profile(
    series: pd.Series,
    future: pd.DatetimeIndex,
    level_halflife: float,
    pool: float,
    country: str = "US",
    effects: dict[str, float] | None = None,
) -> np.ndarray:
    """Daily level x weekday factor x intraday share, times each future day's calendar multiplier.

    The structure call-centre forecasting uses for arrivals (Weinberg, Brown & Stroud 2007, the
    source of the bank series): a day's volume is noisy but its split across hours is stable, so
    the shares are estimated from all complete days (each weekday's own shape, pulled toward the
    shape pooled over weekdays by `pool`), the weekday factors from a slow exponential average,
    and only the level from the last weeks (half-life `level_halflife`). A weekday-hour mean
    estimates all of these from the same few values per slot. A partial or gappy day counts by
    the share of its usual volume its observed hours carry, so a forecast made mid-day is not
    pulled down by today's unfinished total. Unseen slots forecast 0, as do public holidays when
    the history shut on its holidays (`future_day_flags`).
    """
    if effects is None:
        effects = calendar_effects(series, country)
    observed = series.dropna()
    out = np.zeros(len(future))
    if observed.empty:
        return out
    index = pd.DatetimeIndex(observed.index)
    all_days, day_of, seen, flags = _history_days(series, country)
    values = observed.to_numpy(dtype=float) / np.exp(_log_multiplier(effects, flags)[day_of])
    dow, hour = index.dayofweek.to_numpy(), index.hour.to_numpy()

    # Intraday shares from complete days: those with as many observed hours as their weekday's most.
    n_hours = np.bincount(day_of, minlength=len(all_days))
    full_hours = np.zeros(7, dtype=int)
    np.maximum.at(full_hours, all_days.dayofweek.to_numpy(), n_hours)
    complete = n_hours[day_of] == full_hours[dow]
    by_dow = np.zeros((7, 24))
    np.add.at(by_dow, (dow[complete], hour[complete]), values[complete])
    open_hours = np.zeros((7, 24), dtype=bool)
    open_hours[dow, hour] = True
    own = _normalise_rows(by_dow, open_hours)
    pooled = _normalise_rows(np.where(open_hours, by_dow.sum(axis=0, keepdims=True), 0.0), open_hours)
    has_own = by_dow.sum(axis=1) > 0
    share = np.where(has_own[:, None], (1 - pool) * own + pool * pooled, pooled)

    # Each observed day's total, scaled up by the share of the day its observed hours carry.
    covered = np.bincount(day_of, weights=share[dow, hour], minlength=len(all_days))
    volume = np.bincount(day_of, weights=values, minlength=len(all_days))
    usable = covered >= MIN_DAY_SHARE
    if not usable.any():
        return out
    totals = volume[usable] / covered[usable]
    days = all_days[usable]
    day_dow = days.dayofweek.to_numpy()
    weeks_back = ((days[-1] - days) / pd.Timedelta(days=7)).to_numpy()

    same_dow_back = pd.Series(day_dow).groupby(day_dow).cumcount(ascending=False).to_numpy()
    weight = 0.5 ** (same_dow_back / WEEKDAY_HALFLIFE)
    mass = np.bincount(day_dow, weights=weight, minlength=7)
    dow_mean = np.divide(
        np.bincount(day_dow, weights=weight * totals, minlength=7), mass, where=mass > 0, out=np.full(7, np.nan)
    )
    factor = dow_mean / np.nanmean(dow_mean)
    weight = 0.5 ** (weeks_back / level_halflife)
    level = float(np.sum(weight * totals / factor[day_dow]) / np.sum(weight))

    fdow, fhour = future.dayofweek.to_numpy(), future.hour.to_numpy()
    predicted = np.nan_to_num(level * factor[fdow] * share[fdow, fhour])
    future_days = pd.DatetimeIndex(future.normalize().unique())
    future_flags, closed = _future_flags(all_days, seen, flags, future_days, country)
    multiplier = np.where(closed, 0.0, np.exp(_log_multiplier(effects, future_flags)))
    return predicted * pd.Series(multiplier, index=future_days).reindex(future.normalize()).to_numpy()


def _normalise_rows(table: np.ndarray, open_hours: np.ndarray) -> np.ndarray:
    """Each weekday's row as shares of its day, over the hours that weekday is ever open."""
    table = np.where(open_hours, table, 0.0)
    total = table.sum(axis=1, keepdims=True)
    return np.divide(table, total, out=np.zeros_like(table), where=total > 0)
