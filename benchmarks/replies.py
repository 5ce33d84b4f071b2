"""Agents' replies end to end: how long after an agent posts a reply to a web ticket the channel's backend
(REPLY_WEBHOOK_URL) has it, that every reply arrives exactly once, with the backend healthy and with it
failing for a while, and what writing the delivery with the reply costs the reply's POST.

Real processes on PostgreSQL (a fresh `copilot_bench_replies` database) and Redis DB 12: two gateways
(uvicorn; one with REPLY_WEBHOOK_URL set, one without), an alert worker consuming `alerts,replies` as
`make run` starts it, and a local HTTP receiver standing in for the backend. Replies are posted one every
`--interval` s, each to its own ticket, alternately to the two gateways.

    python benchmarks/replies.py [--replies 60] [--interval 0.2] [--failures 20]

Latency is from just before the reply's POST to its arrival (both on this machine's clock). "failing": the
backend answers 503 to the first `--failures` deliveries, so replies back off and retry.
Prints a table and writes benchmarks/results/replies.json.
"""

from __future__ import annotations

import argparse
import json
import os
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
from benchmarks.support import free_port, fresh_database, print_table, start_worker, stop_group, write_results  # noqa: E402
from shared.db import run_migrations  # noqa: E402
from shared.outbox import verify  # noqa: E402
from tests.alert_receiver import AlertReceiver  # noqa: E402

SECRET = "bench-reply-secret"


def _ms(values: list[float], q: float) -> float | None:
    return round(1000 * values[max(0, round(q * len(values)) - 1)], 1) if values else None


def run(name: str, args: argparse.Namespace, url: str, ports: dict[str, int], receiver: AlertReceiver) -> dict:
    """Post the replies, wait for every one sent to arrive, and compare what arrived with what was posted."""
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text("TRUNCATE tickets, customers CASCADE"))
    receiver.received.clear()
    failures = args.failures if name == "failing" else 0
    receiver.script = [(503, {})] * failures
    posted: dict[int, float] = {}  # message id -> when its POST started (delivered replies only)
    post_s: dict[str, list[float]] = {"on": [], "off": []}
    clients = {k: httpx.Client(base_url=f"http://127.0.0.1:{p}", timeout=10) for k, p in ports.items()}
    try:
        for n in range(args.replies):
            side = "on" if n % 2 == 0 else "off"
            client = clients[side]
            ticket = client.post(
                "/api/tickets/create",
                json={
                    "customer_email": f"c{n}@example.com",
                    "subject": "Refund?",
                    "description": "Where is my refund?",
                },
            )
            ticket.raise_for_status()
            ticket_id = ticket.json()["ticket"]["ticket_id"]
            started = time.time()
            reply = client.post(f"/api/tickets/{ticket_id}/messages", json={"body": f"Your refund {n} was sent."})
            post_s[side].append(time.time() - started)
            reply.raise_for_status()
            if side == "on":
                posted[reply.json()["message"]["id"]] = started
            time.sleep(args.interval)
    finally:
        for client in clients.values():
            client.close()

    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        with engine.connect() as conn:
            undelivered = conn.execute(
                sa.text("SELECT count(*) FROM reply_deliveries WHERE delivered_at IS NULL")
            ).scalar_one()
        if undelivered == 0:
            break
        time.sleep(0.5)
    time.sleep(2)  # time for a duplicate to arrive
    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT count(*), avg(attempts) FROM reply_deliveries")).one()
    engine.dispose()

    ok = receiver.received[failures - len(receiver.script) :]  # one worker process: in order, after the 503s
    arrivals: dict[int, float] = {}
    duplicates = 0
    for got in ok:
        message_id = json.loads(got.body)["id"]
        duplicates += message_id in arrivals
        arrivals.setdefault(message_id, got.at)
    latencies = sorted(arrivals[m] - posted[m] for m in arrivals if m in posted)
    for side in post_s:
        post_s[side].sort()
    return {
        "scenario": name,
        "replies_sent": len(posted),
        "delivery_rows": rows[0],
        "delivered": len(set(arrivals) & set(posted)),
        "missing": len(set(posted) - set(arrivals)),
        "unexpected": len(set(arrivals) - set(posted)),
        "duplicates": duplicates,
        "all_signed": all(
            verify(SECRET, got.headers.get("x-copilot-signature", ""), got.body, now=int(got.at))
            for got in receiver.received
        ),
        "arrival_p50_ms": _ms(latencies, 0.5),
        "arrival_p95_ms": _ms(latencies, 0.95),
        "arrival_max_ms": _ms(latencies, 1.0),
        "mean_attempts": float(rows[1]) if rows[1] is not None else None,
        "post_p50_ms_on": _ms(post_s["on"], 0.5),
        "post_p50_ms_off": _ms(post_s["off"], 0.5),
        "post_p95_ms_on": _ms(post_s["on"], 0.95),
        "post_p95_ms_off": _ms(post_s["off"], 0.95),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--replies", type=int, default=60)
    parser.add_argument("--interval", type=float, default=0.2, help="seconds between replies")
    parser.add_argument("--failures", type=int, default=20, help="503s the failing backend answers first")
    args = parser.parse_args()

    redis.Redis.from_url(REDIS_URL).flushdb()
    results = []
    with tempfile.TemporaryDirectory() as tmp, AlertReceiver().running() as receiver:
        url = fresh_database("postgresql", Path(tmp), "copilot_bench_replies", PG_ADMIN)
        run_migrations(url)
        ports = {"off": free_port()}
        processes = [start_gateway(url, ports["off"], 1)]
        os.environ.update(REPLY_WEBHOOK_URL=receiver.url, REPLY_WEBHOOK_SECRET=SECRET)  # the second gateway's
        ports["on"] = free_port()
        processes.append(start_gateway(url, ports["on"], 1))
        env = {**os.environ, "DATABASE_URL": url, "REDIS_URL": REDIS_URL, "LOG_LEVEL": "WARNING"}
        workers = []
        try:
            log_path = Path(tmp) / "alert_worker.log"
            workers.append(
                start_worker(
                    "classifier_worker.alert_worker", "alerts,replies", name="replies@bench", env=env, log_path=log_path
                )
            )
            for name in ("healthy", "failing"):
                results.append(run(name, args, url, ports, receiver))
        finally:
            for worker in workers:
                stop_group(worker)
            for gateway in processes:  # not in a session of their own
                gateway.terminate()
                gateway.wait(timeout=30)

    keys = ["scenario", "replies_sent", "delivered", "missing", "unexpected", "duplicates", "all_signed",
            "arrival_p50_ms", "arrival_p95_ms", "arrival_max_ms", "mean_attempts",
            "post_p50_ms_on", "post_p50_ms_off", "post_p95_ms_on", "post_p95_ms_off"]  # fmt: skip
    print_table(keys, [[r[k] if r[k] is not None else "-" for k in keys] for r in results])
    print(f"wrote {write_results('replies', {'args': vars(args), 'results': results})}")


if __name__ == "__main__":
    main()
