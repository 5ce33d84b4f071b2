"""A burst of alerts into a webhook that takes one message a second (as Slack's incoming webhooks do): how long
until every alert has arrived, and in how many POSTs, sending each alone (ALERT_BATCH_MAX=1) or as digests.

Real processes on PostgreSQL (a fresh `copilot_bench_alert_burst` database) and Redis DB 12: one alert worker
(`-c 1`) and a local receiver that answers 429 with `Retry-After: 1` to a POST within a second of the last one it
took. `--alerts` critical alerts are raised at once (an outage's burst) and their tasks sent; the clock runs
from the first task sent to the last alert delivered.

    python benchmarks/alert_burst.py [--alerts 30] [--batches 1,10,40]

Prints a table and writes benchmarks/results/alert_burst.json.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

import redis
import sqlalchemy as sa
from sqlalchemy.orm import sessionmaker

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.ingest import PG_ADMIN, REDIS_URL  # noqa: E402

os.environ["REDIS_URL"] = REDIS_URL  # the tasks this process sends go to the worker's Redis, not the default's
from benchmarks.support import fresh_database, print_table, start_worker, stop_group, write_results  # noqa: E402
from shared.alerts import raise_alert, send_alert  # noqa: E402
from shared.config import Settings  # noqa: E402
from shared.db import run_migrations, session_scope  # noqa: E402
from shared.models import Ticket  # noqa: E402
from tests.alert_receiver import AlertReceiver, Received  # noqa: E402
from tests.legacy_rows import insert_customer, insert_ticket  # noqa: E402


class OnePerSecond:
    """A webhook's rate limit: one POST a second taken, any other answered 429 with `Retry-After: 1`."""

    def __init__(self) -> None:
        self.taken: list[dict[str, object]] = []
        self.refused = 0
        self.last = 0.0
        self.lock = threading.Lock()

    def __call__(self, got: Received) -> tuple[int, dict[str, str]]:
        with self.lock:
            now = time.monotonic()
            if now - self.last < 1.0:
                self.refused += 1
                return 429, {"retry-after": "1"}
            self.last = now
            self.taken.append(json.loads(got.body))
            return 200, {}


def raise_burst(url: str, n: int, settings: Settings) -> list[str]:
    """`n` tickets rated critical and their alerts, committed, as the classifier leaves them."""
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text("TRUNCATE tickets, customers, alerts CASCADE"))
        insert_customer(conn)
        for i in range(n):
            insert_ticket(conn, f"TKT-B{i:04d}")
        conn.execute(sa.text("UPDATE tickets SET ai_suggested_priority = 'critical', subject = 'Site down'"))
    ids = []
    factory = sessionmaker(engine)
    for i in range(n):
        with session_scope(factory) as session:
            alert_id = raise_alert(session, session.get(Ticket, f"TKT-B{i:04d}"), settings)  # type: ignore[arg-type]
            assert alert_id is not None
            ids.append(alert_id)
    engine.dispose()
    return ids


def run(url: str, batch: int, n: int, tmp: Path) -> dict[str, object]:
    limit = OnePerSecond()
    webhook = AlertReceiver(policy=limit)
    settings = Settings(database_url=url, alert_webhook_url=webhook.url)
    ids = raise_burst(url, n, settings)
    env = {**os.environ, "DATABASE_URL": url, "REDIS_URL": REDIS_URL, "ALERT_WEBHOOK_URL": webhook.url,
           "ALERT_BATCH_MAX": str(batch), "LOG_LEVEL": "WARNING"}  # fmt: skip
    with webhook.running():
        worker = start_worker(
            "classifier_worker.alert_worker", "alerts", name=f"burst{batch}@bench", env=env,
            log_path=tmp / f"burst{batch}.log",
        )  # fmt: skip
        engine = sa.create_engine(url)
        try:
            started = time.monotonic()
            for alert_id in ids:
                send_alert(alert_id)
            deadline = started + 900
            while time.monotonic() < deadline:
                with engine.connect() as conn:
                    left = conn.execute(sa.text("SELECT count(*) FROM alerts WHERE delivered_at IS NULL")).scalar_one()
                if left == 0:
                    break
                time.sleep(0.2)
            elapsed = time.monotonic() - started
            time.sleep(2)  # time for a duplicate to arrive
            with engine.connect() as conn:
                failed = conn.execute(sa.text("SELECT count(*) FROM alerts WHERE failed_at IS NOT NULL")).scalar_one()
                attempts = conn.execute(sa.text("SELECT avg(attempts) FROM alerts")).scalar_one()
        finally:
            engine.dispose()
            stop_group(worker)
    arrived = [a["id"] for body in limit.taken for a in body.get("alerts", [body])]
    return {
        "alert_batch_max": batch,
        "alerts": n,
        "all_delivered_s": round(elapsed, 1) if left == 0 else None,
        "posts_taken": len(limit.taken),
        "refused_429": limit.refused,
        "arrived": len(set(arrived)),
        "duplicates": len(arrived) - len(set(arrived)),
        "failed": failed,
        "mean_attempts": float(attempts or 0),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--alerts", type=int, default=30)
    parser.add_argument("--batches", default="1,10,40", help="ALERT_BATCH_MAX values, comma-separated")
    args = parser.parse_args()
    redis.Redis.from_url(REDIS_URL).flushdb()
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        url = fresh_database("postgresql", Path(tmp), "copilot_bench_alert_burst", PG_ADMIN)
        run_migrations(url)
        for batch in (int(b) for b in args.batches.split(",")):
            results.append(run(url, batch, args.alerts, Path(tmp)))
    keys = list(results[0])
    print_table(keys, [[r[k] if r[k] is not None else "-" for k in keys] for r in results])
    print(f"wrote {write_results('alert_burst', {'args': vars(args), 'results': results})}")


if __name__ == "__main__":
    main()
