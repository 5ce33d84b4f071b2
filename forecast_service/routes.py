"""Forecast endpoints (the seed's paths and shapes): reads on `router` (manager), retraining on
`admin_router` (admin), so main.py attaches each role once per router."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

import pandas as pd
from fastapi import APIRouter, Depends, HTTPException, Path, Request, status

from forecast_service import staffing
from forecast_service.schemas import CurrentStaffing, DailyForecast, HourlyForecast, ModelInfo, TrainAccepted
from forecast_service.service import MAX_DAYS, ForecastService, RetrainBusyError, ServedForecast

router = APIRouter(prefix="/api/forecast", tags=["forecast"])
admin_router = APIRouter(prefix="/api/forecast", tags=["forecast"])

MAX_HOURS = 168


def get_service(request: Request) -> ForecastService:
    return request.app.state.forecast


ServiceDep = Annotated[ForecastService, Depends(get_service)]


def _iso(ts: pd.Timestamp) -> str:
    return ts.strftime("%Y-%m-%dT%H:%M:%SZ")


def _num(value: float) -> float:
    return round(float(value), 1)


def _model_ref(service: ForecastService, served: ServedForecast) -> dict[str, Any]:
    """Which model answered and which history it continued (live: it reaches the current hour)."""
    return {
        "status": "baseline" if service.forecaster.is_baseline else "ready",
        "version": service.forecaster.version,
        "history_source": served.history.source,
        "history_end": _iso(served.history.end),
        "live": served.live,
    }


def _upcoming(served: ServedForecast) -> pd.DataFrame:
    """Forecast rows after the current hour (on a live history, row 0 is the hour in progress)."""
    return served.frame.iloc[1:] if served.live else served.frame


@router.get("/hourly/{hours}", response_model=HourlyForecast)
def hourly_forecast(
    service: ServiceDep,
    hours: Annotated[int, Path(ge=1, le=MAX_HOURS, description="Hours ahead, 1-168")],
) -> dict[str, Any]:
    """Per-hour ticket forecasts with 80% intervals and Erlang C agents for the next `hours` hours."""
    served = service.served()
    rows = _upcoming(served).iloc[:hours]
    inputs = service.staffing_inputs
    predictions: list[dict[str, Any]] = []
    # Plain arrays, not iterrows: a pandas Series per row cost ~25 ms of a 168-hour answer.
    columns = zip(rows.index, rows.predicted.to_numpy(), rows.lower.to_numpy(), rows.upper.to_numpy(), strict=True)
    for offset, (ts, predicted, lower, upper) in enumerate(columns, start=1):
        need = staffing.erlang_c(predicted, interval_minutes=60, inputs=inputs)
        predictions.append(
            {
                "timestamp": _iso(ts),
                "predicted_tickets": _num(predicted),
                "lower": _num(lower),
                "upper": _num(upper),
                "hour_offset": offset,
                "recommended_agents": need["rostered"],
            }
        )
    peak_ts = rows.predicted.idxmax()
    total = float(rows.predicted.sum())
    return {
        "predictions": predictions,
        "summary": {
            "total_predicted_tickets": _num(total),
            "avg_per_hour": round(total / hours, 2),
            "peak_hour": {"timestamp": _iso(peak_ts), "predicted_tickets": _num(rows.predicted.max())},
            "recommended_agents": max(p["recommended_agents"] for p in predictions),
            "forecast_period_hours": hours,
        },
        "staffing_inputs": inputs.as_dict(),
        "model": _model_ref(service, served),
    }


@router.get("/daily/{days}", response_model=DailyForecast)
def daily_forecast(
    service: ServiceDep,
    days: Annotated[int, Path(ge=1, le=MAX_DAYS, description="Days ahead, 1-30")],
) -> dict[str, Any]:
    """Per-day totals for the next `days` whole days, each with its staffing advice."""
    served = service.served()
    frame = served.frame
    first_day = frame.index[0].normalize() + pd.Timedelta(days=1)
    predictions = []
    for offset in range(1, days + 1):
        day = first_day + pd.Timedelta(days=offset - 1)
        rows = frame[(frame.index >= day) & (frame.index < day + pd.Timedelta(days=1))]
        advice = staffing.advice(
            rows.predicted.tolist(),
            inputs=service.staffing_inputs,
            typical=served.typical_day,
            busy=served.busy_day,
            headcount=True,
        )
        day_total = served.daily.loc[day]
        predictions.append(
            {
                "date": day.date().isoformat(),
                "predicted_tickets": _num(day_total.predicted),
                "lower": _num(day_total.lower),
                "upper": _num(day_total.upper),
                "day_offset": offset,
                "staffing": advice,
            }
        )
    peak = max(predictions, key=lambda p: p["predicted_tickets"])
    total = sum(p["predicted_tickets"] for p in predictions)
    return {
        "predictions": predictions,
        "summary": {
            "total_predicted_tickets": _num(total),
            "avg_per_day": round(total / days, 1),
            "peak_day": peak["date"],
            "peak_day_tickets": peak["predicted_tickets"],
        },
        "staffing_inputs": service.staffing_inputs.as_dict(),
        "model": _model_ref(service, served),
    }


@router.get("/staffing/current", response_model=CurrentStaffing)
def current_staffing(service: ServiceDep) -> dict[str, Any]:
    """Next hour's forecast and Erlang C staffing for it and for the shift starting then."""
    served = service.served()
    upcoming = _upcoming(served)
    inputs = service.staffing_inputs
    next_hour = upcoming.iloc[0]
    shift = upcoming.iloc[: inputs.shift_hours]
    shift_advice = staffing.advice(
        shift.predicted.tolist(),
        inputs=inputs,
        typical=served.typical_hour * len(shift),
        busy=served.busy_hour * len(shift),
    )
    hour_advice = staffing.advice(
        [float(next_hour.predicted)], inputs=inputs, typical=served.typical_hour, busy=served.busy_hour
    )
    return {
        "current_time": _iso(served.frame.index[0]),
        "next_hour_prediction": {
            "timestamp": _iso(upcoming.index[0]),
            "predicted_tickets": _num(next_hour.predicted),
            "lower": _num(next_hour.lower),
            "upper": _num(next_hour.upper),
            "staffing": hour_advice,
        },
        "shift_prediction": {
            "tickets": _num(shift.predicted.sum()),
            "duration_hours": inputs.shift_hours,
            "start": _iso(shift.index[0]),
            "end": _iso(shift.index[-1] + pd.Timedelta(hours=1)),
        },
        "staffing": shift_advice,
        "staffing_inputs": inputs.as_dict(),
        "model": _model_ref(service, served),
    }


@router.get("/model/info", response_model=ModelInfo, response_model_exclude_unset=True)
def model_info(service: ServiceDep) -> dict[str, Any]:
    """Model status (`ready` or `baseline`), training source and date range, validation metrics."""
    return service.info()


@admin_router.post(
    "/train",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=TrainAccepted,
    responses={409: {"description": "A retrain is already running; see GET /api/forecast/model/info"}},
)
async def train(service: ServiceDep, request: Request) -> dict[str, Any]:
    """Start a background retrain; the new model is served only if its backtest is no worse."""
    if service.retrain_state.get("state") == "running":
        raise HTTPException(status.HTTP_409_CONFLICT, detail="a retrain is already running")
    tasks: set[asyncio.Task[Any]] = request.app.state.background_tasks

    async def run() -> None:
        try:
            await asyncio.to_thread(service.retrain)
        except RetrainBusyError:
            pass
        except Exception:  # recorded in retrain_state and logged by the service
            pass

    service.retrain_state = {"state": "running"}
    task = asyncio.create_task(run())
    tasks.add(task)
    task.add_done_callback(tasks.discard)
    return {"status": "accepted", "detail": "retraining in the background; see GET /api/forecast/model/info"}
