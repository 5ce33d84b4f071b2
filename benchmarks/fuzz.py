"""Fuzz the gateway's OpenAPI with schemathesis: no 5xx, no schema violation (`make fuzz`).

Then the forecast service's OpenAPI, sent to the gateway, which relays /api/forecast/* to a real
forecast service: the relayed answers must match the forecast service's own document.

Starts the real gateway (uvicorn, auth ON, an admin key) on a free port over a fresh PostgreSQL
database (`copilot_fuzz`; `--database sqlite` for a SQLite file) and a private Redis database,
runs `schemathesis run` with every check, then prints a table and writes
benchmarks/results/fuzz.json (generated cases, failures by check and operation).
A real rag_worker (queues `draft`, `kb`) runs beside it, so KB search and indexing answer as in
production; no classifier runs, so tickets stay queued (the API is what is fuzzed) and `?wait=` is
capped at 1 s (MAX_WAIT_S) so long-polls do not eat the time budget.

    python benchmarks/fuzz.py [--max-examples 25] [--seed 1] [--database postgresql] [--include-path-regex webhook]
                              [--max-time 1800] [--forecast-max-time 300]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import redis

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
REDIS_BASE = os.environ.get("FUZZ_REDIS_BASE", "redis://127.0.0.1:6379")
PG_ADMIN = os.environ.get("FUZZ_PG_ADMIN_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")
CONFIG = Path(__file__).resolve().parent / "schemathesis.toml"  # which statuses count as a rejection

from benchmarks.support import free_port, fresh_database, start_worker, stop_group, write_results  # noqa: E402


def claim_redis_db(tag: str) -> int:
    """DB 15 unless a test session holds it (same lock keys as tests/conftest.py)."""
    client = redis.Redis.from_url(f"{REDIS_BASE}/0")
    for number in range(15, 0, -1):
        if client.set(f"copilot-test-lock:{number}", tag, nx=True, ex=3600):
            return number
    raise SystemExit("no free Redis database (1-15) for the fuzz run")


def release_redis_db(number: int, tag: str) -> None:
    redis.Redis.from_url(f"{REDIS_BASE}/{number}").flushdb()
    client = redis.Redis.from_url(f"{REDIS_BASE}/0")
    if client.get(f"copilot-test-lock:{number}") == tag.encode():
        client.delete(f"copilot-test-lock:{number}")


def prepare_database(url: str) -> str:
    """Migrate a fresh database and return an admin key for it."""
    from sqlalchemy.orm import Session

    from shared.auth import Role, create_key
    from shared.db import make_engine, run_migrations

    run_migrations(url)
    engine = make_engine(url)
    with Session(engine) as session:
        key = create_key(session, name="fuzz", role=Role.admin)[1]
    engine.dispose()
    return key


def wait_ready(base: str, proc: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"gateway exited early (code {proc.returncode})")
        try:
            if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise SystemExit("gateway did not start in time")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--max-examples", type=int, default=25, help="examples per operation and phase")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--workers", default="1")
    parser.add_argument("--max-time", type=int, default=1800, help="seconds for the gateway's schemathesis run")
    # schemathesis generates until the time cap, not until max-examples: the 5 relayed operations need less
    parser.add_argument("--forecast-max-time", type=int, default=300, help="seconds for the relayed forecast run")
    parser.add_argument("--database", choices=("postgresql", "sqlite"), default="postgresql")
    parser.add_argument("--include-path-regex", help="fuzz only the paths matching this (a targeted re-run)")
    args = parser.parse_args()
    # A plain `kill` must still stop the gateway and worker it started (the finally below).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    tag = f"fuzz-{os.getpid()}-{uuid.uuid4().hex[:6]}"
    redis_db = claim_redis_db(tag)
    tmp = Path(tempfile.mkdtemp(prefix="copilot-fuzz-"))
    db_url = fresh_database(args.database, tmp, "copilot_fuzz", PG_ADMIN)
    port, forecast_port = free_port(), free_port()
    base = f"http://127.0.0.1:{port}"
    forecast_base = f"http://127.0.0.1:{forecast_port}"
    env = {
        **os.environ,
        "DATABASE_URL": db_url,
        "REDIS_URL": f"{REDIS_BASE}/{redis_db}",
        "AUTH_DISABLED": "false",
        "CHROMA_PATH": str(tmp / "chroma"),
        "RATE_LIMIT_PER_KEY": "1000000",
        "RATE_LIMIT_PER_WEBHOOK_SOURCE": "1000000",
        "RATE_LIMIT_PER_CUSTOMER_LINK": "1000000",
        "KB_TASK_TIMEOUT_S": "10",
        "MAX_WAIT_S": "1",
        "LOG_LEVEL": "WARNING",
        "FORECAST_URL": forecast_base,
        "FORECAST_RETRAIN_HOUR": "",
        # the customer's pages answer past their "links not in use" 404: token parsing and forms are fuzzed
        "CUSTOMER_LINK_URL": base,
        "CUSTOMER_LINK_SECRET": "fuzz-link-key",
    }
    env.pop("ZENDESK_WEBHOOK_SECRET", None)
    env.pop("INTERCOM_CLIENT_SECRET", None)
    server = None
    worker = None
    forecast = None
    try:
        key = prepare_database(db_url)
        server_log = open(tmp / "gateway.log", "wb")  # noqa: SIM115
        server = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "gateway.main:app", "--host", "127.0.0.1", "--port", str(port)],
            cwd=ROOT,
            env=env,
            stdout=server_log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        wait_ready(base, server)
        worker = start_worker(
            "rag_worker.worker", "draft,kb", name=f"fuzz-{tag}@%h", env=env, log_path=tmp / "rag_worker.log"
        )
        forecast_log = open(tmp / "forecast_service.log", "wb")  # noqa: SIM115
        forecast = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "forecast_service.main:app", "--host", "127.0.0.1",
             "--port", str(forecast_port)],
            # its own model folder: a fuzzed POST /train must not replace the model `make run` serves
            cwd=ROOT, env={**env, "MODEL_DIR": str(tmp / "models")}, stdout=forecast_log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
        wait_ready(forecast_base, forecast)

        def schemathesis(schema: str, report: Path, max_time: int, *target: str) -> list[str]:
            """One `schemathesis run`: the same checks, key, seed and examples for both phases."""
            cmd = [
                str(SCHEMATHESIS), "--config-file", str(CONFIG), "run", schema, *target,
                "--checks", "all",
                "-H", f"Authorization: Bearer {key}",
                "--max-examples", str(args.max_examples),
                "--seed", str(args.seed),
                "--workers", args.workers,
                "--max-time", str(max_time),
                "--continue-on-failure",
                "--report", "ndjson", "--report-ndjson-path", str(report),
                "--request-timeout", "40",
                # ?wait=N long-polls up to 30 s by design (no worker runs here)
                "--max-response-time", "35",
            ]  # fmt: skip
            if args.include_path_regex:
                cmd += ["--include-path-regex", args.include_path_regex]
            return cmd

        started = time.monotonic()
        # The gateway's document lists the relayed paths too; the second run, on its own budget, covers them.
        gateway_cmd = schemathesis(
            f"{base}/openapi.json", tmp / "events.ndjson", args.max_time, "--exclude-path-regex", "^/api/forecast/"
        )
        run = subprocess.run(gateway_cmd, cwd=tmp, env=env, capture_output=True, text=True)  # cache stays in tmp
        # The forecast service's own document, sent to the gateway's address (`--url`): the relay's answers.
        (tmp / "forecast_openapi.json").write_bytes(httpx.get(f"{forecast_base}/openapi.json").content)
        relayed_cmd = schemathesis(
            str(tmp / "forecast_openapi.json"), tmp / "forecast_events.ndjson", args.forecast_max_time, "--url", base
        )
        relayed = subprocess.run(relayed_cmd, cwd=tmp, env=env, capture_output=True, text=True)
        elapsed = time.monotonic() - started
        result = merge_results(parse_events(tmp / "events.ndjson"), parse_events(tmp / "forecast_events.ndjson"))
        result.update(
            {
                "exit_code": max(run.returncode, relayed.returncode),
                "seconds": round(elapsed, 1),
                "max_examples": args.max_examples,
                "seed": args.seed,
                "database": args.database,
                "include_path_regex": args.include_path_regex,
                "output_tail": run.stdout[-4000:] + relayed.stdout[-2000:],
                "server_errors_logged": sum(
                    (tmp / log).read_text(errors="replace").count("Traceback")
                    for log in ("gateway.log", "forecast_service.log")
                ),
            }
        )
    finally:
        for proc in (server, worker, forecast):
            if proc is not None:
                stop_group(proc)
        release_redis_db(redis_db, tag)

    out = write_results("fuzz", result)
    print(f"schemathesis: {result['cases']} generated cases over {len(result['operations'])} operations "
          f"in {result['seconds']}s (seed {args.seed}, max {args.max_examples} examples/operation)")  # fmt: skip
    print(f"{'check':<38} {'operation':<48} {'status':>6}  count")
    for row in result["failures"]:
        print(f"{row['check']:<38} {row['operation']:<48} {row['status']!s:>6}  {row['count']}")
        print(f"    e.g. {row['example']}")
    if not result["failures"]:
        print("no failures: no 5xx, no schema violation")
    for row in result["waived"]:
        print(f"waived: {row['check']} on {row['operation']} ({row['count']}): {row['reason']}")
    print(f"gateway and forecast service tracebacks logged: {result['server_errors_logged']}; "
          f"results in {out}")  # fmt: skip
    return 0 if not result["failures"] else 1


def parse_events(path: Path) -> dict[str, Any]:
    """Cases and failures from schemathesis' NDJSON event stream."""
    cases = 0
    operations: set[str] = set()
    failures: Counter[tuple[str, str, Any]] = Counter()
    examples: dict[tuple[str, str, Any], Any] = {}
    if not path.exists():
        return {"cases": 0, "operations": [], "failures": [], "waived": []}
    with path.open() as stream:  # the stream runs to tens of MB
        for line in stream:
            body = json.loads(line).get("ScenarioFinished")
            if not isinstance(body, dict):
                continue
            recorder = body.get("recorder") or {}
            label = recorder.get("label") or ""
            if label:
                operations.add(label)
            cases_map = recorder.get("cases") or {}
            cases += len(cases_map)
            for case_id, check_list in (recorder.get("checks") or {}).items():
                for check in check_list:
                    if check.get("status") not in ("failure", "FAILURE"):
                        continue
                    # the response is recorded with the case's interaction, not with the check
                    response = ((recorder.get("interactions") or {}).get(case_id) or {}).get("response") or {}
                    key = (check.get("name", "?"), label, response.get("status_code"))
                    failures[key] += 1
                    case = (cases_map.get(case_id) or {}).get("value") or {}
                    examples.setdefault(key, {"query": case.get("query"), "body": case.get("body")})
    rows = [
        {"check": c, "operation": o, "status": s, "count": n, "example": json.dumps(examples.get((c, o, s)))[:500]}
        for (c, o, s), n in sorted(failures.items(), key=str)
    ]
    waived = [r for r in rows if (r["check"], r["operation"]) in WAIVED]
    return {
        "cases": cases,
        "operations": sorted(operations),
        "failures": [r for r in rows if r not in waived],
        "waived": [{**r, "reason": WAIVED[(r["check"], r["operation"])]} for r in waived],
    }


def merge_results(*parts: dict[str, Any]) -> dict[str, Any]:
    """One result over several schemathesis runs (their operations do not overlap)."""
    return {
        "cases": sum(p["cases"] for p in parts),
        "operations": sorted(op for p in parts for op in p["operations"]),
        "failures": [row for p in parts for row in p["failures"]],
        "waived": [row for p in parts for row in p["waived"]],
    }


# (check, operation) -> why a failure there is accepted. Empty: the webhook bodies used to be waived here;
# their documented shapes are now the models that validate them (gateway.webhook_bodies).
WAIVED: dict[tuple[str, str], str] = {}

if __name__ == "__main__":
    sys.exit(main())
