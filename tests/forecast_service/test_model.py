"""The forecaster trained tiny: shapes, closed hours, persistence, and the backtest CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from forecast_service import backtest, baseline
from forecast_service.data import History, synthetic_history
from forecast_service.model import (
    LSTM_BASE,
    Forecaster,
    SelectionSet,
    choose_blend,
    day_log_ratios,
    fit,
    profile_name,
    rolling_profile_residuals,
    selection_forecasts,
    validation_plan,
)

END = pd.Timestamp("2025-05-05")


@pytest.fixture(scope="module")
def history() -> History:
    return synthetic_history(end=END, weeks=8, seed=3)


@pytest.fixture(scope="module")
def trained(history: History) -> Forecaster:
    return fit(history, validation_days=7, max_epochs=2)


def test_forecast_has_one_row_per_hour_with_ordered_intervals(trained: Forecaster, history: History) -> None:
    frame = trained.forecast(history.series, 200)  # longer than one 168 h pass
    assert len(frame) == 200
    assert frame.index[0] == END and (frame.index.to_series().diff().dropna() == pd.Timedelta(hours=1)).all()
    assert (frame.lower <= frame.predicted).all() and (frame.predicted <= frame.upper).all()
    assert (frame.lower >= 0).all() and frame.lstm.notna().all()
    # The weekly cycle is kept: office hours forecast busier than nights.
    assert frame.predicted[frame.index.hour == 11].mean() > 1.5 * frame.predicted[frame.index.hour == 3].mean()


def test_metadata_records_source_range_blend_and_versions(trained: Forecaster, history: History) -> None:
    meta = trained.meta
    assert meta["source"] == "synthetic"
    assert meta["data_start"] == history.start.isoformat() and meta["data_end"] == history.end.isoformat()
    blend = meta["blend"]
    assert 0 <= blend["weight"] <= 1
    assert (blend["level_halflife_weeks"], blend["pool"]) in baseline.DECOMPOSED_CANDIDATES
    assert set(meta["calendar_effects"]) == set(baseline.DAY_FLAGS)
    # Each part's score on the selection days is kept, with the plain k-week means for comparison.
    parts = meta["validation_parts_mae"]
    assert {"lstm", "blend", "weekly_mean_k2", "weekly_mean_k8"} <= set(parts)
    assert {profile_name(c) for c in baseline.DECOMPOSED_CANDIDATES} <= set(parts)
    assert meta["residual_quantiles"][0] < 0 < meta["residual_quantiles"][1]
    parts = meta["residual_quantiles_parts"]  # the intervals take the wider of the two
    assert meta["residual_quantiles"] == [
        min(parts["selection"][0], parts["rolling_profile"][0]),
        max(parts["selection"][1], parts["rolling_profile"][1]),
    ]
    low, high = meta["daily_log_ratio_quantiles"]
    day_parts = meta["daily_log_ratio_quantiles_parts"]
    assert low < 0 < high
    assert [low, high] == [
        min(day_parts["selection"][0], day_parts["rolling_profile"][0]),
        max(day_parts["selection"][1], day_parts["rolling_profile"][1]),
    ]
    # Early stopping and the blend choice use different days; the blend is chosen from several origins.
    assert meta["validation_start"] < meta["selection_start"] <= meta["data_end"]
    assert meta["selection_origins"] >= 2
    assert {"mae", "rel_mae", "mase"} <= set(meta["validation"])
    assert {"tensorflow", "keras", "numpy"} <= set(meta["versions"])


def test_an_untrained_network_forecasts_the_profile_it_corrects(history: History) -> None:
    # The network adds a learned correction to the LSTM_BASE profile, starting from zero: before
    # training it is that profile, hour for hour, on the second 168 h pass too.
    untrained = fit(history, validation_days=7, max_epochs=0, blend_weight=1.0)
    frame = untrained.forecast(history.series, 2 * 168)
    expected = baseline.decomposed_profile(history.series, pd.DatetimeIndex(frame.index), *LSTM_BASE, "US")
    assert expected.sum() > 0
    np.testing.assert_allclose(frame.lstm.to_numpy(), expected, rtol=1e-4, atol=1e-3)
    assert untrained.meta["lstm_base"] == {"level_halflife_weeks": LSTM_BASE[0], "pool": LSTM_BASE[1]}


SHORT, LONG = (1, 0.0), (4, 0.0)  # two profile candidates: (level half-life, pooling)


def _selection(lstm_error: np.ndarray, base_error: np.ndarray, days: int = 14) -> SelectionSet:
    hours = len(lstm_error)
    actual = np.full(hours, 100.0)
    return SelectionSet(
        actual=actual,
        lstm=actual + lstm_error,
        bases={SHORT: actual + base_error, LONG: actual + base_error + 5},
        naive=actual + 2 * base_error,
        day=np.arange(hours) * days // hours,
        n_origins=3,
    )


def test_blend_goes_to_the_lstm_only_when_it_is_clearly_better() -> None:
    rng = np.random.default_rng(0)
    weights = tuple(np.round(np.linspace(0, 1, 11), 2))
    base_error = rng.normal(0, 10, 24 * 14)
    # A network much better than the baseline on every day gets most of the weight.
    profile, weight, scores = choose_blend(_selection(rng.normal(0, 2, 24 * 14), base_error), weights)
    assert weight >= 0.8 and profile == SHORT and scores["blend"] < scores[profile_name(SHORT)]
    # One 5% better on average, but by halving the error one day and adding 40% the next, is
    # within the day-to-day noise: the lowest MAE is the LSTM alone, yet the baseline is served.
    uneven = base_error * np.repeat(np.tile([0.5, 1.4], 7), 24)
    profile, weight, scores = choose_blend(_selection(uneven, base_error), weights)
    assert scores["lstm"] < scores[profile_name(SHORT)]
    assert weight == 0.0 and profile == SHORT and scores["blend"] == scores[profile_name(SHORT)]


def test_saved_model_reloads_with_identical_forecasts(trained: Forecaster, history: History, tmp_path: Path) -> None:
    trained.save(tmp_path)
    loaded = Forecaster.load(tmp_path)
    assert loaded is not None and loaded.version == trained.version
    pd.testing.assert_frame_equal(loaded.forecast(history.series, 48), trained.forecast(history.series, 48))


def test_a_model_saved_in_an_older_format_loads_as_none(trained: Forecaster, tmp_path: Path) -> None:
    # Format 1 networks took no weekly-mean input; format 2 blends named a k-week mean and format 3
    # a weekday-hour profile's half-life, not a level half-life and pooling: each would fail on the
    # first request. Format 4 networks learned corrections to a 4-week mean, not to the profile they
    # would now be given: they would answer, wrongly. All load as none (retrain).
    trained.save(tmp_path)
    meta = json.loads((tmp_path / "metadata.json").read_text())
    for old in (1, 2, 3, 4):
        (tmp_path / "metadata.json").write_text(json.dumps({**meta, "format": old}))
        assert Forecaster.load(tmp_path) is None


def test_missing_or_broken_artifacts_load_as_none(tmp_path: Path) -> None:
    assert Forecaster.load(tmp_path) is None
    for name in ("model.keras", "scaler.joblib", "metadata.json"):
        (tmp_path / name).write_text("garbage")
    assert Forecaster.load(tmp_path) is None


def test_business_hours_history_trains_and_keeps_closed_hours_closed() -> None:
    series = synthetic_history(end=END, weeks=8, seed=4).series
    closed = (series.index.dayofweek >= 5) | (series.index.hour < 7) | (series.index.hour > 20)
    gappy = series.mask(closed)
    gappy[gappy.index.normalize() == pd.Timestamp("2025-04-15")] = np.nan  # a missing weekday
    model = fit(History(gappy.loc[: gappy.last_valid_index()], "csv:test"), validation_days=7, max_epochs=1)
    frame = model.forecast(gappy.loc[: gappy.last_valid_index()], 168)
    shut = (frame.index.dayofweek >= 5) | (frame.index.hour < 7) | (frame.index.hour > 20)
    assert (frame.predicted[shut] == 0).all() and (frame.upper[shut] == 0).all()
    assert (frame.predicted[~shut] > 0).all()


def test_backtest_cli_prints_metrics_and_writes_predictions(
    tmp_path: Path, history: History, capsys: pytest.CaptureFixture[str]
) -> None:
    csv = tmp_path / "history.csv"
    history.series.rename("tickets").to_csv(csv)
    out = tmp_path / "pred.csv"
    code = backtest.main(["--history", str(csv), "--holdout-days", "3", "--epochs", "1", "--predictions-out", str(out)])
    assert code == 0
    result = json.loads(capsys.readouterr().out)
    keys = {"mae", "rmse", "smape", "mase", "naive_mae", "rel_mae", "coverage_80"}
    assert keys | {"train_seconds", "n_train_hours", "n_test_hours"} <= set(result)
    assert result["n_test_hours"] == 72 and result["n_train_hours"] == len(history.series) - 72
    assert result["rel_mae"] == pytest.approx(result["mae"] / result["naive_mae"])
    predictions = pd.read_csv(out)
    assert list(predictions.columns) == ["timestamp", "actual", "predicted", "lower", "upper"]
    assert len(predictions) == 72
    assert predictions.actual.tolist() == history.series.iloc[-72:].tolist()
    assert np.mean(np.abs(predictions.actual - predictions.predicted)) == pytest.approx(result["mae"])
    # The three held-out days' totals are scored too, against the day bands /daily serves.
    days = predictions.groupby(pd.to_datetime(predictions.timestamp).dt.normalize())[["actual", "predicted"]].sum()
    assert len(days) == 3
    mape = float((abs(days.actual - days.predicted) / days.actual).mean())
    assert result["daily_mape"] == pytest.approx(mape)
    assert result["daily_coverage_80"] in (0.0, 1 / 3, 2 / 3, 1.0) and 0 < result["daily_halfwidth_rel"] < 1


def test_backtest_cli_rejects_a_holdout_longer_than_the_history(tmp_path: Path, history: History) -> None:
    csv = tmp_path / "history.csv"
    history.series.iloc[:48].to_csv(csv)
    assert backtest.main(["--history", str(csv), "--holdout-days", "5", "--epochs", "0"]) == 2


def test_validation_plan_splits_stop_and_selection_days_and_shrinks_on_short_histories() -> None:
    long = synthetic_history(end=END, weeks=20, seed=3).series
    plan = validation_plan(long, 42)
    assert plan.days == 42
    assert plan.start == END.normalize() - pd.Timedelta(days=42)  # the history ends at 23:00 the day before
    assert plan.select_start == plan.start + pd.Timedelta(days=14)  # the first third stops training
    assert plan.origins == [plan.select_start + pd.Timedelta(days=d) for d in range(14)]  # half of 28 days
    short = synthetic_history(end=END, weeks=5, seed=3).series
    shrunk = validation_plan(short, 42)
    assert 7 <= shrunk.days < 42
    assert (short.index < shrunk.start).sum() >= 21 * 24  # three weeks are left to train on


def test_selection_without_a_network_compares_the_profile_candidates_alone(history: History) -> None:
    series = history.series
    plan = validation_plan(series, 7)
    probe = Forecaster(None, None, {"open_slots": baseline.open_slots(series).tolist(), "country": "US"})
    selection = selection_forecasts(probe, series, plan.origins, baseline.DECOMPOSED_CANDIDATES)
    assert not selection.lstm.any()
    candidate, weight, scores = choose_blend(selection, (0.0,))
    assert weight == 0.0
    assert scores[profile_name(candidate)] == min(scores[profile_name(c)] for c in baseline.DECOMPOSED_CANDIDATES)


def test_rolling_profile_residuals_are_poisson_sized_and_grow_after_a_level_step() -> None:
    series = synthetic_history(end=END, weeks=16, seed=3).series
    steady, steady_days = rolling_profile_residuals(series, (2, 0.5), "US")
    low, high = np.quantile(steady, [0.1, 0.9])
    assert len(steady) > 14 * 24 and -2.0 < low < -0.8 and 0.8 < high < 2.0  # about N(0, 1) for Poisson noise
    # One log ratio per forecast day (origins every other day, 14 days ahead each), mostly within +-30%.
    assert len(steady_days) > 14 * 10 and np.quantile(np.abs(steady_days), 0.8) < 0.3
    stepped = series.copy()
    stepped[stepped.index >= END - pd.Timedelta(weeks=3)] *= 1.5
    stepped_hours, stepped_days = rolling_profile_residuals(stepped, (2, 0.5), "US")
    assert np.quantile(stepped_hours, 0.9) > high + 0.5
    assert np.quantile(stepped_days, 0.9) > np.quantile(steady_days, 0.9) + 0.1


def test_day_log_ratios_compare_totals_per_group() -> None:
    actual = np.array([10.0, 30.0, 5.0, 5.0, 0.0])
    predicted = np.array([20.0, 20.0, 10.0, 10.0, 3.0])
    group = np.array([[0, 1], [0, 1], [1, 1], [1, 1], [1, 2]])  # (origin, day): the same day from two origins
    np.testing.assert_allclose(day_log_ratios(actual, predicted, group), np.log([1.0, 0.5, 1 / 3]))


def test_day_totals_get_intervals_of_their_own_much_narrower_than_summed_hourly_bounds(
    trained: Forecaster, history: History
) -> None:
    # A day's hours err together (the level), so the day's band comes from day-total errors: on this
    # Poisson-noise series summing the hourly bounds gave a band several times wider than needed.
    frame = trained.forecast(history.series.iloc[:-5], 24 * 4)  # starts at 19:00: the first day is partial
    daily = trained.daily(frame, history.series)
    assert list(daily.index) == list(pd.date_range(END, periods=3, freq="D"))
    summed = frame.groupby(frame.index.normalize())[["predicted", "lower", "upper"]].sum().loc[daily.index]
    np.testing.assert_allclose(daily.predicted, summed.predicted)
    assert (daily.lower < daily.predicted).all() and (daily.predicted < daily.upper).all()
    assert ((daily.upper - daily.lower) < 0.5 * (summed.upper - summed.lower)).all()
    low, high = trained.meta["daily_log_ratio_quantiles"]
    np.testing.assert_allclose(daily.lower, daily.predicted * np.exp(low))
    np.testing.assert_allclose(daily.upper, daily.predicted * np.exp(high))
    # Without a trained model the band comes from week-over-week changes of day totals.
    fallback = Forecaster.baseline()
    naive = fallback.daily(fallback.forecast(history.series, 48), history.series)
    assert len(naive) == 2 and (naive.lower < naive.predicted).all() and (naive.predicted < naive.upper).all()
