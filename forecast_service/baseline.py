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
