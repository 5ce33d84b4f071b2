"""What the routes call: the loaded forecaster, the served history, cached forecasts, retraining."""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Engine

from forecast_service import data
from forecast_service.data import History
from forecast_service.model import Forecaster, fit
from forecast_service.staffing import StaffingInputs
from shared.config import Settings

logger = logging.getLogger(__name__)

MAX_DAYS = 30
CACHE_HOURS = 24 * (MAX_DAYS + 2)  # enough for every endpoint, so one forecast serves them all


def model_dir(settings: Settings) -> Path:
    """Where the forecaster's artifacts live: <MODEL_DIR>/<forecast_model_subdir>."""
    return settings.resolved_path(settings.model_dir) / settings.forecast_model_subdir


IMPORTED_FILE = "history.csv"


def save_imported(history: History, directory: Path) -> None:
    """Keep an imported history next to the model so the service can continue it."""
    directory.mkdir(parents=True, exist_ok=True)
    observed = history.series.dropna()
    observed.to_frame("count").to_csv(directory / IMPORTED_FILE, index_label="hour_start")


def training_history(
    settings: Settings, engine: Engine, *, now: pd.Timestamp | None = None, directory: Path | None = None
) -> History:
    """Real arrivals when the database holds enough weeks; else an imported history; else synthetic.

    An imported history (`train --history`) is served as is: forecasts continue from its end.
    """
    real = data.load_db_history(engine, until=now)
    if real is not None and real.weeks() >= settings.forecast_min_real_weeks:
        return real
    imported = (directory or model_dir(settings)) / IMPORTED_FILE
    if imported.exists():
        history = data.read_history_csv(imported, time_col="hour_start", count_col="count")
        return History(series=history.series, source=f"csv:{imported.name}")
    return data.synthetic_history(
        end=now, seed=settings.forecast_synthetic_seed, country=settings.forecast_holiday_country
    )


@dataclass
class ServedForecast:
    """One cached forecast: the hours after the history's end, and what the history was."""

    frame: pd.DataFrame
    daily: pd.DataFrame  # whole days of `frame`: predicted total and its own 80% interval
    history: History
    typical_hour: float
    busy_hour: float
    typical_day: float
    busy_day: float
    live: bool  # the history reaches the current hour (False: an imported history, continued from its end)


class RetrainBusyError(RuntimeError):
    """A retrain is already running."""


class ForecastService:
    """Holds the one loaded forecaster; forecasts are cached per model version and hour."""

    def __init__(self, *, settings: Settings, engine: Engine, forecaster: Forecaster | None = None) -> None:
        self.settings = settings
        self.engine = engine
        self.directory = model_dir(settings)
        self.forecaster = forecaster or Forecaster.load(self.directory) or Forecaster.baseline()
        self.staffing_inputs = StaffingInputs.from_settings(settings)
        self._cache: OrderedDict[tuple[str, pd.Timestamp], ServedForecast] = OrderedDict()
        self._cache_lock = threading.Lock()
        self._retrain_lock = threading.Lock()
        self.retrain_state: dict[str, Any] = {"state": "idle"}

    # --- forecasts ----------------------------------------------------------------------------

    def served(self, *, now: pd.Timestamp | None = None) -> ServedForecast:
        """The forecast for the hours after `now` (default: this hour), computed once per model and hour."""
        now = data.now_hour() if now is None else now
        forecaster = self.forecaster
        key = (forecaster.version, now)
        with self._cache_lock:
            hit = self._cache.get(key)
            if hit is not None:
                return hit
        history = self._history(now)
        frame = forecaster.forecast(history.series, CACHE_HOURS)
        recent = history.series.iloc[-28 * 24 :].dropna()
        open_hours = recent[recent > 0] if (recent > 0).any() else recent
        daily = history.series.iloc[-28 * 24 :].resample("D").sum(min_count=1).dropna()
        busy_days = daily[daily > 0] if (daily > 0).any() else daily
        result = ServedForecast(
            frame=frame,
            daily=forecaster.daily(frame, history.series),
            history=history,
            typical_hour=float(open_hours.median()) if len(open_hours) else 0.0,
            busy_hour=float(open_hours.quantile(0.9)) if len(open_hours) else 0.0,
            typical_day=float(busy_days.median()) if len(busy_days) else 0.0,
            busy_day=float(busy_days.quantile(0.9)) if len(busy_days) else 0.0,
            live=history.end >= now - pd.Timedelta(hours=1),
        )
        with self._cache_lock:
            self._cache[key] = result
            while len(self._cache) > 4:
                self._cache.popitem(last=False)
        return result

    def _history(self, now: pd.Timestamp) -> History:
        # The history the current model is asked to continue: real arrivals if there are enough,
        # else the same synthetic series it was trained on, both up to the current hour.
        return training_history(self.settings, self.engine, now=now, directory=self.directory)

    # --- model --------------------------------------------------------------------------------

    def info(self) -> dict[str, Any]:
        """What /model/info shows: status, artifact paths, data source and range, metrics."""
        meta = self.forecaster.meta
        common = {
            "model_path": str(self.directory / "model.keras"),
            "model_type": "LSTM (168 h window, direct 168 h output, a correction over the profile) "
            "blended with a calendar-adjusted level x weekday x intraday-share profile",
            "sequence_length": int(meta.get("window_hours", 168)),
            "features": [
                "Hourly predictions with 80% intervals",
                "Daily aggregations",
                "Erlang C staffing recommendations",
                "Calendar inputs: hour, weekday, day of month, holidays",
            ],
            "staffing_inputs": self.staffing_inputs.as_dict(),
            "retrain": self.retrain_state,
        }
        if self.forecaster.is_baseline:
            return {
                "status": "baseline",
                "version": "baseline",
                "message": "No trained model found; serving a seasonal-naive forecast (last week repeated). "
                "Run `python -m forecast_service.train` or POST /api/forecast/train.",
                **common,
                "model_type": "seasonal naive",
            }
        keys = (
            "version", "trained_at", "source", "data_start", "data_end", "validation_start",
            "selection_start", "selection_origins", "observed_hours", "epochs", "blend", "calendar_effects",
            "validation", "validation_parts_mae",
            "train_seconds", "versions",
        )  # fmt: skip
        return {"status": "ready", **common, **{k: meta.get(k) for k in keys}}

    def retrain(self, *, max_epochs: int | None = None, blend_weight: float | None = None) -> dict[str, Any]:
        """Train a candidate on the current history; it replaces the served model only if no worse.

        Both are scored on the candidate's validation stretch, each forecasting it from the
        same origin; the serving model may have seen some of those days, which only makes the
        swap more conservative.
        """
        if not self._retrain_lock.acquire(blocking=False):
            raise RetrainBusyError("a retrain is already running")
        try:
            self.retrain_state = {"state": "running", "started_at": datetime.now(UTC).isoformat()}
            result = self._retrain(max_epochs, blend_weight)
            self.retrain_state = {"state": "done", "finished_at": datetime.now(UTC).isoformat(), **result}
            return result
        except Exception as exc:
            logger.exception("forecast retrain failed")
            self.retrain_state = {"state": "failed", "error": str(exc)}
            raise
        finally:
            self._retrain_lock.release()

    def _retrain(self, max_epochs: int | None, blend_weight: float | None) -> dict[str, Any]:
        settings = self.settings
        history = training_history(settings, self.engine, directory=self.directory)
        candidate = fit(
            history,
            validation_days=settings.forecast_validation_days,
            max_epochs=settings.forecast_max_epochs if max_epochs is None else max_epochs,
            seed=settings.forecast_synthetic_seed,
            country=settings.forecast_holiday_country,
            blend_weight=blend_weight,
        )
        return self.offer(candidate, history)

    def offer(self, candidate: Forecaster, history: History) -> dict[str, Any]:
        """Serve (and save) `candidate` if it forecasts its validation days no worse than the current model."""
        candidate_mae, current_mae = compare(candidate, self.forecaster, history)
        replaced = current_mae is None or candidate_mae <= current_mae
        if replaced:
            candidate.save(self.directory)
            self.forecaster = candidate
            with self._cache_lock:
                self._cache.clear()
        return {
            "replaced": replaced,
            "candidate_mae": round(candidate_mae, 4),
            "current_mae": None if current_mae is None else round(current_mae, 4),
            "version": self.forecaster.version,
        }


def compare(candidate: Forecaster, current: Forecaster, history: History) -> tuple[float, float | None]:
    """MAE of the candidate and of the current model (None if baseline) on the candidate's validation days."""
    start = pd.Timestamp(candidate.meta["validation_start"])
    series = history.series
    train, valid = series[series.index < start], series[series.index >= start]
    seen = valid.notna().to_numpy()
    actual = valid.to_numpy()[seen]

    def mae(model: Forecaster) -> float:
        predicted = model.forecast(train, len(valid))["predicted"].to_numpy()[seen]
        return float(np.mean(np.abs(actual - predicted)))

    return mae(candidate), (None if current.is_baseline else mae(current))


def hourly_thresholds(served: ServedForecast, hours: int) -> tuple[float, float]:
    """Typical and busy volumes for a run of `hours` open hours, from recent history."""
    return served.typical_hour * hours, served.busy_hour * hours
