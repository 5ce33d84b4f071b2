"""Agents' replies and resolves end to end, and customers' messages from their request's page: how long after an
agent posts a reply to a web ticket, its customer answers on the page, or the agent resolves it, the channel's
backend (REPLY_WEBHOOK_URL) has it, that every one arrives exactly once, with the backend healthy and with it
failing for a while, and what writing the delivery costs the request.

Real processes on PostgreSQL (a fresh `copilot_bench_replies` database) and Redis DB 12: two gateways
(uvicorn; one with REPLY_WEBHOOK_URL set and REPLY_WEBHOOK_CUSTOMER_MESSAGES on, one without), an alert worker
consuming `alerts,replies` as `make run` starts it, and a local HTTP receiver standing in for the backend. Every
`--interval` s a ticket is created, answered (`POST .../messages`), answered back by its customer on the
request's page (`POST /requests/{token}`) and resolved (`PUT .../status`), alternately on the two gateways.

    python benchmarks/replies.py [--replies 60] [--interval 0.2] [--failures 20]

Latency is from just before the agent's request to the arrival of what it sent (both on this machine's
clock). "failing": the backend answers 503 to the first `--failures` deliveries, so deliveries back off and
retry. Prints a table (a row per scenario and kind) and writes benchmarks/results/replies.json.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import httpx
import redis
import sqlalchemy as sa
from pydantic import SecretStr

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.ingest import PG_ADMIN, REDIS_URL, start_gateway  # noqa: E402
from benchmarks.support import free_port, fresh_database, print_table, start_worker, stop_group, write_results  # noqa: E402
from shared.customer_links import Purpose, make_token  # noqa: E402
from shared.db import run_migrations  # noqa: E402
from shared.models import utcnow  # noqa: E402
from shared.outbox import verify  # noqa: E402
from tests.alert_receiver import AlertReceiver  # noqa: E402

SECRET = "bench-reply-secret"
LINK_SECRET = "bench-link-secret"


def _ms(values: list[float], q: float) -> float | None:
    return round(1000 * values[max(0, round(q * len(values)) - 1)], 1) if values else None


KINDS = {  # each kind's event, and its rows as SQL's `table WHERE ...` (queries add `AND ...`)
    "reply": ("ticket.reply", "reply_deliveries WHERE CAST(payload AS jsonb) ->> 'event' = 'ticket.reply'"),
    "page message": (
        "ticket.customer_message",
        "reply_deliveries WHERE CAST(payload AS jsonb) ->> 'event' = 'ticket.customer_message'",
    ),
    "status": ("ticket.status", "status_deliveries WHERE true"),
}
FORM = {"content-type": "application/x-www-form-urlencoded"}


def _key(body: dict) -> tuple[str, object]:
    """What an arrival answers: a message by its id, a resolve by its ticket (one per ticket here)."""
    if body["event"] == "ticket.status":
        return "status", body["ticket"]["ticket_id"]
    return next(kind for kind, (event, _) in KINDS.items() if event == body["event"]), body["id"]


def _message_id(client: httpx.Client, ticket_id: str, body: str) -> int:
    """The id of the ticket's message with that body."""
    messages = client.get(f"/api/tickets/{ticket_id}/messages").json()
    return next(int(m["id"]) for m in messages if m["body"] == body)


def run(name: str, args: argparse.Namespace, url: str, ports: dict[str, int], receiver: AlertReceiver) -> list[dict]:
    """Answer and resolve the tickets, wait for everything sent to arrive, and compare it with what was sent."""
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text("TRUNCATE tickets, customers CASCADE"))
    receiver.received.clear()
    failures = args.failures if name == "failing" else 0
    receiver.script = [(503, {})] * failures
    sent: dict[tuple[str, object], float] = {}  # (kind, key) -> when its request started (the sending side only)
    request_s: dict[tuple[str, str], list[float]] = {(k, side): [] for k in KINDS for side in ("on", "off")}
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
            request_s["reply", side].append(time.time() - started)
            reply.raise_for_status()
            token = make_token(SecretStr(LINK_SECRET), Purpose.conversation, ticket_id, utcnow() + timedelta(days=1))
            writing = time.time()
            answered = client.post(
                f"/requests/{token}", content=f"body=Thanks+{n}&client_message_id=p{n}", headers=FORM
            )
            request_s["page message", side].append(time.time() - writing)
            assert answered.status_code == 303, answered.text
            resolving = time.time()
            resolved = client.put(f"/api/tickets/{ticket_id}/status", json={"status": "resolved"})
            request_s["status", side].append(time.time() - resolving)
            resolved.raise_for_status()
            if side == "on":
                sent["reply", reply.json()["message"]["id"]] = started
                sent["page message", _message_id(client, ticket_id, f"Thanks {n}")] = writing
                sent["status", ticket_id] = resolving
            time.sleep(args.interval)
    finally:
        for client in clients.values():
            client.close()

    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        with engine.connect() as conn:
            undelivered = sum(
                conn.execute(sa.text(f"SELECT count(*) FROM {table} AND delivered_at IS NULL")).scalar_one()
                for _, table in KINDS.values()
            )
        if undelivered == 0:
            break
        time.sleep(0.5)
    time.sleep(2)  # time for a duplicate to arrive
    with engine.connect() as conn:
        rows = {
            kind: conn.execute(sa.text(f"SELECT count(*), avg(attempts) FROM {table}")).one()
            for kind, (_, table) in KINDS.items()
        }
    engine.dispose()

    ok = receiver.received[failures - len(receiver.script) :]  # one worker process: in order, after the 503s
    arrivals: dict[tuple[str, object], float] = {}
    duplicates = dict.fromkeys(KINDS, 0)
    for got in ok:
        key = _key(json.loads(got.body))
        duplicates[key[0]] += key in arrivals
        arrivals.setdefault(key, got.at)
    results = []
    for kind in KINDS:
        mine_sent = {k for k in sent if k[0] == kind}
        mine_arrived = {k for k in arrivals if k[0] == kind}
        latencies = sorted(arrivals[k] - sent[k] for k in mine_arrived & mine_sent)
        on, off = sorted(request_s[kind, "on"]), sorted(request_s[kind, "off"])
        results.append(
            {
                "scenario": name,
                "kind": kind,
                "sent": len(mine_sent),
                "delivery_rows": rows[kind][0],
                "delivered": len(mine_arrived & mine_sent),
                "missing": len(mine_sent - mine_arrived),
                "unexpected": len(mine_arrived - mine_sent),
                "duplicates": duplicates[kind],
                "all_signed": all(
                    verify(SECRET, got.headers.get("x-copilot-signature", ""), got.body, now=int(got.at))
                    for got in receiver.received
                    if _key(json.loads(got.body))[0] == kind
                ),
                "arrival_p50_ms": _ms(latencies, 0.5),
                "arrival_p95_ms": _ms(latencies, 0.95),
                "arrival_max_ms": _ms(latencies, 1.0),
                "mean_attempts": round(float(rows[kind][1]), 2) if rows[kind][1] is not None else None,
                "request_p50_ms_on": _ms(on, 0.5),
                "request_p50_ms_off": _ms(off, 0.5),
                "request_p95_ms_on": _ms(on, 0.95),
                "request_p95_ms_off": _ms(off, 0.95),
            }
        )
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--replies", type=int, default=60, help="tickets answered and resolved")
    parser.add_argument("--interval", type=float, default=0.2, help="seconds between tickets")
    parser.add_argument("--failures", type=int, default=20, help="503s the failing backend answers first")
    args = parser.parse_args()

    redis.Redis.from_url(REDIS_URL).flushdb()
    results = []
    with tempfile.TemporaryDirectory() as tmp, AlertReceiver().running() as receiver:
        url = fresh_database("postgresql", Path(tmp), "copilot_bench_replies", PG_ADMIN)
        run_migrations(url)
        ports = {"off": free_port()}
        os.environ.update(CUSTOMER_LINK_URL="http://127.0.0.1", CUSTOMER_LINK_SECRET=LINK_SECRET)  # both gateways'
        processes = [start_gateway(url, ports["off"], 1)]
        os.environ.update(  # the second gateway's
            REPLY_WEBHOOK_URL=receiver.url, REPLY_WEBHOOK_SECRET=SECRET, REPLY_WEBHOOK_CUSTOMER_MESSAGES="true"
        )
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
                results.extend(run(name, args, url, ports, receiver))
        finally:
            for worker in workers:
                stop_group(worker)
            for gateway in processes:  # not in a session of their own
                gateway.terminate()
                gateway.wait(timeout=30)

    keys = ["scenario", "kind", "sent", "delivered", "missing", "unexpected", "duplicates", "all_signed",
            "arrival_p50_ms", "arrival_p95_ms", "arrival_max_ms", "mean_attempts",
            "request_p50_ms_on", "request_p50_ms_off", "request_p95_ms_on", "request_p95_ms_off"]  # fmt: skip
    print_table(keys, [[r[k] if r[k] is not None else "-" for k in keys] for r in results])
    print(f"wrote {write_results('replies', {'args': vars(args), 'results': results})}")


if __name__ == "__main__":
    main()
