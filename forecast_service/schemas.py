"""Response shapes of the forecast endpoints (the seed's fields, plus intervals, Erlang C detail and the
model that answered), so managers' tools and the gateway's relayed documentation see typed answers."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from forecast_service.staffing import StaffingInputs

Urgency = Literal["low", "medium", "high"]


class ModelRef(BaseModel):
    """Which model answered and which history it continued."""

    status: Literal["ready", "baseline"]
    version: str
    history_source: str = Field(..., description="database, synthetic, or csv:FILE")
    history_end: str = Field(..., description="last hour of history (UTC, ISO 8601)")
    live: bool = Field(..., description="the history reaches the current hour")


class StaffingAdvice(BaseModel):
    """Erlang C staffing for a run of hours (an hour, a shift, a day), with the seed's fields."""

    predicted_tickets: float
    recommended_agents: int = Field(..., description="rostered agents for the busiest hour, after shrinkage")
    peak_agents_on_duty: int
    agent_hours: int
    tickets_per_agent: float
    expected_service_level: float
    expected_occupancy: float
    urgency: Urgency
    message: str


class HourlyPrediction(BaseModel):
    timestamp: str = Field(..., description="start of the hour (UTC, ISO 8601)")
    predicted_tickets: float
    lower: float = Field(..., description="80% interval")
    upper: float = Field(..., description="80% interval")
    hour_offset: int
    recommended_agents: int


class PeakHour(BaseModel):
    timestamp: str
    predicted_tickets: float


class HourlySummary(BaseModel):
    total_predicted_tickets: float
    avg_per_hour: float
    peak_hour: PeakHour
    recommended_agents: int
    forecast_period_hours: int


class HourlyForecast(BaseModel):
    predictions: list[HourlyPrediction]
    summary: HourlySummary
    staffing_inputs: StaffingInputs
    model: ModelRef


class DailyPrediction(BaseModel):
    date: str = Field(..., description="calendar day (UTC)")
    predicted_tickets: float
    lower: float = Field(..., description="80% interval of the day's total")
    upper: float = Field(..., description="80% interval of the day's total")
    day_offset: int
    staffing: StaffingAdvice


class DailySummary(BaseModel):
    total_predicted_tickets: float
    avg_per_day: float
    peak_day: str
    peak_day_tickets: float


class DailyForecast(BaseModel):
    predictions: list[DailyPrediction]
    summary: DailySummary
    staffing_inputs: StaffingInputs
    model: ModelRef


class NextHourPrediction(BaseModel):
    timestamp: str
    predicted_tickets: float
    lower: float
    upper: float
    staffing: StaffingAdvice


class ShiftPrediction(BaseModel):
    tickets: float
    duration_hours: int
    start: str
    end: str


class CurrentStaffing(BaseModel):
    current_time: str
    next_hour_prediction: NextHourPrediction
    shift_prediction: ShiftPrediction
    staffing: StaffingAdvice = Field(..., description="for the shift starting with the next hour")
    staffing_inputs: StaffingInputs
    model: ModelRef


class ModelInfo(BaseModel):
    """The served model; a trained model adds its training record (source, date range, metrics, versions)."""

    model_config = ConfigDict(extra="allow")

    status: Literal["ready", "baseline"]
    version: str
    model_path: str
    model_type: str
    sequence_length: int
    features: list[str]
    staffing_inputs: StaffingInputs
    retrain: dict[str, Any] = Field(..., description="the last retrain: running, done (with its scores) or failed")
    message: str | None = Field(None, description="set while serving the seasonal-naive baseline")


class TrainAccepted(BaseModel):
    status: Literal["accepted"]
    detail: str
