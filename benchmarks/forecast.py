"""Forecast accuracy, training time and latency of the forecast service, next to standard baselines.

Backtests the service's model (`forecast_service.backtest.run`, the same code as the CLI) with
the last 20 days held out on (1) the seeded synthetic six months and (2) the real bank call
centre series in ../shared/data (GPL-3: read in place, never copied into the repo; weekdays
07-21 only). On the same split it scores the seasonal naive (last observed week), the mean of
the same weekday-hour over the last k weeks (k = 2..8) and statsforecast's SeasonalNaive,
MSTL, AutoETS and AutoARIMA (positional index over the observed hours; seasons 24/168 on the
round-the-clock synthetic series, 14/70 on the 14-hour weekday bank series). The served model's
rows come first, then its two blend parts (the LSTM alone, the calendar-adjusted level x weekday x
intraday-share profile with the chosen level half-life and pooling). Then it measures
GET /api/forecast/hourly/168 warm latency on a running app. For the record, not for choosing, it
also scores every profile candidate on the held-out days next to its rank on the selection days.
Prints a table and writes benchmarks/results/forecast.json.

    python benchmarks/forecast.py [--holdout-days 20] [--skip-arima]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from benchmarks.support import print_table, write_results  # noqa: E402
from forecast_service import backtest, baseline, model  # noqa: E402
from forecast_service.data import History, read_history_csv, synthetic_history  # noqa: E402
from shared.config import get_settings  # noqa: E402

BANK = ROOT.parent / "shared" / "data" / "bank_calls" / "bank_calls_hourly_part1.csv"
SYNTHETIC_END = pd.Timestamp("2025-12-15")  # fixed so runs compare; the holdout spans Black Friday


def score(actual: np.ndarray, predicted: np.ndarray, naive: np.ndarray, scale: float) -> dict[str, float]:
    return baseline.metrics(actual, np.maximum(predicted, 0), naive=naive, scale=scale)


def statsforecast_rows(
    train: pd.Series, test: pd.Series, *, seasons: tuple[int, int], skip_arima: bool
) -> dict[str, tuple[np.ndarray, float]]:
    """Point forecasts of the held-out observed hours, positionally over observed hours only."""
    from statsforecast import StatsForecast
    from statsforecast.models import MSTL, AutoARIMA, AutoETS, SeasonalNaive

    y = train.dropna().to_numpy(dtype=float)
    h = int(test.notna().sum())
    frame = pd.DataFrame({"unique_id": "s", "ds": np.arange(len(y)), "y": y})
    short, long = seasons
    models: list[Any] = [
        SeasonalNaive(season_length=long),
        AutoETS(season_length=short),
        MSTL(season_length=[short, long], trend_forecaster=AutoETS(model="ZZN")),
    ]
    if not skip_arima:
        models.append(AutoARIMA(season_length=short))
    out: dict[str, tuple[np.ndarray, float]] = {}
    for estimator in models:
        started = time.perf_counter()
        forecast = StatsForecast(models=[estimator], freq=1, n_jobs=1).forecast(df=frame, h=h)
        seconds = time.perf_counter() - started
        column = next(c for c in forecast.columns if c not in ("unique_id", "ds"))
        out[f"statsforecast {column}"] = (forecast[column].to_numpy(dtype=float), seconds)
    return out


def progress(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def evaluate_series(
    name: str, history: History, *, holdout_days: int, seasons: tuple[int, int], skip_arima: bool
) -> tuple[list[dict[str, Any]], Any, dict[str, Any]]:
    settings = get_settings()
    progress(f"{name}: training the service model")
    result, _, forecaster = backtest.run(
        history,
        holdout_days=holdout_days,
        max_epochs=settings.forecast_max_epochs,
        validation_days=settings.forecast_validation_days,
        seed=settings.forecast_synthetic_seed,
        country=settings.forecast_holiday_country,
    )
    train, test = backtest.split(history, holdout_days)
    seen = test.notna().to_numpy()
    actual = test.to_numpy()[seen]
    future = pd.DatetimeIndex(test.index[seen])
    naive = baseline.seasonal_naive(train.series, future)
    scale = baseline.naive_scale(train.series)

    blend = forecaster.meta["blend"]
    profile = f"level hl={blend['level_halflife_weeks']:g}, pool={blend['pool']:g}"
    rows: list[dict[str, Any]] = [
        {
            "series": name,
            "model": f"service model (blend w={blend['weight']}, {profile})",
            **{k: result[k] for k in ("mae", "rmse", "smape", "mase", "rel_mae", "coverage_80")},
            "train_seconds": result["train_seconds"],
            **{k: result[k] for k in ("daily_coverage_80", "daily_halfwidth_rel", "daily_mape") if k in result},
        }
    ]
    parts = (("lstm", "blend part: LSTM alone"), ("baseline", f"blend part: profile {profile}"))
    for part, label in parts:
        if part in result["parts"]:
            rows.append({"series": name, "model": label, **result["parts"][part]})
    rows.append({"series": name, "model": "seasonal naive (last week)", **score(actual, naive, naive, scale)})
    for k in range(2, 9):
        predicted = baseline.weekly_mean(train.series, future, k)
        rows.append({"series": name, "model": f"weekly mean k={k}", **score(actual, predicted, naive, scale)})
    progress(f"{name}: statsforecast baselines")
    for label, (predicted, seconds) in statsforecast_rows(
        train.series, test, seasons=seasons, skip_arima=skip_arima
    ).items():
        rows.append(
            {
                "series": name,
                "model": label,
                **score(actual, predicted, naive, scale),
                "train_seconds": round(seconds, 2),
            }
        )
    for row in rows:
        row.pop("naive_mae", None)
        row["n_train_hours"] = result["n_train_hours"]
        row["n_test_hours"] = result["n_test_hours"]
    hindsight = profile_hindsight(
        forecaster, train.series, future, actual, naive, scale, settings.forecast_holiday_country
    )
    return rows, forecaster, hindsight


def profile_hindsight(
    forecaster: Any,
    train: pd.Series,
    future: pd.DatetimeIndex,
    actual: np.ndarray,
    naive: np.ndarray,
    scale: float,
    country: str,
) -> dict[str, Any]:
    """Every profile candidate scored on the held-out days, next to its rank on the selection days.

    For the record only, never for choosing: it shows whether the served profile missed because
    the family holds no better forecast for those days or because the selection days pointed
    elsewhere.
    """
    selection = forecaster.meta.get("validation_parts_mae") or {}
    ranked = sorted(baseline.DECOMPOSED_CANDIDATES, key=lambda c: selection.get(model.profile_name(c), np.inf))
    held_out = {
        model.profile_name(c): round(
            score(actual, baseline.decomposed_profile(train, future, *c, country), naive, scale)["rel_mae"], 3
        )
        for c in ranked
    }
    best = min(held_out, key=held_out.__getitem__)
    return {
        "held_out_rel_mae": held_out,
        "selection_rank": {model.profile_name(c): i + 1 for i, c in enumerate(ranked)},
        "best_in_hindsight": best,
    }


def model_summary(forecaster: Any) -> dict[str, Any]:
    """How the served blend was chosen: epochs, the selection stretch and each part's MAE on it."""
    keys = (
        "epochs", "validation_start", "selection_start", "selection_origins", "blend", "calendar_effects",
        "validation_parts_mae",
    )  # fmt: skip
    return {key: forecaster.meta.get(key) for key in keys} | {"fit_seconds": forecaster.meta.get("fit_seconds")}


def latency(forecaster: Any, requests: int = 200) -> dict[str, float]:
    """Warm p50/p95 of GET /api/forecast/hourly/168 through the real app, plus an uncached forecast."""
    from fastapi.testclient import TestClient

    from forecast_service.main import create_app
    from shared.config import Settings
    from shared.db import run_migrations

    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/bench.db"
        run_migrations(url)
        settings = Settings(database_url=url, model_dir=tmp, forecast_retrain_hour=None, auth_disabled=True)
        forecaster.save(Path(tmp) / settings.forecast_model_subdir)
        with TestClient(create_app(settings)) as client:
            started = time.perf_counter()
            assert client.get("/api/forecast/hourly/168").status_code == 200
            first = time.perf_counter() - started
            times = []
            for _ in range(requests):
                started = time.perf_counter()
                response = client.get("/api/forecast/hourly/168")
                times.append(time.perf_counter() - started)
                assert response.status_code == 200
            service = client.app.state.forecast
            history = service.served().history.series
            uncached = []
            for _ in range(10):
                started = time.perf_counter()
                service.forecaster.forecast(history, 168)
                uncached.append(time.perf_counter() - started)
    times.sort()
    return {
        "hourly168_first_request_ms": round(1000 * first, 1),
        "hourly168_warm_p50_ms": round(1000 * statistics.median(times), 2),
        "hourly168_warm_p95_ms": round(1000 * times[int(0.95 * len(times))], 2),
        "uncached_168h_forecast_p50_ms": round(1000 * statistics.median(uncached), 1),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--holdout-days", type=int, default=20)
    parser.add_argument("--skip-arima", action="store_true", help="leave out AutoARIMA (slowest)")
    args = parser.parse_args()

    settings = get_settings()
    load_before = os.getloadavg()
    rows: list[dict[str, Any]] = []
    synthetic = synthetic_history(
        end=SYNTHETIC_END, seed=settings.forecast_synthetic_seed, country=settings.forecast_holiday_country
    )
    syn_rows, syn_model, syn_hindsight = evaluate_series(
        "synthetic", synthetic, holdout_days=args.holdout_days, seasons=(24, 168), skip_arima=args.skip_arima
    )
    rows += syn_rows
    models = {"synthetic": model_summary(syn_model) | {"profile_hindsight": syn_hindsight}}
    if BANK.exists():
        bank = read_history_csv(BANK)
        bank_rows, bank_model, bank_hindsight = evaluate_series(
            "bank_calls", bank, holdout_days=args.holdout_days, seasons=(14, 70), skip_arima=args.skip_arima
        )
        rows += bank_rows
        models["bank_calls"] = model_summary(bank_model) | {"profile_hindsight": bank_hindsight}
    else:
        print(f"note: {BANK} not found; real-series rows skipped")
    progress("latency")
    timing = latency(syn_model)

    cols = ["series", "model", "mae", "rel_mae", "mase", "smape", "coverage_80", "train_seconds"]
    print_table(cols, ([row.get(c, "") for c in cols] for row in rows))
    print()
    for row in rows:
        if "daily_coverage_80" in row:
            print(
                f"{row['series']}: day totals (/daily): coverage_80 {row['daily_coverage_80']:.3f}, band half-width "
                f"{100 * row['daily_halfwidth_rel']:.1f}% of the forecast, MAPE {100 * row['daily_mape']:.1f}%"
            )
    for name, summary in models.items():
        hindsight = summary["profile_hindsight"]
        scores, best = hindsight["held_out_rel_mae"], hindsight["best_in_hindsight"]
        chosen = model.profile_name((summary["blend"]["level_halflife_weeks"], summary["blend"]["pool"]))
        print(
            f"{name}: profile candidates on the held-out days (hindsight, not servable): "
            f"{min(scores.values()):.3f}-{max(scores.values()):.3f}; best {best} {scores[best]:.3f}, "
            f"ranked {hindsight['selection_rank'][best]}/{len(scores)} on the selection days; "
            f"chosen {chosen} {scores[chosen]:.3f}"
        )
    for key, value in timing.items():
        print(f"{key}: {value}")
    # The machines are shared: the load average says how much else was running while this was timed.
    load = {"before": [round(x, 2) for x in load_before], "after": [round(x, 2) for x in os.getloadavg()]}
    print(f"load average (1/5/15 min) before: {load['before']}, after: {load['after']} on {os.cpu_count()} cpus")

    out = write_results(
        "forecast",
        {
            "benchmark": "forecast",
            "holdout_days": args.holdout_days,
            "cpus": os.cpu_count(),
            "load_average": load,
            "rows": rows,
            "models": models,
            "latency": timing,
        },
    )
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
