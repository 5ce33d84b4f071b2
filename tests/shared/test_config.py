"""Settings reject a misconfigured database or broker URL at start, naming the variable, never the password."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from shared.config import Settings


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("database_url", "postgres//db.internal/copilot", "is not a database URL"),
        ("database_url", "mysql://copilot:hunter2@db.internal/copilot", "uses 'mysql'; only sqlite"),
        ("redis_url", "cache.internal:6379", "must start with redis://"),
    ],
)
def test_unusable_urls_are_rejected_by_name(field: str, value: str, message: str) -> None:
    with pytest.raises(ValidationError) as caught:
        Settings(**{field: value})  # type: ignore[arg-type]
    text = str(caught.value)
    assert field in text and message in text
    assert "hunter2" not in text and value not in text


@pytest.mark.parametrize(
    "url",
    [
        "sqlite:///var/copilot.db",
        "postgresql://u@127.0.0.1:5432/test",
        "postgres://u@h/db",
        "postgresql+psycopg://u@h/db",
    ],
)
def test_supported_database_urls_pass(url: str) -> None:
    assert Settings(database_url=url).database_url == url


def test_an_empty_retrain_hour_disables_the_schedule_as_documented(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FORECAST_RETRAIN_HOUR", "")
    monkeypatch.setenv("FORECAST_URL", "")
    settings = Settings()
    assert settings.forecast_retrain_hour is None
    assert settings.forecast_base_url == f"http://localhost:{settings.forecast_port}"
    monkeypatch.setenv("FORECAST_RETRAIN_HOUR", "5")
    assert Settings().forecast_retrain_hour == 5
    monkeypatch.setenv("FORECAST_RETRAIN_HOUR", "25")
    with pytest.raises(ValidationError, match="forecast_retrain_hour"):
        Settings()


def test_an_empty_due_alert_window_turns_due_alerts_off_as_documented(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings().alert_due_within_minutes == 30
    monkeypatch.setenv("ALERT_DUE_WITHIN_MINUTES", "")
    assert Settings().alert_due_within_minutes is None
    monkeypatch.setenv("ALERT_DUE_WITHIN_MINUTES", "0")
    assert Settings().alert_due_within_minutes == 0
    monkeypatch.setenv("ALERT_DUE_WITHIN_MINUTES", "-5")
    with pytest.raises(ValidationError, match="alert_due_within_minutes"):
        Settings()
