"""Backtest the service's model on a history file: train on all but the last N days, forecast them.

    python -m forecast_service.backtest --history FILE.csv --holdout-days N
        [--time-col C --count-col C] [--predictions-out FILE.csv]

Prints one JSON object: mae, rmse, smape (%), mase, naive_mae, rel_mae, coverage_80,
train_seconds, n_train_hours, n_test_hours, plus the scores of the blend's parts and of the
day totals (daily_coverage_80, daily_halfwidth_rel, daily_mape).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

import numpy as np
import pandas as pd

from forecast_service import baseline
from forecast_service.data import History, HistoryError, read_history_csv
from forecast_service.model import Forecaster, fit
from shared.config import get_settings


def split(history: History, holdout_days: int) -> tuple[History, pd.Series]:
    """All but the last `holdout_days` calendar days, and those days."""
    series = history.series
    cut = series.index[-1].normalize() - pd.Timedelta(days=holdout_days - 1)
    train = series[series.index < cut]
    test = series[series.index >= cut]
    if train.notna().sum() == 0 or test.notna().sum() == 0:
        raise HistoryError(f"holdout of {holdout_days} days leaves nothing to train on or to test")
    # Trailing unobserved hours carry nothing; the forecast starts after the last real hour.
    train = train.loc[: train.last_valid_index()]
    return History(series=train, source=history.source), test


def evaluate(forecaster: Forecaster, train: pd.Series, test: pd.Series) -> tuple[dict[str, Any], pd.DataFrame]:
    """Metrics over the observed held-out hours, forecasting them all from the end of `train`."""
    day_end = test.index[-1].normalize() + pd.Timedelta(hours=23)  # through the last day's end, for day totals
    full = forecaster.forecast(train, int((day_end - train.index[-1]) / pd.Timedelta(hours=1)))
    frame = full.reindex(test.index)
    seen = test.notna().to_numpy()
    actual = test.to_numpy()[seen]
    rows = frame[seen]
    future = pd.DatetimeIndex(test.index[seen])
    naive = baseline.seasonal_naive(train, future)
    scale = baseline.naive_scale(train)
    result: dict[str, Any] = baseline.metrics(
        actual,
        rows.predicted.to_numpy(),
        naive=naive,
        scale=scale,
        lower=rows.lower.to_numpy(),
        upper=rows.upper.to_numpy(),
    )
    parts = {}
    for part in ("lstm", "baseline"):
        values = rows[part].to_numpy()
        if not np.isnan(values).all():
            parts[part] = baseline.metrics(actual, np.maximum(values, 0), naive=naive, scale=scale)
    result["parts"] = parts
    result |= _daily_scores(forecaster.daily(full, train), test)
    predictions = pd.DataFrame(
        {
            "timestamp": future,
            "actual": actual,
            "predicted": rows.predicted.to_numpy(),
            "lower": rows.lower.to_numpy(),
            "upper": rows.upper.to_numpy(),
        }
    )
    return result, predictions


def _daily_scores(daily: pd.DataFrame, test: pd.Series) -> dict[str, float]:
    """Day totals over the held-out days with observed hours: 80% coverage and the band's mean
    half-width relative to the forecast (`Forecaster.daily`, what /daily serves)."""
    actual = test.groupby(test.index.normalize()).sum(min_count=1).dropna()
    days = daily.index.intersection(actual.index)
    if len(days) == 0:
        return {}
    rows, actual = daily.loc[days], actual.loc[days]
    inside = (actual >= rows.lower) & (actual <= rows.upper)
    open_days = rows.predicted > 0
    halfwidth = ((rows.upper - rows.lower) / 2 / rows.predicted)[open_days]
    return {
        "daily_coverage_80": float(inside.mean()),
        "daily_halfwidth_rel": float(halfwidth.mean()) if len(halfwidth) else float("nan"),
        "daily_mape": float((abs(actual - rows.predicted) / actual)[actual > 0].mean()),
    }


def run(
    history: History,
    *,
    holdout_days: int,
    max_epochs: int,
    validation_days: int = 14,
    seed: int = 42,
    country: str = "US",
) -> tuple[dict[str, Any], pd.DataFrame, Forecaster]:
    """Train on the history minus the holdout, then score the forecast of the holdout."""
    train, test = split(history, holdout_days)
    started = time.perf_counter()
    forecaster = fit(train, validation_days=validation_days, max_epochs=max_epochs, seed=seed, country=country)
    train_seconds = time.perf_counter() - started
    result, predictions = evaluate(forecaster, train.series, test)
    result.update(
        {
            "train_seconds": round(train_seconds, 2),
            "n_train_hours": int(train.series.notna().sum()),
            "n_test_hours": len(predictions),
            "epochs": forecaster.meta["epochs"],
            "blend": forecaster.meta["blend"],
        }
    )
    return result, predictions, forecaster


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m forecast_service.backtest", description=__doc__.split("\n")[0])
    p.add_argument("--history", required=True, help="CSV of hourly counts or of one row per ticket")
    p.add_argument("--holdout-days", type=int, required=True, help="last N calendar days to forecast")
    p.add_argument("--time-col", help="timestamp column (auto-detected when unambiguous)")
    p.add_argument("--count-col", help="count column (absent: one row per ticket)")
    p.add_argument("--predictions-out", help="write timestamp,actual,predicted,lower,upper here")
    p.add_argument("--epochs", type=int, help="upper bound of training epochs (default: settings)")
    args = p.parse_args(argv)
    if args.holdout_days < 1:
        p.error("--holdout-days must be at least 1")
    settings = get_settings()
    try:
        history = read_history_csv(args.history, time_col=args.time_col, count_col=args.count_col)
        result, predictions, _ = run(
            history,
            holdout_days=args.holdout_days,
            max_epochs=settings.forecast_max_epochs if args.epochs is None else args.epochs,
            validation_days=settings.forecast_validation_days,
            seed=settings.forecast_synthetic_seed,
            country=settings.forecast_holiday_country,
        )
    except (HistoryError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.predictions_out:
        predictions.to_csv(args.predictions_out, index=False, date_format="%Y-%m-%dT%H:%M:%S")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
