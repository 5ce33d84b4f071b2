"""Staffing advice from forecast volumes with Erlang C (pyworkforce), replacing the seed's `tickets / 15`."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from pyworkforce.queuing import ErlangC

from shared.config import Settings


@dataclass(frozen=True)
class StaffingInputs:
    """The queueing assumptions, echoed in every response so a number can be checked."""

    aht_minutes: float
    service_level: float
    answer_time_seconds: float
    shrinkage: float
    max_occupancy: float
    shift_hours: int

    @classmethod
    def from_settings(cls, settings: Settings) -> StaffingInputs:
        return cls(
            aht_minutes=settings.forecast_aht_minutes,
            service_level=settings.forecast_service_level,
            answer_time_seconds=settings.forecast_answer_time_s,
            shrinkage=settings.forecast_shrinkage,
            max_occupancy=settings.forecast_max_occupancy,
            shift_hours=settings.forecast_shift_hours,
        )

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def erlang_c(contacts: float, *, interval_minutes: float, inputs: StaffingInputs) -> dict[str, float | int]:
    """Agents needed on duty (`agents`) and rostered after shrinkage (`rostered`) for one interval."""
    if contacts <= 0:
        return {"agents": 0, "rostered": 0, "service_level": 1.0, "occupancy": 0.0, "waiting_probability": 0.0}
    queue = ErlangC(
        transactions=contacts,
        aht=inputs.aht_minutes,
        asa=inputs.answer_time_seconds / 60,
        interval=interval_minutes,
        shrinkage=inputs.shrinkage,
    )
    need = queue.required_positions(service_level=inputs.service_level, max_occupancy=inputs.max_occupancy)
    return {
        "agents": int(need["raw_positions"]),
        "rostered": int(need["positions"]),
        "service_level": round(float(need["service_level"]), 4),
        "occupancy": round(float(need["occupancy"]), 4),
        "waiting_probability": round(float(need["waiting_probability"]), 4),
    }


def urgency(tickets: float, *, typical: float, busy: float) -> tuple[str, str]:
    """The seed's urgency level and message, relative to this desk's typical and busy volumes."""
    if tickets > busy:
        return "high", "🔴 High volume - add agents or open overflow"
    if tickets > typical:
        return "medium", "🟡 Moderate volume - standard staffing"
    return "low", "🟢 Low volume - minimal staffing"


def advice(
    hourly_tickets: list[float],
    *,
    inputs: StaffingInputs,
    typical: float,
    busy: float,
    headcount: bool = False,
) -> dict[str, Any]:
    """Staffing for a run of hours (an hour, a shift, a day): the seed's fields plus Erlang C detail.

    Agents must cover the busiest hour, so `recommended_agents` is the peak hourly Erlang C
    requirement (after shrinkage); with `headcount` (a whole day) it is at least the number of
    shifts needed to staff every hour. `typical`/`busy` are volumes for the whole run that
    set the urgency.
    """
    per_hour = [erlang_c(t, interval_minutes=60, inputs=inputs) for t in hourly_tickets]
    total = float(sum(hourly_tickets))
    if not per_hour:
        per_hour = [erlang_c(0, interval_minutes=60, inputs=inputs)]
    peak = max(per_hour, key=lambda r: r["rostered"])
    agent_hours = sum(int(r["rostered"]) for r in per_hour)
    recommended = int(peak["rostered"])
    if headcount:
        recommended = max(recommended, shifts_needed(agent_hours, inputs.shift_hours))
    level, message = urgency(total, typical=typical, busy=busy)
    return {
        "predicted_tickets": round(total, 1),
        "recommended_agents": recommended,
        "peak_agents_on_duty": int(peak["agents"]),
        "agent_hours": agent_hours,
        "tickets_per_agent": round(total / recommended, 1) if recommended else 0.0,
        "expected_service_level": peak["service_level"],
        "expected_occupancy": peak["occupancy"],
        "urgency": level,
        "message": message,
    }


def shifts_needed(agent_hours: int, shift_hours: int) -> int:
    """Whole shifts covering `agent_hours` of staffed time."""
    return math.ceil(agent_hours / shift_hours) if agent_hours else 0
