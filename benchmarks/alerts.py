"""Alerts end to end: how long after a ticket is posted the team's webhook hears of it, and that every ticket
the AI rates critical is alerted exactly once, with the webhook healthy and with it failing for a while.

Real processes on PostgreSQL (a fresh `copilot_bench_alerts` database) and Redis DB 12: a gateway (uvicorn),
a classifier worker and an alert worker, and a local HTTP receiver standing in for the webhook. Tickets are
posted one every `--interval` s, a critical one in every `--critical-every` (the rest ordinary questions);
which tickets are critical is read afterwards from what the classifier stored, so the check is "one alert
per ticket the AI rated critical, none for the others", not an assumption about the classifier.

    python benchmarks/alerts.py [--tickets 60] [--interval 0.25] [--failures 24]

Latency is from just before the ticket's POST to the alert's arrival (both on this machine's clock).
"failing": the webhook answers 503 to the first `--failures` deliveries, so alerts back off and retry.
Prints a table and writes benchmarks/results/alerts.json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx
import redis
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.ingest import PG_ADMIN, REDIS_URL, start_gateway  # noqa: E402
from benchmarks.support import (  # noqa: E402
    free_port,
    fresh_database,
    print_table,
    start_worker,
    stop_group,
    write_results,
)
from shared.db import run_migrations  # noqa: E402
from shared.outbox import verify  # noqa: E402
from tests.alert_receiver import AlertReceiver, Received  # noqa: E402

SECRET = "bench-alert-secret"
CRITICAL = [
    ("Site down", "Your service is down for everyone in our company, nobody can work."),
    ("Fraud on my card", "There is an unauthorized charge on my card, this is fraud."),
    ("Account hacked", "My account was hacked and the email address was changed."),
    ("Lawyer", "If this isn't fixed today I will contact my lawyer."),
    ("Charger fire", "The charger you sold me caught fire last night."),
]
ORDINARY = [
    ("Opening hours", "Hello, what are your opening hours on Saturday?"),
    ("Change address", "Can I change the delivery address of my order 55123?"),
    ("Invoice copy", "Could you send me a copy of my last invoice please?"),
    ("Size exchange", "The shoes are a size too small, how do I exchange them?"),
    ("Newsletter", "Please take me off the newsletter list."),
]


def answered_ok(receiver: AlertReceiver, failures: int) -> list[Received]:
    """The requests the receiver answered 200: those after its scripted 503s (one alert worker process, so
    requests arrive one at a time, in order)."""
    return receiver.received[failures - len(receiver.script) :]


def run(name: str, args: argparse.Namespace, url: str, port: int, receiver: AlertReceiver) -> dict[str, object]:
    """Post the tickets, wait for every alert due, and compare what arrived with what the classifier stored."""
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text("TRUNCATE tickets, customers, alerts CASCADE"))
    receiver.received.clear()
    failures = args.failures if name == "failing" else 0
    receiver.script = [(503, {})] * failures
    posted: dict[str, float] = {}
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
        for n in range(args.tickets):
            subject, text = (CRITICAL if n % args.critical_every == 0 else ORDINARY)[n % 5]
            started = time.time()
            body = {"customer_email": f"c{n}@example.com", "subject": subject, "description": text}
            response = client.post("/api/tickets/create", json=body)
            response.raise_for_status()
            posted[response.json()["ticket"]["ticket_id"]] = started
            time.sleep(args.interval)

    def ratings() -> dict[str, str | None]:
        with engine.connect() as conn:
            rows = conn.execute(sa.text("SELECT ticket_id, ai_suggested_priority FROM tickets"))
            return {ticket_id: priority for ticket_id, priority in rows}

    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        rated = ratings()
        critical = {t for t, p in rated.items() if p == "critical"}
        delivered = {json.loads(r.body)["ticket"]["ticket_id"] for r in answered_ok(receiver, failures)}
        with engine.connect() as conn:
            undelivered = conn.execute(sa.text("SELECT count(*) FROM alerts WHERE delivered_at IS NULL")).scalar_one()
        if all(rated.values()) and undelivered == 0 and critical <= delivered:
            break
        time.sleep(0.5)
    time.sleep(2)  # time for a duplicate or a wrong alert to arrive
    rated = ratings()
    critical = {t for t, p in rated.items() if p == "critical"}
    with engine.connect() as conn:
        attempts = [a for (a,) in conn.execute(sa.text("SELECT attempts FROM alerts WHERE delivered_at IS NOT NULL"))]
    engine.dispose()

    first_ok: dict[str, float] = {}
    arrivals: dict[str, int] = {}
    signed = all(
        verify(SECRET, got.headers.get("x-copilot-signature", ""), got.body, now=int(got.at))
        for got in receiver.received
    )
    for got in answered_ok(receiver, failures):
        ticket_id = json.loads(got.body)["ticket"]["ticket_id"]
        arrivals[ticket_id] = arrivals.get(ticket_id, 0) + 1
        first_ok.setdefault(ticket_id, got.at)
    latencies = sorted(first_ok[t] - posted[t] for t in first_ok if t in posted)
    return {
        "scenario": name,
        "tickets": len(posted),
        "ai_critical": len(critical),
        "delivered": len(set(arrivals) & critical),
        "missing": len(critical - set(arrivals)),
        "unexpected": len(set(arrivals) - critical),
        "duplicates": sum(n - 1 for n in arrivals.values()),
        "all_signed": signed,
        "p50_s": statistics.median(latencies) if latencies else None,
        "p95_s": latencies[max(0, round(0.95 * len(latencies)) - 1)] if latencies else None,
        "max_s": latencies[-1] if latencies else None,
        "mean_attempts": statistics.fmean(attempts) if attempts else None,
        "requests": len(receiver.received),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--tickets", type=int, default=60)
    parser.add_argument("--interval", type=float, default=0.25, help="seconds between ticket posts")
    parser.add_argument("--critical-every", type=int, default=3, help="one critical ticket in this many")
    parser.add_argument("--failures", type=int, default=24, help="503s the failing webhook answers first")
    args = parser.parse_args()

    redis.Redis.from_url(REDIS_URL).flushdb()
    results = []
    with tempfile.TemporaryDirectory() as tmp, AlertReceiver().running() as receiver:
        url = fresh_database("postgresql", Path(tmp), "copilot_bench_alerts", PG_ADMIN)
        run_migrations(url)
        env = {**os.environ, "DATABASE_URL": url, "REDIS_URL": REDIS_URL, "AUTH_DISABLED": "true",
               "ALERT_WEBHOOK_URL": receiver.url, "ALERT_WEBHOOK_SECRET": SECRET, "LOG_LEVEL": "WARNING"}  # fmt: skip
        port = free_port()
        processes = [start_gateway(url, port, 1)]
        try:
            for app, queues in (("classifier_worker.worker", "classify"), ("classifier_worker.alert_worker", "alerts")):
                log_path = Path(tmp) / f"{queues}.log"
                processes.append(start_worker(app, queues, name=f"{queues}@bench", env=env, log_path=log_path))
            for name in ("healthy", "failing"):
                results.append(run(name, args, url, port, receiver))
        finally:
            for worker in processes[1:]:
                stop_group(worker)
            processes[0].terminate()  # the gateway (not in a session of its own)
            processes[0].wait(timeout=30)

    keys = ["scenario", "tickets", "ai_critical", "delivered", "missing", "unexpected", "duplicates", "all_signed",
            "p50_s", "p95_s", "max_s", "mean_attempts", "requests"]  # fmt: skip
    print_table(keys, [[r[k] if r[k] is not None else "-" for k in keys] for r in results])
    print(f"wrote {write_results('alerts', {'args': vars(args), 'results': results})}")


if __name__ == "__main__":
    main()
