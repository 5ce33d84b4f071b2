"""What a Prometheus scrape costs on a large history (`GET /metrics`).

Fills a fresh SQLite file and a fresh PostgreSQL database (`copilot_bench_metrics`) as `queue_reads.py` does (N
tickets over a year), then times a whole scrape through the gateway in process (the overview's counts, the
Celery queues' lengths and the workers' task runs from the local Redis, the text encoding), and its parts alone:
the counts, and the encoding of counts already read (with ten tasks' runs). Then what a worker pays for each task
run it records (`shared.task_metrics`: a round trip to Redis at its start and one at its end), its fields
removed afterwards. Prints a table and writes benchmarks/results/metrics.json.

    python benchmarks/metrics.py [--tickets 200000] [--runs 30] [--backends sqlite,postgresql]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from functools import partial
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy.orm import sessionmaker

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.queue_reads import filled_database  # noqa: E402
from benchmarks.support import print_table, write_results  # noqa: E402
from gateway.main import create_app  # noqa: E402
from gateway.services.metrics import RedisFigures, families, read_overview  # noqa: E402
from shared import task_metrics  # noqa: E402
from shared.celery import make_celery  # noqa: E402
from shared.config import Settings  # noqa: E402
from shared.db import make_engine  # noqa: E402
from shared.fastapi_metrics import encode  # noqa: E402


def _timed(call: Any, runs: int) -> tuple[float, float]:
    """p50 and max milliseconds of `call()` over `runs` calls (after one warm-up)."""
    call()
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        call()
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples), max(samples)


def _recording(runs: int) -> tuple[float, float]:
    """A task run's start and end as a worker records them, against the configured Redis (its fields removed)."""
    app = make_celery("bench-metrics", Settings())

    @app.task(name="benchmarks.metrics.noop")
    def noop() -> None:
        return None

    ids = iter(range(10**9))

    def run() -> None:
        task_id = f"bench-{next(ids)}"
        task_metrics._on_prerun(sender=noop, task_id=task_id)
        task_metrics._on_postrun(sender=noop, task_id=task_id, state="SUCCESS")

    try:
        return _timed(run, runs * 10)
    finally:
        client = task_metrics._client(app.conf.broker_url)
        fields = [f for f in client.hkeys(task_metrics.KEY) if f.endswith(b"|" + noop.name.encode())]
        if fields:
            client.hdel(task_metrics.KEY, *fields)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tickets", type=int, default=200_000)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--backends", default="sqlite,postgresql")
    args = parser.parse_args()

    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        for backend in args.backends.split(","):
            url = filled_database(backend, Path(tmp), "copilot_bench_metrics", args.tickets)
            settings = Settings(database_url=url, auth_disabled=True)
            engine = make_engine(url)
            factory = sessionmaker(bind=engine, expire_on_commit=False)
            overview = read_overview(factory, settings.targets)
            assert overview is not None and overview.total == args.tickets
            runs = task_metrics.TaskFigures(
                starts={f"task.{i}": 1000 for i in range(10)},
                ends={(f"task.{i}", state): 300 for i in range(10) for state in ("success", "retry", "failure")},
                seconds={f"task.{i}": 250.0 for i in range(10)},
                buckets={f"task.{i}": {bound: 75 for bound in task_metrics.BUCKETS} for i in range(10)},
            )
            sweeper = {"passes": 1000.0, "last_pass": time.time(), "tickets": 3.0, "closed": 250.0}
            queues = RedisFigures({"classify": 0}, 0, runs, {"classify": 2, "draft": 1}, sweeper)

            def scrape(client: TestClient) -> None:
                response = client.get("/metrics")
                assert response.status_code == 200, response.text
                assert 'support_copilot_up{component="redis"} 1.0' in response.text, "Redis did not answer"

            with TestClient(create_app(settings, sweeper=False)) as client:
                calls = {
                    "GET /metrics (a whole scrape)": partial(scrape, client),
                    "  its counts (the overview)": partial(read_overview, factory, settings.targets),
                    "  its encoding": partial(encode, families(overview, queues), None),
                }
                for name, call in calls.items():
                    p50, worst = _timed(call, args.runs)
                    rows.append({"backend": backend, "tickets": args.tickets, "call": name, "p50_ms": p50,
                                 "max_ms": worst})  # fmt: skip
            engine.dispose()

    rows.append({"backend": "redis", "tickets": 0, "call": "a task run's recording (worker side)",
                 **dict(zip(("p50_ms", "max_ms"), _recording(args.runs), strict=True))})  # fmt: skip
    print_table(
        ["backend", "tickets", "call", "p50 ms", "max ms"],
        [[r["backend"], r["tickets"], r["call"], r["p50_ms"], r["max_ms"]] for r in rows],
        floats=".2f",
    )
    print(f"wrote {write_results('metrics', {'benchmark': 'metrics', 'rows': rows})}")


if __name__ == "__main__":
    main()
