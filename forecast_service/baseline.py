"""Seasonal baselines and the error metrics every forecast is judged by.

A "slot" is an hour of the week (Monday 00:00 = 0 ... Sunday 23:00 = 167). Working by slot
rather than by position keeps business-hours data with missing days aligned: the value
repeated for a Friday 10:00 is the last observed Friday 10:00, not whatever came 70 open
hours earlier.
"""

from __future__ import annotations

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


# --- calendar-adjusted profile --------------------------------------------------------------------

PROFILE_HALFLIVES = (2, 3, 4, 6)  # weeks; the served one is chosen on the validation stretch
DAY_FLAGS = ("month_start", "holiday", "black_friday", "post_closure")
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
        weekday = np.asarray(days.dayofweek)
        usually_open = np.bincount(weekday[seen], minlength=7) >= 0.5 * np.bincount(weekday, minlength=7)
        closed_before = False
        for i in range(len(days)):
            if seen[i]:
                flags["post_closure"][i] = closed_before
                closed_before = False
            elif usually_open[weekday[i]]:
                closed_before = True
    return flags


def _slot_ewm(values: np.ndarray, slot: np.ndarray, halflife: float) -> np.ndarray:
    """Per slot, the mean of its observed values weighted 0.5 ** (weeks back / halflife); NaN if unseen."""
    age = pd.Series(slot).groupby(slot).cumcount(ascending=False).to_numpy()
    weight = 0.5 ** (age / halflife)
    total = np.bincount(slot, weights=weight * values, minlength=SLOTS)
    mass = np.bincount(slot, weights=weight, minlength=SLOTS)
    return np.divide(total, mass, out=np.full(SLOTS, np.nan), where=mass > 0)


def calendar_effects(series: pd.Series, halflife: float, country: str) -> tuple[dict[str, float], np.ndarray]:
    """Log-multipliers of each day flag, and the weekday-hour profile of the history with them taken out.

    A plain weekly mean is pulled up for k weeks by a month-start or post-holiday week and
    forecasts the next month start as an ordinary day. Here each observed day's total is
    compared with an exponentially weighted profile built from unflagged days; a flag's effect
    is the mean log ratio of its days over that of unflagged days, shrunk toward zero by
    EFFECT_SHRINK pseudo-days. Values are divided by their day's multiplier before the final
    profile is averaged, so every week counts at its ordinary level.
    """
    observed = series.dropna()
    index = pd.DatetimeIndex(observed.index)
    values = observed.to_numpy(dtype=float)
    slot = slots(index)
    days = pd.date_range(series.index[0].normalize(), series.index[-1].normalize(), freq="D")
    day_of = ((index.normalize() - days[0]) // pd.Timedelta(days=1)).to_numpy()
    seen = np.bincount(day_of, minlength=len(days)) > 0
    flags = day_flags(days, country, seen)
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
    log_mult = sum(effects[name] * flags[name] for name in DAY_FLAGS)
    profile = _slot_ewm(values / np.exp(log_mult[day_of]), slot, halflife)
    return effects, profile


def calendar_profile(series: pd.Series, future: pd.DatetimeIndex, halflife: float, country: str = "US") -> np.ndarray:
    """Exponentially weighted weekday-hour profile times each future day's calendar multiplier (0 if unseen)."""
    effects, profile = calendar_effects(series, halflife, country)
    days = pd.DatetimeIndex(future.normalize().unique())
    flags = day_flags(days, country)
    log_mult = pd.Series(sum(effects[name] * flags[name] for name in DAY_FLAGS), index=days)
    return np.nan_to_num(profile[slots(future)]) * np.exp(log_mult.reindex(future.normalize()).to_numpy())
