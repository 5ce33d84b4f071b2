"""`GET /metrics` of the forecast service: the served model and the HTTP requests, for Prometheus.

What a manager's dashboard cannot see from the forecasts themselves: that the service fell back to the
seasonal-naive baseline, how old the model and the history it learnt from are, and how the last retrain went.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from prometheus_client.core import GaugeMetricFamily, Metric

from forecast_service.routes import ServiceDep
from shared.fastapi_auth import RequireMetricsReader
from shared.fastapi_metrics import PREFIX, RESPONSES, encode

router = APIRouter(tags=["metrics"])

RETRAIN_STATES = ("idle", "running", "done", "failed")
TIMES = {
    "trained_at": ("forecast_model_trained_timestamp_seconds", "When the served model was trained (Unix time)"),
    "data_end": ("forecast_history_end_timestamp_seconds", "The last hour of history the served model learnt from"),
}


def model_families(info: dict[str, Any]) -> list[Metric]:
    """The served model's state from `ForecastService.info()`; a baseline has no training times."""
    families: list[Metric] = [
        GaugeMetricFamily(PREFIX + "forecast_model_ready", "1 when a trained model is served, 0 while the "
                          "seasonal-naive baseline is", value=float(info["status"] == "ready")),
    ]  # fmt: skip
    for key, (name, doc) in TIMES.items():
        if info.get(key):
            at = datetime.fromisoformat(info[key])
            families.append(GaugeMetricFamily(PREFIX + name, doc, value=at.timestamp()))
    retrain = GaugeMetricFamily(PREFIX + "forecast_retrain", "1 for the last retrain's state", labels=["state"])
    for state in RETRAIN_STATES:
        retrain.add_metric([state], float(info["retrain"].get("state") == state))
    families.append(retrain)
    return families


@router.get(
    "/metrics",
    dependencies=[Depends(RequireMetricsReader())],
    response_class=Response,
    responses=RESPONSES,
)
def metrics(request: Request, service: ServiceDep) -> Response:
    """The served model (trained or the baseline, its training and history's end, the last retrain) and the
    HTTP requests answered. Any key may read them (a `monitor` key may read nothing else), or METRICS_TOKEN."""
    body, content_type = encode(model_families(service.info()), request.headers.get("accept"))
    return Response(body, media_type=content_type)
