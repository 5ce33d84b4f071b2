"""benchmarks/fuzz.py reads schemathesis' event stream right: cases, operations, failures with status and example."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _fuzz():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("fuzz", ROOT / "benchmarks" / "fuzz.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _scenario(label: str, checks: dict, statuses: dict) -> dict:
    return {
        "ScenarioFinished": {
            "recorder": {
                "label": label,
                "cases": {cid: {"value": {"body": {"case": cid}, "query": None}} for cid in checks},
                "checks": checks,
                "interactions": {cid: {"response": {"status_code": code}} for cid, code in statuses.items()},
            }
        }
    }


def test_parse_events_counts_cases_and_reports_failures_with_status_and_example(tmp_path: Path) -> None:
    ok = {"name": "not_a_server_error", "status": "success"}
    bad = {"name": "positive_data_acceptance", "status": "failure", "failure_info": {"failure": {"code": "ST202"}}}
    events = [
        {"Initialized": {}},
        _scenario("POST /api/tickets/webhook/zendesk", {"a": [ok], "b": [ok]}, {"a": 201, "b": 422}),
        _scenario("POST /api/tickets/webhook/intercom", {"c": [ok, bad], "d": [bad]}, {"c": 422, "d": 422}),
    ]
    path = tmp_path / "events.ndjson"
    path.write_text("\n".join(json.dumps(e) for e in events) + "\n")
    result = _fuzz().parse_events(path)
    assert result["cases"] == 4
    assert result["operations"] == ["POST /api/tickets/webhook/intercom", "POST /api/tickets/webhook/zendesk"]
    [row] = result["failures"]
    assert (row["check"], row["operation"], row["status"], row["count"]) == (
        "positive_data_acceptance",
        "POST /api/tickets/webhook/intercom",
        422,
        2,
    )
    assert json.loads(row["example"])["body"] == {"case": "c"}


def test_no_check_is_waived() -> None:
    """The webhook bodies' checks used to be waived; their documented shapes now validate them."""
    assert _fuzz().WAIVED == {}
