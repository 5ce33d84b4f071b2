"""Erlang C staffing against a published vector, and the seed's advice fields."""

from __future__ import annotations

import pytest

from forecast_service.staffing import StaffingInputs, advice, erlang_c, shifts_needed

# pyworkforce's documented example (also the classic lucidmanager worked example).
VECTOR = StaffingInputs(
    aht_minutes=3, service_level=0.8, answer_time_seconds=20, shrinkage=0.3, max_occupancy=0.85, shift_hours=8
)


def test_erlang_c_matches_published_vector() -> None:
    need = erlang_c(100, interval_minutes=30, inputs=VECTOR)
    assert need["agents"] == 14
    assert need["rostered"] == 20
    assert need["service_level"] == pytest.approx(0.888, abs=5e-4)


def test_no_contacts_need_no_agents() -> None:
    assert erlang_c(0, interval_minutes=60, inputs=VECTOR)["rostered"] == 0


def test_max_occupancy_caps_how_busy_agents_get() -> None:
    loose = StaffingInputs(**{**VECTOR.as_dict(), "max_occupancy": 1.0})
    tight = StaffingInputs(**{**VECTOR.as_dict(), "max_occupancy": 0.5})
    assert (
        erlang_c(400, interval_minutes=60, inputs=tight)["agents"]
        > erlang_c(400, interval_minutes=60, inputs=loose)["agents"]
    )
    assert erlang_c(400, interval_minutes=60, inputs=tight)["occupancy"] <= 0.5


def test_advice_covers_the_peak_hour_and_keeps_the_seed_fields() -> None:
    hours = [10.0, 200.0, 30.0]
    result = advice(hours, inputs=VECTOR, typical=100, busy=200)
    peak = erlang_c(200, interval_minutes=60, inputs=VECTOR)
    assert result["recommended_agents"] == peak["rostered"]
    assert result["predicted_tickets"] == 240.0
    assert result["tickets_per_agent"] == round(240 / peak["rostered"], 1)
    assert (result["urgency"], result["message"][0]) == ("high", "🔴")
    assert advice([1.0], inputs=VECTOR, typical=100, busy=200)["urgency"] == "low"


def test_day_headcount_is_at_least_the_shifts_needed() -> None:
    day = [40.0] * 24
    result = advice(day, inputs=VECTOR, typical=1, busy=2, headcount=True)
    assert result["recommended_agents"] == shifts_needed(result["agent_hours"], 8)
    assert result["recommended_agents"] > erlang_c(40, interval_minutes=60, inputs=VECTOR)["rostered"]
