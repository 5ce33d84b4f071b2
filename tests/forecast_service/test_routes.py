"""The forecast API: shapes, bounds, the baseline fallback, training and the keep-the-better rule."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from forecast_service.main import create_app
from forecast_service.model import MODEL_FILE, Forecaster, build_network
from forecast_service.service import ForecastService, training_history
from shared.db import make_engine
from shared.models import Customer, Ticket
from tests.prometheus_text import Samples, parse_samples


@pytest.fixture
def forecast_settings(settings_for: Callable[..., object], sqlite_url: str, tmp_path: Path):  # type: ignore[no-untyped-def]
    def make(database_url: str = sqlite_url, **overrides: object):  # type: ignore[no-untyped-def]
        values = {"model_dir": str(tmp_path / "models"), "forecast_retrain_hour": None, "forecast_max_epochs": 1}
        return settings_for(database_url, **{**values, **overrides})

    return make


@pytest.fixture
def client(forecast_settings) -> Iterator[TestClient]:  # type: ignore[no-untyped-def]
    with TestClient(create_app(forecast_settings())) as test_client:
        yield test_client


def test_without_a_model_the_service_serves_seasonal_naive_and_says_so(client: TestClient) -> None:
    info = client.get("/api/forecast/model/info").json()
    assert info["status"] == "baseline" and "seasonal-naive" in info["message"]
    body = client.get("/api/forecast/hourly/24").json()
    assert body["model"]["status"] == "baseline"
    assert len(body["predictions"]) == 24


TYPED_ANSWERS = [
    ("/api/forecast/hourly/168", "/api/forecast/hourly/{hours}"),
    ("/api/forecast/daily/30", "/api/forecast/daily/{days}"),
    ("/api/forecast/staffing/current", "/api/forecast/staffing/current"),
    ("/api/forecast/model/info", "/api/forecast/model/info"),
]


def _matches_its_documentation(client: TestClient, url: str, path: str) -> None:
    import jsonschema

    spec = client.get("/openapi.json").json()
    schema = spec["paths"][path]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert "$ref" in schema, f"{path} is documented as a free-form object"
    jsonschema.validate(client.get(url).json(), {**schema, "components": spec["components"]})


@pytest.mark.parametrize(("url", "path"), TYPED_ANSWERS)
def test_answers_match_their_typed_documentation(client: TestClient, url: str, path: str) -> None:
    """Each answer has a named schema in the service's OpenAPI (and so in the gateway's copy); the
    served model's answers are checked in the training test below."""
    _matches_its_documentation(client, url, path)


def test_hourly_shape(client: TestClient) -> None:
    body = client.get("/api/forecast/hourly/168").json()
    predictions = body["predictions"]
    assert [p["hour_offset"] for p in predictions] == list(range(1, 169))
    first = datetime.fromisoformat(predictions[0]["timestamp"].replace("Z", "+00:00"))
    assert first == datetime.now(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    for p in predictions:
        assert p["lower"] <= p["predicted_tickets"] <= p["upper"]
        assert isinstance(p["recommended_agents"], int)
    summary = body["summary"]
    assert summary["forecast_period_hours"] == 168
    assert summary["total_predicted_tickets"] == pytest.approx(sum(p["predicted_tickets"] for p in predictions), abs=1)
    assert summary["peak_hour"]["predicted_tickets"] == max(p["predicted_tickets"] for p in predictions)
    assert summary["recommended_agents"] == max(p["recommended_agents"] for p in predictions)
    assert body["staffing_inputs"]["aht_minutes"] == 6.0


def test_daily_shape(client: TestClient) -> None:
    body = client.get("/api/forecast/daily/30").json()
    days = body["predictions"]
    assert [d["day_offset"] for d in days] == list(range(1, 31))
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).date().isoformat()
    assert days[0]["date"] == tomorrow
    staffing = days[0]["staffing"]
    assert {"predicted_tickets", "recommended_agents", "tickets_per_agent", "urgency", "message"} <= set(staffing)
    assert body["summary"]["peak_day_tickets"] == max(d["predicted_tickets"] for d in days)
    assert body["summary"]["peak_day"] in {d["date"] for d in days}
    assert all(d["lower"] <= d["predicted_tickets"] <= d["upper"] for d in days)
    assert any(d["lower"] < d["predicted_tickets"] < d["upper"] for d in days)


def test_current_staffing_shape(client: TestClient) -> None:
    body = client.get("/api/forecast/staffing/current").json()
    assert body["shift_prediction"]["duration_hours"] == 8
    assert body["staffing"]["urgency"] in {"low", "medium", "high"}
    assert body["staffing"]["recommended_agents"] >= body["next_hour_prediction"]["staffing"]["recommended_agents"]
    assert body["staffing_inputs"] == {
        "aht_minutes": 6.0,
        "service_level": 0.8,
        "answer_time_seconds": 20.0,
        "shrinkage": 0.3,
        "max_occupancy": 0.85,
        "shift_hours": 8,
    }


@pytest.mark.parametrize(
    ("path", "field", "text"),
    [
        ("/api/forecast/hourly/0", "hours", "greater than or equal to 1"),
        ("/api/forecast/hourly/169", "hours", "less than or equal to 168"),
        ("/api/forecast/hourly/soon", "hours", "valid integer"),
        ("/api/forecast/daily/0", "days", "greater than or equal to 1"),
        ("/api/forecast/daily/31", "days", "less than or equal to 30"),
    ],
)
def test_out_of_range_is_a_clear_422(client: TestClient, path: str, field: str, text: str) -> None:
    response = client.get(path)
    assert response.status_code == 422
    body = response.json()  # the gateway's error shape: detail says it, errors itemises it
    assert body["detail"].startswith(f"path.{field}: ") and text in body["detail"]
    (error,) = body["errors"]
    assert error["loc"] == ["path", field] and text in error["msg"]


def test_post_train_answers_202_and_serves_the_new_model(client: TestClient, forecast_settings) -> None:  # type: ignore[no-untyped-def]
    response = client.post("/api/forecast/train")
    assert response.status_code == 202
    deadline = time.monotonic() + 120
    while (info := client.get("/api/forecast/model/info").json())["retrain"]["state"] == "running":
        assert time.monotonic() < deadline
        time.sleep(0.5)
    assert info["status"] == "ready" and info["retrain"]["replaced"] is True
    assert info["source"] == "synthetic"
    assert (Path(forecast_settings().model_dir) / "forecast" / MODEL_FILE).exists()
    assert client.get("/api/forecast/hourly/5").json()["model"]["version"] == info["version"]
    for url, path in TYPED_ANSWERS:  # a trained model's answers (and its training record) are typed too
        _matches_its_documentation(client, url, path)
    metrics = _scraped(client)
    assert metrics["support_copilot_forecast_model_ready"] == {(): 1.0}
    trained = metrics["support_copilot_forecast_model_trained_timestamp_seconds"][()]
    assert trained == datetime.fromisoformat(info["trained_at"]).timestamp() and time.time() - trained < 300
    history_end = metrics["support_copilot_forecast_history_end_timestamp_seconds"][()]
    assert history_end == datetime.fromisoformat(info["data_end"]).timestamp()
    assert metrics["support_copilot_forecast_retrain"] == {
        (("state", "idle"),): 0.0, (("state", "running"),): 0.0, (("state", "done"),): 1.0, (("state", "failed"),): 0.0,
    }  # fmt: skip


def _scraped(client: TestClient) -> Samples:
    """`GET /metrics`: each sample's value by name and labels."""
    response = client.get("/metrics")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain"), response.text
    return parse_samples(response.text)


def test_metrics_say_the_baseline_is_served_and_count_the_requests(client: TestClient) -> None:
    def answered(metrics, route: str, status: str) -> float:  # type: ignore[no-untyped-def]
        key = (("method", "GET"), ("route", route), ("service", "forecast"), ("status", status))
        return metrics.get("support_copilot_http_requests_total", {}).get(key, 0.0)

    before = _scraped(client)
    assert before["support_copilot_forecast_model_ready"] == {(): 0.0}
    assert "support_copilot_forecast_model_trained_timestamp_seconds" not in before  # the baseline was not trained
    assert before["support_copilot_forecast_retrain"][(("state", "idle"),)] == 1.0
    for _ in range(3):
        assert client.get("/api/forecast/hourly/24").status_code == 200
    assert client.get("/api/forecast/hourly/999").status_code == 422
    after = _scraped(client)
    route = "/api/forecast/hourly/{hours}"
    assert answered(after, route, "200") - answered(before, route, "200") == 3
    assert answered(after, route, "422") - answered(before, route, "422") == 1


def test_retrain_keeps_the_better_model(forecast_settings) -> None:  # type: ignore[no-untyped-def]
    settings = forecast_settings()
    service = ForecastService(settings=settings, engine=make_engine(settings.database_url))
    # A trained model always replaces the seasonal-naive fallback.
    first = service.retrain(max_epochs=1)
    assert first["replaced"] is True and first["current_mae"] is None
    trained = service.forecaster
    history = training_history(settings, service.engine, directory=service.directory)
    # A genuinely worse candidate: the same network with every hour pushed up by a fifth of the
    # scale, served alone.
    network = build_network(seed=0)
    network.set_weights(trained.network.get_weights())
    kernel, bias = network.get_layer("correction").get_weights()
    network.get_layer("correction").set_weights([kernel, bias + 0.2])
    poor = Forecaster(
        network=network,
        scaler=trained.scaler,
        meta={**trained.meta, "version": "poor", "blend": {**trained.meta["blend"], "weight": 1.0}},
    )
    # It loses against the served model, which stays, in memory and on disk.
    kept = service.offer(poor, history)
    assert kept["replaced"] is False and kept["candidate_mae"] > kept["current_mae"]
    assert service.forecaster.version == trained.version
    assert ForecastService(settings=settings, engine=service.engine).forecaster.version == trained.version
    # Served the poor model, the same service takes the better one when it is offered.
    worse = ForecastService(settings=settings, engine=service.engine, forecaster=poor)
    better = worse.offer(trained, history)
    assert better["replaced"] is True and better["candidate_mae"] < better["current_mae"]
    assert worse.forecaster.version == trained.version


def test_four_weeks_of_real_tickets_replace_the_synthetic_history(forecast_settings, db_url: str) -> None:  # type: ignore[no-untyped-def]
    settings = forecast_settings(database_url=db_url)
    engine = make_engine(db_url)
    start = datetime.now(UTC) - timedelta(days=29)
    from sqlalchemy.orm import Session

    with Session(engine) as session:
        session.add(Customer(customer_id="C9", email="c9@example.com"))
        session.add_all(
            Ticket(
                ticket_id=f"R{day}", customer_id="C9", subject="s", description="d",
                created_at=start + timedelta(days=day),
            )
            for day in range(0, 29, 2)
        )  # fmt: skip
        session.commit()
    history = training_history(settings, engine)
    assert history.source == "database"
    assert history.series.sum() == 15 and history.weeks() >= 4
    engine.dispose()


def test_database_trouble_is_a_503_saying_what_not_a_500(forecast_settings, bare_db_url: str) -> None:  # type: ignore[no-untyped-def]
    with TestClient(create_app(forecast_settings(bare_db_url))) as unmigrated:
        response = unmigrated.get("/api/forecast/hourly/24")
        assert response.status_code == 503, response.text
        assert "not migrated" in response.json()["detail"] and "make migrate" in response.json()["detail"]
    down = "postgresql://postgres@127.0.0.1:1/none"  # nothing listens on port 1
    with TestClient(create_app(forecast_settings(down))) as unreachable:
        response = unreachable.get("/api/forecast/staffing/current")
        assert response.status_code == 503, response.text
        assert response.json()["detail"] == "database unavailable, retry shortly"


def test_openapi_documents_the_errors_the_service_gives(client: TestClient) -> None:
    """The same error documentation as the gateway, which relays these paths at its own address."""
    import jsonschema

    spec = client.get("/openapi.json").json()
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            assert {"401", "403", "429", "503"} <= set(operation["responses"]), (method, path)
            assert operation["responses"]["503"]["content"]["application/json"]["schema"] == {
                "$ref": "#/components/schemas/Error"
            }
    body = client.get("/api/forecast/daily/99").json()
    schema = spec["paths"]["/api/forecast/daily/{days}"]["get"]["responses"]["422"]["content"]["application/json"]
    jsonschema.validate(body, {**schema["schema"], "components": spec["components"]})


def test_the_metrics_token_opens_the_forecast_metrics_alone(forecast_settings) -> None:  # type: ignore[no-untyped-def]
    token = "forecast-metrics-" + "t" * 20
    with TestClient(create_app(forecast_settings(auth_disabled=False, metrics_token=token))) as client:
        bearer = {"Authorization": f"Bearer {token}"}
        assert client.get("/metrics", headers=bearer).status_code == 200
        assert client.get("/metrics", headers={"Authorization": f"Bearer {token}x"}).status_code == 401
        assert client.get("/api/forecast/model/info", headers=bearer).status_code == 401  # not a key
