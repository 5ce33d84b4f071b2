"""The forecaster: the seed's LSTM made to see a week, blended with a calendar-adjusted weekly profile.

Why this shape: the seed's 24 h window with recursive one-step output cannot see a weekly
cycle and compounds its own errors. Here the LSTM reads the last 168 hours (count, an
observed flag and calendar inputs) and a per-hour head emits all 168 next hours at once
from the LSTM state, each hour's calendar and the same hour 1-4 weeks earlier. The head's
output is a correction added to the profile below (one fixed candidate, `LSTM_BASE`, made
from the history up to each origin), starting at zero, so training only moves the forecast
away from the profile where the data keep agreeing. Hours that were not observed (closed,
missing days) are masked out of the loss instead of being taught as zeros.

On short business-hours series a weekly average is hard to beat, so the served forecast is
`w * lstm + (1 - w) * profile`, the profile being a daily level (exponentially weighted,
half-life h weeks) x weekday factor x intraday share, with month-start, holiday and post-closure
days measured and taken out, then put back on the days they fall on
(`baseline.decomposed_profile`). On earlier cut points of the bank series and of the synthetic
one (`benchmarks/forecast_origins.py`) it beat, on average, both a k-week mean with k chosen on
validation days and the previous weekday-hour profile. The validation days are split: the first
third stops training, the rest choose h, the shape pooling and w, forecast from a new origin every
day (one week from one origin was too noisy: it picked the LSTM where it did not help), and near-ties
go to the profile.
80% intervals come from the quantiles of those forecasts' residuals, scaled like Poisson noise
(by sqrt of the level), widened to those of the profile forecast from rolling origins over the last
8 weeks (`rolling_profile_residuals`). Day totals get their own intervals from the same forecasts'
day-total errors: a day's hours err together, so their summed bounds were far too wide.
"""

from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd
from sklearn.preprocessing import MinMaxScaler

from forecast_service import baseline
from forecast_service.data import History, calendar_flags

logger = logging.getLogger(__name__)

WINDOW = 168  # hours the LSTM reads
HORIZON = 168  # hours emitted per pass; longer horizons repeat the pass on its own output
LAGS = 4  # weeks of same-hour values given to the head
REFERENCE_KS = tuple(range(2, 9))  # plain k-week means, scored on the selection days for comparison
MAX_WINDOWS = 1200  # training windows per epoch (neighbours overlap almost entirely)
BATCH = 128
LEARNING_RATE = 2e-3
PATIENCE = 8
FORMAT = 5  # artifact layout (5: the LSTM corrects the profile); a model of another format is not loaded
BLEND_WEIGHTS = tuple(np.round(np.linspace(0, 1, 11), 2))
MODEL_FILE = "model.keras"
SCALER_FILE = "scaler.joblib"
META_FILE = "metadata.json"
Candidate = tuple[float, float]  # (level half-life in weeks, shape pooling): one profile the blend may use
LSTM_BASE: Candidate = (2.0, 0.5)  # the profile the LSTM corrects: a middle candidate, fixed, not tuned


def calendar_features(index: pd.DatetimeIndex, country: str) -> np.ndarray:
    """Hour of day (cyclic), weekday (one-hot), start-of-month, day of month, holiday flags."""
    hour = index.hour.to_numpy()
    angle = 2 * np.pi * hour / 24
    dow = np.eye(7)[index.dayofweek.to_numpy()]
    day = index.day.to_numpy()
    holiday, black_friday = calendar_flags(index, country)
    return np.column_stack(
        [np.sin(angle), np.cos(angle), dow, (day <= 3).astype(float), day / 31, holiday, black_friday]
    ).astype("float32")


N_CAL = 13
N_PAST = 2 + N_CAL
N_FUT = N_CAL + 1 + 2 * LAGS


def build_network(seed: int) -> Any:
    """LSTM(50, seq) -> Dropout -> LSTM(50) -> Dropout, then a per-hour Dense(25, relu) -> Dense(1).

    The last layer starts at zero and its output is added to the profile forecast of the same
    hour (`LSTM_BASE`, made from the history up to the forecast's origin): an untrained network
    is the profile, and training (with early stopping) only moves it away from that where the
    validation days agree.
    """
    import keras

    keras.utils.set_random_seed(seed)
    past = keras.Input((WINDOW, N_PAST), name="past")
    future = keras.Input((HORIZON, N_FUT), name="future")
    base = keras.Input((HORIZON,), name="base")
    x = keras.layers.LSTM(50, return_sequences=True)(past)
    x = keras.layers.Dropout(0.2)(x)
    x = keras.layers.LSTM(50)(x)
    x = keras.layers.Dropout(0.2)(x)
    x = keras.layers.RepeatVector(HORIZON)(x)
    x = keras.layers.Concatenate()([x, future])
    x = keras.layers.Dense(64, activation="relu")(x)
    x = keras.layers.Dense(25, activation="relu")(x)
    correction = keras.layers.Dense(1, kernel_initializer="zeros", name="correction")(x)
    correction = keras.layers.Reshape((HORIZON,))(correction)
    out = keras.layers.Add()([base, correction])
    return keras.Model([past, future, base], out, name="ticket_lstm")


def masked_mae(y_true: Any, y_pred: Any) -> Any:
    """MAE over observed hours only; y_true carries [value, observed] on its last axis."""
    import keras.ops as ops

    value, mask = y_true[..., 0], y_true[..., 1]
    return ops.sum(ops.abs(value - y_pred) * mask) / ops.maximum(ops.sum(mask), 1.0)


@dataclass
class Grid:
    """A history turned into model arrays: scaled values, observed flags and calendar rows."""

    index: pd.DatetimeIndex
    scaled: np.ndarray
    observed: np.ndarray
    calendar: np.ndarray

    @classmethod
    def build(cls, series: pd.Series, scaler: MinMaxScaler, country: str, extra: int = 0) -> Grid:
        index = pd.DatetimeIndex(series.index)
        if extra:
            index = index.append(pd.date_range(index[-1] + pd.Timedelta(hours=1), periods=extra, freq="h"))
        values = np.full(len(index), np.nan)
        values[: len(series)] = series.to_numpy(dtype=float)
        observed = ~np.isnan(values)
        scaled = np.zeros(len(index), dtype="float32")
        if observed.any():
            scaled[observed] = scaler.transform(values[observed].reshape(-1, 1)).ravel()
        return cls(index, scaled, observed.astype("float32"), calendar_features(index, country))

    def inputs(self, origins: np.ndarray, base: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Past and future inputs for forecasts made at the end of each origin hour, with their `base`
        (the scaled profile forecast of each origin's next HORIZON hours, see `profile_bases`)."""
        past_idx = origins[:, None] + np.arange(-WINDOW + 1, 1)[None, :]
        past = np.concatenate(
            [self.scaled[past_idx][..., None], self.observed[past_idx][..., None], self.calendar[past_idx]],
            axis=-1,
        )
        fut_idx = origins[:, None] + np.arange(1, HORIZON + 1)[None, :]
        parts = [self.calendar[fut_idx], np.broadcast_to(np.arange(1, HORIZON + 1) / HORIZON, fut_idx.shape)[..., None]]
        for week in range(1, LAGS + 1):
            lag = fut_idx - week * WINDOW
            valid = lag >= 0
            lag = np.maximum(lag, 0)
            value = np.where(valid, self.scaled[lag], 0.0)
            seen = np.where(valid, self.observed[lag], 0.0)
            parts.append(value[..., None])
            parts.append(seen[..., None])
        future = np.concatenate(parts, axis=-1)
        return past.astype("float32"), future.astype("float32"), np.asarray(base, dtype="float32")

    def targets(self, origins: np.ndarray) -> np.ndarray:
        idx = origins[:, None] + np.arange(1, HORIZON + 1)[None, :]
        return np.stack([self.scaled[idx], self.observed[idx]], axis=-1).astype("float32")


@dataclass
class Forecaster:
    """A trained network (or none: seasonal-naive fallback) with its blend, intervals and metadata."""

    network: Any | None
    scaler: MinMaxScaler | None
    meta: dict[str, Any] = field(default_factory=dict)
    _infer: Any = None

    @property
    def is_baseline(self) -> bool:
        return self.network is None

    @property
    def version(self) -> str:
        return str(self.meta.get("version", "baseline"))

    # --- forecasting --------------------------------------------------------------------------

    def forecast(self, series: pd.Series, hours: int) -> pd.DataFrame:
        """`hours` hourly forecasts after the end of `series`: predicted, lower, upper (+ parts)."""
        future = pd.date_range(series.index[-1] + pd.Timedelta(hours=1), periods=hours, freq="h")
        open_mask = np.asarray(self.meta.get("open_slots") or baseline.open_slots(series), dtype=bool)
        future_days = pd.DatetimeIndex(future.normalize().unique())
        _, closed = baseline.future_day_flags(series, future_days, self.meta.get("country", "US"))
        closed_now = pd.Series(closed, index=future_days).reindex(future.normalize()).to_numpy()
        open_now = open_mask[baseline.slots(future)] & ~closed_now
        if self.is_baseline:
            base = baseline.seasonal_naive(series, future)
            lstm = np.full(hours, np.nan)
            predicted = base
        else:
            blend = self.meta["blend"]
            weight = float(blend["weight"])
            base = baseline.decomposed_profile(
                series,
                future,
                float(blend["level_halflife_weeks"]),
                float(blend["pool"]),
                self.meta.get("country", "US"),
            )
            lstm = self._lstm(series, hours, open_mask)
            predicted = weight * lstm + (1 - weight) * base
        predicted = np.where(open_now, np.maximum(predicted, 0.0), 0.0)
        q_low, q_high = self.meta.get("residual_quantiles") or _default_quantiles(series)
        spread = np.sqrt(np.maximum(predicted, 1.0))
        lower = np.where(open_now, np.maximum(predicted + q_low * spread, 0.0), 0.0)
        upper = np.where(open_now, np.maximum(predicted + q_high * spread, 0.0), 0.0)
        return pd.DataFrame(
            {"predicted": predicted, "lower": lower, "upper": upper, "lstm": lstm, "baseline": base},
            index=future,
        )

    def daily(self, frame: pd.DataFrame, series: pd.Series) -> pd.DataFrame:
        """Per whole calendar day of an hourly `frame` (from `forecast`): predicted total and its 80%
        interval, from the day totals' own errors (`day_log_ratios`), not the sum of hourly bounds."""
        days = frame.index.normalize()
        whole = pd.Series(1, index=frame.index).groupby(days).transform("size").to_numpy() == 24
        predicted = frame.predicted[whole].groupby(days[whole]).sum()
        q_low, q_high = self.meta.get("daily_log_ratio_quantiles") or _default_daily_quantiles(series)
        return pd.DataFrame(
            {"predicted": predicted, "lower": predicted * np.exp(q_low), "upper": predicted * np.exp(q_high)}
        )

    def _lstm(self, series: pd.Series, hours: int, open_mask: np.ndarray) -> np.ndarray:
        """The network alone, one 168 h pass at a time, each pass reading the previous one's output."""
        if self.network is None or self.scaler is None:
            raise RuntimeError("a baseline forecaster has no network to run")
        country = self.meta.get("country", "US")
        need = WINDOW + LAGS * WINDOW
        history = series.iloc[-need:] if len(series) > need else series
        passes = -(-hours // HORIZON)
        grid = Grid.build(history, self.scaler, country, extra=passes * HORIZON)
        if len(history) < need:  # pad the front so the first window exists; padding is unobserved
            pad = need - len(history)
            grid = Grid(
                grid.index,
                np.concatenate([np.zeros(pad, "float32"), grid.scaled]),
                np.concatenate([np.zeros(pad, "float32"), grid.observed]),
                np.concatenate([np.zeros((pad, N_CAL), "float32"), grid.calendar]),
            )
        future = pd.date_range(series.index[-1] + pd.Timedelta(hours=1), periods=passes * HORIZON, freq="h")
        base = _scaled(self.scaler, baseline.decomposed_profile(series, future, *LSTM_BASE, country))
        origin = len(grid.scaled) - passes * HORIZON - 1
        out: list[np.ndarray] = []
        for i in range(passes):
            pass_base = base[None, i * HORIZON : (i + 1) * HORIZON]
            scaled = np.asarray(self._run(*grid.inputs(np.array([origin]), pass_base)))[0]
            block = slice(origin + 1, origin + 1 + HORIZON)
            slot_open = open_mask[baseline.slots(_block_index(grid, block))]
            grid.scaled[block] = np.where(slot_open, scaled, 0.0)
            grid.observed[block] = slot_open.astype("float32")
            out.append(scaled)
            origin += HORIZON
        scaled_all = np.concatenate(out)[:hours]
        return self.scaler.inverse_transform(scaled_all.reshape(-1, 1)).ravel()

    def _run(self, past: np.ndarray, future: np.ndarray, base: np.ndarray) -> Any:
        if self._infer is None:
            import tensorflow as tf

            network: Any = self.network  # not None: `_lstm`, the only caller, checks
            self._infer = tf.function(lambda p, f, b: network([p, f, b], training=False), reduce_retracing=True)
        return self._infer(past, future, base)

    # --- persistence --------------------------------------------------------------------------

    def save(self, directory: Path) -> None:
        """Write the model, scaler and metadata, replacing any previous set atomically per file."""
        if self.network is None:
            raise RuntimeError("a baseline forecaster has no model to save")
        directory.mkdir(parents=True, exist_ok=True)
        tmp_model = directory / f".{MODEL_FILE}.tmp.keras"
        self.network.save(tmp_model)
        tmp_scaler = directory / f".{SCALER_FILE}.tmp"
        joblib.dump(self.scaler, tmp_scaler)
        tmp_meta = directory / f".{META_FILE}.tmp"
        tmp_meta.write_text(json.dumps(self.meta, indent=2, default=str))
        os.replace(tmp_model, directory / MODEL_FILE)
        os.replace(tmp_scaler, directory / SCALER_FILE)
        os.replace(tmp_meta, directory / META_FILE)

    @classmethod
    def load(cls, directory: Path) -> Forecaster | None:
        """The saved forecaster in `directory`, or None when there is none (or it is unreadable)."""
        paths = [directory / MODEL_FILE, directory / SCALER_FILE, directory / META_FILE]
        if not all(p.exists() for p in paths):
            return None
        import keras

        try:
            network = keras.models.load_model(paths[0], compile=False)
            scaler = joblib.load(paths[1])
            meta = json.loads(paths[2].read_text())
        except Exception:  # a half-written or foreign file must not take the service down
            logger.exception("forecast model in %s is unreadable; using the seasonal-naive baseline", directory)
            return None
        if meta.get("format") != FORMAT:  # an older layout: its network expects other inputs
            logger.warning("forecast model in %s has an old format; retrain it. Serving the baseline.", directory)
            return None
        return cls(network=network, scaler=scaler, meta=meta)

    @classmethod
    def baseline(cls) -> Forecaster:
        return cls(network=None, scaler=None, meta={"version": "baseline"})


def _block_index(grid: Grid, block: slice) -> pd.DatetimeIndex:
    # The grid may be front-padded, so its index is shorter than its arrays by the padding.
    offset = len(grid.scaled) - len(grid.index)
    return grid.index[block.start - offset : block.stop - offset]


def _scaled(scaler: MinMaxScaler, values: np.ndarray) -> np.ndarray:
    return scaler.transform(np.asarray(values, dtype=float).reshape(-1, 1)).reshape(np.shape(values))


def profile_bases(series: pd.Series, origins: np.ndarray, scaler: MinMaxScaler, country: str) -> np.ndarray:
    """Per origin (a position in `series`), the scaled `LSTM_BASE` profile of the next HORIZON hours,
    made from the history up to and including that hour only: what the network corrects."""
    out = np.zeros((len(origins), HORIZON))
    for i, origin in enumerate(origins):
        future = pd.date_range(series.index[origin] + pd.Timedelta(hours=1), periods=HORIZON, freq="h")
        out[i] = baseline.decomposed_profile(series.iloc[: origin + 1], future, *LSTM_BASE, country)
    return _scaled(scaler, out)


INTERVAL_WEEKS = 8  # weeks of rolling origins behind the intervals
INTERVAL_HORIZON_DAYS = 14  # how far ahead each of those origins forecasts
# Quantiles of the day-total log ratios behind the 80% day bands. The ratios are few and, from
# overlapping windows, correlated: their 10%/90% quantiles covered 0.78 (synthetic) and 0.73 (bank)
# of the earlier cuts' held-out days; 7.5%/92.5% covered 0.85 and 0.78 (benchmarks/forecast_origins.py).
DAY_QUANTILES = (0.075, 0.925)


def rolling_profile_residuals(series: pd.Series, candidate: Candidate, country: str) -> tuple[np.ndarray, np.ndarray]:
    """Hourly residuals in Poisson units (over sqrt of the forecast) and daily log ratios (actual
    over forecast day totals) of the profile forecast made from an origin every other day of the
    last INTERVAL_WEEKS weeks, each INTERVAL_HORIZON_DAYS ahead.

    Why: the selection days are one stretch of about four weeks; when the level stepped between them
    and the next weeks, intervals from their residuals alone covered 0.68 of the held-out hours on
    average over the bank series' earlier cuts. The profile learns nothing, so these earlier days are
    forecast out of sample too; the intervals take the wider of their quantiles and the selection days'.
    """
    end = series.index[-1].normalize()
    first = max(series.index[0].normalize() + pd.Timedelta(days=21), end - pd.Timedelta(weeks=INTERVAL_WEEKS))
    hourly: list[np.ndarray] = []
    daily: list[np.ndarray] = []
    for origin in pd.date_range(first, end - pd.Timedelta(days=1), freq="2D"):
        after = series[(series.index >= origin) & (series.index < origin + pd.Timedelta(days=INTERVAL_HORIZON_DAYS))]
        seen = after.notna().to_numpy()
        if not seen.any():
            continue
        future = pd.DatetimeIndex(after.index[seen])
        actual = after.to_numpy()[seen]
        predicted = baseline.decomposed_profile(series[series.index < origin], future, *candidate, country)
        hourly.append((actual - predicted) / np.sqrt(np.maximum(predicted, 1.0)))
        daily.append(day_log_ratios(actual, predicted, future.normalize().to_numpy()))
    if not hourly:
        return np.zeros(0), np.zeros(0)
    return np.concatenate(hourly), np.concatenate(daily)


def day_log_ratios(actual: np.ndarray, predicted: np.ndarray, group: np.ndarray) -> np.ndarray:
    """log(actual / forecast) of each group's total (a day, or a day forecast from one origin).

    Why daily intervals need their own errors: a day's error is mostly the level's, shared by its
    hours, so summing hourly bounds gave bands of +-60% around days forecast within 10%.
    """
    _, which = np.unique(group, return_inverse=True, axis=0)
    actual_total = np.bincount(which, weights=actual)
    predicted_total = np.bincount(which, weights=predicted)
    return np.log(np.maximum(actual_total, 1.0) / np.maximum(predicted_total, 1.0))


def _wider_quantiles(
    on_selection: np.ndarray, on_rolling: np.ndarray, levels: tuple[float, float]
) -> tuple[list[float], list[float], list[float]]:
    """The wider of the two sets' (low, high) quantiles, and each set's (rolling: selection's when empty)."""
    selection = [float(q) for q in np.quantile(on_selection, levels)]
    rolling = [float(q) for q in np.quantile(on_rolling, levels)] if len(on_rolling) else selection
    return [min(selection[0], rolling[0]), max(selection[1], rolling[1])], selection, rolling


def _default_daily_quantiles(series: pd.Series) -> tuple[float, float]:
    """10%/90% quantiles of the log ratio of each open day's total to the same weekday's a week before."""
    totals = series.resample("D").sum(min_count=1)
    previous = totals.shift(7)
    both = (totals > 0) & (previous > 0)
    if both.sum() < 5:
        return (-0.5, 0.5)
    ratio = np.log(totals[both] / previous[both])
    return float(ratio.quantile(0.1)), float(ratio.quantile(0.9))


def _default_quantiles(series: pd.Series) -> tuple[float, float]:
    """10%/90% quantiles of week-over-week changes, scaled like the forecast intervals."""
    previous = series.shift(baseline.SLOTS)
    both = series.notna() & previous.notna()
    if both.sum() < 10:
        return (-1.28, 1.28)
    diff = (series[both] - previous[both]) / np.sqrt(np.maximum(previous[both], 1.0))
    return float(diff.quantile(0.1)), float(diff.quantile(0.9))


# --- training -------------------------------------------------------------------------------------


def fit(
    history: History,
    *,
    validation_days: int = 14,
    max_epochs: int = 40,
    seed: int = 42,
    country: str = "US",
    stride: int | None = None,
    patience: int = PATIENCE,
    blend_weight: float | None = None,
) -> Forecaster:
    """Train on `history` minus its last `validation_days`: the first third of those days picks the
    epoch, the rest (forecast from a new origin every day, unseen by training and early stopping)
    the profile's level half-life and shape pooling, the blend weight and the intervals.

    The returned forecaster conditions on whatever history it is given at forecast time, so
    the validation days are not lost: they are the window the first served forecast reads.
    `blend_weight` fixes the LSTM's share instead of choosing it (1.0: the LSTM alone).
    """
    import keras

    started = time.perf_counter()
    series = history.series
    plan = validation_plan(series, validation_days)
    validation_days, val_start, select_start = plan.days, plan.start, plan.select_start
    train = series[series.index < val_start]
    if train.notna().sum() < 2 * WINDOW or series[series.index >= select_start].notna().sum() == 0:
        raise ValueError(
            f"history too short: {len(series)} hours; need at least {2 * WINDOW} observed hours "
            f"before the last {validation_days} days"
        )
    scaler = MinMaxScaler().fit(train.dropna().to_numpy().reshape(-1, 1))
    grid = Grid.build(series, scaler, country)
    n_train = len(train)
    first = WINDOW - 1
    if stride is None:  # neighbouring origins overlap almost entirely; a capped number is plenty
        stride = max(1, -(-(n_train - HORIZON - first) // MAX_WINDOWS))
    fit_origins = np.arange(first, n_train - HORIZON, stride)
    select_index = series.index.get_loc(select_start)
    val_origins = np.arange(max(first, n_train - 1), min(len(series) - HORIZON, select_index), max(stride, 3))
    if len(fit_origins) == 0:
        raise ValueError(f"history too short: need more than {WINDOW + HORIZON} hours before validation")
    network = build_network(seed)
    network.compile(optimizer=keras.optimizers.Adam(LEARNING_RATE), loss=masked_mae)
    x_fit = grid.inputs(fit_origins, profile_bases(series, fit_origins, scaler, country))
    y_fit = grid.targets(fit_origins)
    callbacks = []
    val_data = None
    if len(val_origins):
        val_targets = grid.targets(val_origins)
        # Early stopping sees only its own days; the selection days must stay unseen for the blend.
        beyond = (val_origins[:, None] + np.arange(1, HORIZON + 1)[None, :]) >= select_index
        val_targets[..., 1][beyond] = 0.0
        val_data = (list(grid.inputs(val_origins, profile_bases(series, val_origins, scaler, country))), val_targets)
        callbacks.append(
            keras.callbacks.EarlyStopping(monitor="val_loss", patience=patience, restore_best_weights=True)
        )
    epochs_run = 0
    if max_epochs > 0:
        hist = network.fit(
            list(x_fit),
            y_fit,
            validation_data=val_data,
            epochs=max_epochs,
            batch_size=BATCH,
            shuffle=True,
            callbacks=callbacks,
            verbose=0,
        )
        epochs_run = len(hist.history["loss"])
    fit_seconds = time.perf_counter() - started

    forecaster = Forecaster(network=network, scaler=scaler, meta={"country": country, "format": FORMAT})
    forecaster.meta["open_slots"] = baseline.open_slots(train).tolist()

    # Choose the blend and the intervals on the selection days, forecast from each plan origin.
    selection = selection_forecasts(forecaster, series, plan.origins, baseline.DECOMPOSED_CANDIDATES)
    weights = BLEND_WEIGHTS if blend_weight is None else (blend_weight,)
    (level_halflife, pool), weight, scores = choose_blend(selection, weights)
    predicted = selection.blend((level_halflife, pool), weight)
    effects = baseline.calendar_effects(series[series.index < select_start], country)
    residual = (selection.actual - predicted) / np.sqrt(np.maximum(predicted, 1.0))
    rolling, rolling_days = rolling_profile_residuals(series, (level_halflife, pool), country)
    quantiles, on_selection, on_rolling = _wider_quantiles(residual, rolling, (0.1, 0.9))
    selection_days = day_log_ratios(selection.actual, predicted, np.column_stack([selection.origin, selection.day]))
    daily_quantiles, day_selection, day_rolling = _wider_quantiles(selection_days, rolling_days, DAY_QUANTILES)
    validation = baseline.metrics(
        selection.actual,
        predicted,
        naive=selection.naive,
        scale=baseline.naive_scale(series[series.index < select_start]),
    )

    import keras as _k
    import sklearn
    import tensorflow as tf

    trained_at = datetime.now(UTC)
    forecaster.meta.update(
        {
            "version": trained_at.strftime("%Y%m%dT%H%M%S%fZ"),
            "trained_at": trained_at.isoformat(),
            "source": history.source,
            "data_start": series.index[0].isoformat(),
            "data_end": series.index[-1].isoformat(),
            "validation_days": validation_days,
            "validation_start": val_start.isoformat(),
            "selection_start": select_start.isoformat(),
            "selection_origins": selection.n_origins,
            "observed_hours": history.observed_hours,
            "train_hours": int(train.notna().sum()),
            "validation_hours": len(selection.actual),
            "epochs": epochs_run,
            "seed": seed,
            "window_hours": WINDOW,
            "horizon_hours": HORIZON,
            "blend": {"level_halflife_weeks": level_halflife, "pool": pool, "weight": weight},
            "lstm_base": {"level_halflife_weeks": LSTM_BASE[0], "pool": LSTM_BASE[1]},
            "calendar_effects": {name: round(float(np.exp(v)), 4) for name, v in effects.items()},
            "residual_quantiles": quantiles,
            "residual_quantiles_parts": {"selection": on_selection, "rolling_profile": on_rolling},
            "daily_log_ratio_quantiles": daily_quantiles,
            "daily_log_ratio_quantiles_parts": {"selection": day_selection, "rolling_profile": day_rolling},
            "validation": validation,
            "validation_parts_mae": scores,
            "fit_seconds": round(fit_seconds, 2),
            "train_seconds": round(time.perf_counter() - started, 2),
            "versions": {
                "tensorflow": tf.__version__,
                "keras": _k.__version__,
                "scikit-learn": sklearn.__version__,
                "numpy": np.__version__,
                "pandas": pd.__version__,
            },
        }
    )
    return forecaster


@dataclass(frozen=True)
class ValidationPlan:
    """How the last days of a history are split: training ends before `start`; the days up to
    `select_start` stop it; the rest choose the blend, forecast from each of `origins`."""

    days: int
    start: pd.Timestamp
    select_start: pd.Timestamp
    origins: list[pd.Timestamp]


def validation_plan(series: pd.Series, validation_days: int) -> ValidationPlan:
    """The split `fit` uses. A short history (a new install's first real weeks) gives up validation
    days, down to a week, until three weeks and 2 * WINDOW observed hours are left to train on.
    Origins are every day's start in the first half of the selection days, so each forecasts at
    least half of them."""
    last_day = series.index[-1].normalize()
    observed = series.notna()
    while validation_days > 7:
        start = last_day - pd.Timedelta(days=validation_days - 1)
        before = series.index < start
        if before.sum() >= 21 * 24 and observed[before].sum() >= 2 * WINDOW:
            break
        validation_days -= 1
    start = last_day - pd.Timedelta(days=validation_days - 1)
    stop_days = max(2, validation_days // 3)
    select_start = start + pd.Timedelta(days=stop_days)
    select_days = validation_days - stop_days
    origins = [select_start + pd.Timedelta(days=d) for d in range(max(1, (select_days + 1) // 2))]
    return ValidationPlan(validation_days, start, select_start, origins)


@dataclass
class SelectionSet:
    """Forecasts of the selection stretch from several origins, pooled hour by hour."""

    actual: np.ndarray
    lstm: np.ndarray
    bases: dict[Candidate, np.ndarray]  # the profile by (level half-life, pooling): the blend's candidates
    naive: np.ndarray
    day: np.ndarray  # day number (since the first target day) of each pooled hour: the unit of noise
    n_origins: int
    references: dict[str, np.ndarray] = field(default_factory=dict)  # scored for comparison only
    origin: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=int))  # which origin forecast each hour

    def blend(self, candidate: Candidate, weight: float) -> np.ndarray:
        return np.maximum(weight * self.lstm + (1 - weight) * self.bases[candidate], 0.0)


def selection_forecasts(
    forecaster: Forecaster, series: pd.Series, origins: list[pd.Timestamp], candidates: tuple[Candidate, ...]
) -> SelectionSet:
    """From each origin, forecast every observed hour from it to the end of `series` (the LSTM part
    is zeros for a forecaster without a network: the profile candidates alone are compared)."""
    open_mask = np.asarray(forecaster.meta["open_slots"], dtype=bool)
    country = forecaster.meta.get("country", "US")
    parts: dict[str, list[np.ndarray]] = {"actual": [], "lstm": [], "naive": [], "day": [], "origin": []}
    bases: dict[Candidate, list[np.ndarray]] = {c: [] for c in candidates}
    references: dict[str, list[np.ndarray]] = {f"weekly_mean_k{k}": [] for k in REFERENCE_KS}
    for origin in origins:
        before, after = series[series.index < origin], series[series.index >= origin]
        seen = after.notna().to_numpy()
        if not seen.any():
            continue
        future = pd.DatetimeIndex(after.index[seen])
        parts["actual"].append(after.to_numpy()[seen])
        lstm = np.zeros(len(after)) if forecaster.is_baseline else forecaster._lstm(before, len(after), open_mask)
        parts["lstm"].append(np.maximum(lstm[seen], 0.0))
        parts["naive"].append(baseline.seasonal_naive(before, future))
        parts["day"].append(((future.normalize() - origins[0]) // pd.Timedelta(days=1)).to_numpy())
        parts["origin"].append(np.full(len(future), len(parts["origin"])))
        effects = baseline.calendar_effects(before, country)  # shared by the candidates
        for level, pool in candidates:
            bases[(level, pool)].append(baseline.decomposed_profile(before, future, level, pool, country, effects))
        for k in REFERENCE_KS:
            references[f"weekly_mean_k{k}"].append(baseline.weekly_mean(before, future, k))
    joined = {name: np.concatenate(values) for name, values in parts.items()}
    return SelectionSet(
        actual=joined["actual"],
        lstm=joined["lstm"],
        bases={k: np.concatenate(v) for k, v in bases.items()},
        naive=joined["naive"],
        day=joined["day"],
        n_origins=len(parts["actual"]),
        references={name: np.concatenate(v) for name, v in references.items()},
        origin=joined["origin"],
    )


def choose_blend(selection: SelectionSet, weights: tuple[float, ...]) -> tuple[Candidate, float, dict[str, float]]:
    """The (profile, weight) with the lowest pooled MAE, and every part's MAE (plus the references').

    Near-ties go to the baseline: among blends within one standard error of the best (of the
    per-day MAE differences; days, not hours, are the independent-ish units), the one with the
    smallest LSTM weight wins, because a few weeks of validation cannot tell small gains from noise.
    """
    actual = selection.actual
    scores = {"lstm": _mae(actual, selection.lstm)}
    table: dict[tuple[Candidate, float], np.ndarray] = {}
    for name, values in selection.references.items():
        scores[name] = _mae(actual, values)
    for candidate, base in selection.bases.items():
        scores[profile_name(candidate)] = _mae(actual, base)
        for weight in weights:
            table[(candidate, weight)] = np.abs(actual - selection.blend(candidate, weight))
    best = min(table, key=lambda key: (float(table[key].mean()), key[1]))
    days, day = np.unique(selection.day, return_inverse=True)
    per_day = np.bincount(day, minlength=len(days))

    def day_means(errors: np.ndarray) -> np.ndarray:
        return np.bincount(day, weights=errors, minlength=len(days)) / per_day

    best_by_day = day_means(table[best])
    chosen = best
    for key in sorted(table, key=lambda key: (key[1], float(table[key].mean()))):
        diff = day_means(table[key]) - best_by_day
        se = float(diff.std(ddof=1) / np.sqrt(len(diff))) if len(diff) > 1 else 0.0
        if float(table[key].mean() - table[best].mean()) <= se:
            chosen = key
            break
    scores["blend"] = float(table[chosen].mean())
    return chosen[0], float(chosen[1]), scores


def profile_name(candidate: Candidate) -> str:
    """How a profile candidate is named in the validation scores."""
    level, pool = candidate
    return f"profile_l{level:g}_p{pool:g}"


def _mae(actual: np.ndarray, predicted: np.ndarray) -> float:
    return float(np.mean(np.abs(actual - predicted))) if len(actual) else float("inf")
