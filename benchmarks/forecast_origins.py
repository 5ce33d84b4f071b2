"""Rolling-origin evaluation: the forecast's baseline part against plain weekly means on many cuts.

One 20-day holdout is one draw: on the bank series, which method wins it swings with what
those days hold (a level step, a month start, a holiday). This scores the same 20-day holdout
placed at 11 earlier cut points (ending 20, 25, ..., 70 days before the end of each series,
so never the days `benchmarks/forecast.py` holds out), each forecast from the end of its
training days, and reports per method the mean rel_mae over the cuts and on how many cuts it
beat the best weekly mean in hindsight:

- the profile the service serves (`baseline.decomposed_profile`), its level half-life and
  shape pooling chosen on each cut's own selection days by the service's own code
  (`model.validation_plan`, `model.selection_forecasts`, `model.choose_blend`);
- the best of the profile's candidates per cut in hindsight (a bound on what choosing them
  better could gain);
- the mean of the same weekday-hour over the last k weeks, k = 2..8, each fixed, and k chosen
  on the same selection days; the best k in hindsight (a bound no method can use);
- with `--served`, the whole served model (LSTM trained per cut, blend chosen on validation)
  and its LSTM part alone, with the coverage of its hourly and day-total 80% intervals and the
  day bands' mean half-width (relative to the forecast), about 25 s of training per cut; the
  hourly coverage also per week ahead (days 1-7, 8-14, 15-20), to see whether the bands, which
  do not widen with the horizon, should.

    python benchmarks/forecast_origins.py [--served]

Prints a table and writes benchmarks/results/forecast_origins.json.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from benchmarks.forecast import BANK, SYNTHETIC_END  # noqa: E402
from benchmarks.support import print_table, write_results  # noqa: E402
from forecast_service import backtest, baseline, model  # noqa: E402
from forecast_service.data import History, read_history_csv, synthetic_history  # noqa: E402
from shared.config import get_settings  # noqa: E402

HOLDOUT_DAYS = 20
CUTS = tuple(range(20, 71, 5))  # days between each holdout's end and the series' end
KS = tuple(range(2, 9))
LEADS = ((1, 7), (8, 14), (15, 20))  # days ahead of the end of training, for coverage by horizon


def cut(history: History, days_before_end: int) -> History:
    """The history without its last `days_before_end` days (trailing unobserved hours dropped)."""
    series = history.series
    series = series[series.index < series.index[-1].normalize() - pd.Timedelta(days=days_before_end - 1)]
    return History(series=series.loc[: series.last_valid_index()], source=history.source)


def chosen_on_selection(train: pd.Series, validation_days: int, country: str) -> tuple[model.Candidate, int]:
    """The profile candidate and the k the service's selection days pick (the profile alone, no LSTM)."""
    plan = model.validation_plan(train, validation_days)
    probe = model.Forecaster(network=None, scaler=None, meta={"open_slots": baseline.open_slots(train).tolist(),
                                                               "country": country})  # fmt: skip
    selection = model.selection_forecasts(probe, train, plan.origins, baseline.DECOMPOSED_CANDIDATES)
    candidate, _, scores = model.choose_blend(selection, (0.0,))
    best_k = min(KS, key=lambda k: scores[f"weekly_mean_k{k}"])
    return candidate, best_k


def evaluate_cut(history: History, days_before_end: int, *, served: bool) -> dict[str, Any]:
    settings = get_settings()
    country = settings.forecast_holiday_country
    train, test = backtest.split(cut(history, days_before_end), HOLDOUT_DAYS)
    seen = test.notna().to_numpy()
    actual = test.to_numpy()[seen]
    future = pd.DatetimeIndex(test.index[seen])
    naive_mae = float(np.mean(np.abs(actual - baseline.seasonal_naive(train.series, future))))

    def rel(predicted: np.ndarray) -> float:
        return float(np.mean(np.abs(actual - np.maximum(predicted, 0.0)))) / naive_mae

    (level, pool), best_k = chosen_on_selection(train.series, settings.forecast_validation_days, country)
    candidates = {
        c: rel(baseline.decomposed_profile(train.series, future, *c, country)) for c in baseline.DECOMPOSED_CANDIDATES
    }
    row: dict[str, Any] = {
        "cut_days_before_end": days_before_end,
        "holdout": f"{test.index[0].date()}..{test.index[-1].date()}",
        "profile_choice": f"hl={level:g} pool={pool:g}",
        "k_choice": best_k,
        "profile (served baseline part)": candidates[(level, pool)],
        "profile, best candidate in hindsight": min(candidates.values()),
    }
    weekly = {k: rel(baseline.weekly_mean(train.series, future, k)) for k in KS}
    row["weekly mean, k chosen"] = weekly[best_k]
    row |= {f"weekly mean k={k}": value for k, value in weekly.items()}
    row["weekly mean, best k in hindsight"] = min(weekly.values())
    if served:
        result, predictions, _ = backtest.run(
            cut(history, days_before_end),
            holdout_days=HOLDOUT_DAYS,
            max_epochs=settings.forecast_max_epochs,
            validation_days=settings.forecast_validation_days,
            seed=settings.forecast_synthetic_seed,
            country=country,
        )
        row["served model"] = result["rel_mae"]
        row["served part: LSTM alone"] = result["parts"]["lstm"]["rel_mae"]
        row["served coverage_80"] = result["coverage_80"]
        row["served day totals: coverage_80"] = result["daily_coverage_80"]
        row["served day totals: band half-width"] = result["daily_halfwidth_rel"]
        row |= coverage_by_lead(predictions, test.index[0])
    return row


def coverage_by_lead(predictions: pd.DataFrame, first_day: pd.Timestamp) -> dict[str, float]:
    """Hourly 80% coverage of the backtest's predictions per stretch of days ahead (`LEADS`)."""
    lead = (pd.DatetimeIndex(predictions.timestamp).normalize() - first_day).days.to_numpy() + 1
    inside = ((predictions.actual >= predictions.lower) & (predictions.actual <= predictions.upper)).to_numpy()
    return {
        f"served coverage_80, days {low}-{high} ahead": float(inside[(lead >= low) & (lead <= high)].mean())
        for low, high in LEADS
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--served", action="store_true", help="also train and score the served model per cut")
    args = parser.parse_args()
    settings = get_settings()
    series = {
        "synthetic": synthetic_history(
            end=SYNTHETIC_END, seed=settings.forecast_synthetic_seed, country=settings.forecast_holiday_country
        )
    }
    if BANK.exists():
        series["bank_calls"] = read_history_csv(BANK)
    else:
        print(f"note: {BANK} not found; real-series rows skipped")

    started = time.perf_counter()
    report: dict[str, Any] = {"benchmark": "forecast_origins", "holdout_days": HOLDOUT_DAYS, "cuts": list(CUTS)}
    for name, history in series.items():
        rows = [evaluate_cut(history, days, served=args.served) for days in CUTS]
        methods = [key for key, value in rows[0].items() if isinstance(value, float)]
        hindsight = np.array([row["weekly mean, best k in hindsight"] for row in rows])
        summary = {
            method: {
                "mean_rel_mae": round(float(np.mean([row[method] for row in rows])), 3),
                "cuts_below_best_k_in_hindsight": int(
                    sum(row[method] < h for row, h in zip(rows, hindsight, strict=True))
                ),
            }
            for method in methods
        }
        report[name] = {"rows": rows, "summary": summary}
        print(f"\n{name}: {len(rows)} cuts, holdouts {rows[-1]['holdout'][:10]} .. {rows[0]['holdout'][-10:]}")
        table = []
        for method, values in summary.items():
            wins = (
                ""
                if any(word in method for word in ("coverage", "hindsight", "half-width"))
                else f"{values['cuts_below_best_k_in_hindsight']}/{len(rows)}"
            )
            table.append([method, values["mean_rel_mae"], wins])
        print_table(["method", "mean rel_mae", "cuts below best k in hindsight"], table)
        choices = ", ".join(
            f"{row['cut_days_before_end']}d: {row['profile_choice']}, k={row['k_choice']}" for row in rows
        )
        print(f"chosen on each cut's selection days: {choices}")
    report["seconds"] = round(time.perf_counter() - started, 1)
    out = write_results("forecast_origins", report)
    print(f"\n{report['seconds']} s; wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
