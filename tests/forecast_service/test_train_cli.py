"""`python -m forecast_service.train`: import a CSV history, save artifacts, --if-missing."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from forecast_service import train
from forecast_service.data import synthetic_history
from forecast_service.main import create_app
from shared.config import Settings, get_settings
from shared.db import get_engine, run_migrations


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Path]:
    """The CLI reads the environment: point it at an empty database and a private model folder."""
    # Its own database: tickets other tests store in the session's one would become the history.
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    run_migrations(url)
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("MODEL_DIR", str(tmp_path / "models"))
    monkeypatch.setenv("FORECAST_MAX_EPOCHS", "1")
    get_settings.cache_clear()
    get_engine.cache_clear()
    yield tmp_path / "models" / "forecast"
    get_settings.cache_clear()
    get_engine.cache_clear()


def test_train_from_csv_then_if_missing_skips(env: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # Given eight weeks of per-hour counts with the nights missing (a desk closed at night)
    series = synthetic_history(end=pd.Timestamp("2025-05-05"), weeks=8, seed=5).series
    series = series[(series.index.hour >= 8) & (series.index.hour < 20)]
    csv = tmp_path / "export.csv"
    series.rename("volume").rename_axis("when").to_csv(csv)

    # When it is imported and trained
    assert train.main(["--history", str(csv), "--time-col", "when", "--count-col", "volume"]) == 0
    summary = json.loads(capsys.readouterr().out)

    # Then the artifacts and the imported history are saved, and the service continues that history
    assert summary["source"] == "csv:export.csv"
    assert {p.name for p in env.iterdir()} >= {"model.keras", "scaler.joblib", "metadata.json", "history.csv"}
    settings = Settings(database_url=get_settings().database_url, model_dir=str(env.parent), forecast_retrain_hour=None)
    with TestClient(create_app(settings)) as client:
        info = client.get("/api/forecast/model/info").json()
        assert info["status"] == "ready" and info["source"] == "csv:export.csv"
        assert info["data_end"] == series.index[-1].isoformat()
        hours = client.get("/api/forecast/hourly/24").json()["predictions"]
        night = [p for p in hours if not 8 <= int(p["timestamp"][11:13]) < 20]
        assert night and all(p["predicted_tickets"] == 0 for p in night)

    # And --if-missing leaves the model alone
    before = (env / "metadata.json").read_text()
    assert train.main(["--if-missing"]) == 0
    assert "not training" in capsys.readouterr().out
    assert (env / "metadata.json").read_text() == before

    # But a model saved in an older format (one the service would not load) is replaced
    (env / "metadata.json").write_text(json.dumps({**json.loads(before), "format": 1}))
    assert train.main(["--if-missing"]) == 0
    retrained = json.loads((env / "metadata.json").read_text())
    assert retrained["version"] != json.loads(before)["version"]
    # on the imported history, which stays for the service to continue
    assert retrained["source"] == "csv:history.csv" and (env / "history.csv").exists()


def test_train_reports_an_unusable_history(env: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    csv = tmp_path / "short.csv"
    csv.write_text("hour_start,count\n2025-05-05 09:00,3\n2025-05-05 10:00,4\n")
    assert train.main(["--history", str(csv)]) == 2
    assert "too short" in capsys.readouterr().err
    assert not (env / "model.keras").exists()


def test_train_on_an_unmigrated_database_says_so(env: Path, monkeypatch, bare_db_url: str, capsys) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("DATABASE_URL", bare_db_url)
    get_settings.cache_clear()
    get_engine.cache_clear()
    assert train.main([]) == 2
    assert capsys.readouterr().err.startswith("error: the database is not migrated: run `make migrate`")
    assert not env.exists()  # nothing trained, nothing saved
    get_engine().dispose()
