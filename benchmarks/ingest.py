"""Ingest throughput: N concurrent clients POST tickets for D seconds against a real gateway.

Starts uvicorn on a free port against SQLite and against PostgreSQL (a fresh `copilot_bench` database),
Redis DB 12 as the broker, then reports accepted/s, p50/p99 latency, and checks afterwards that every
accepted ticket is in the database (zero lost). Prints a table and writes benchmarks/results/ingest.json.

    python benchmarks/ingest.py [--clients 8,32] [--seconds 30] [--workers 2] [--backends sqlite,postgresql]

One row per backend and client count. The target (>= 500/s, p99 < 100 ms on PostgreSQL) is read at 8
clients: on 2 cores the clients, both uvicorn workers and PostgreSQL share the CPU, so past the saturation
point more clients add only queueing (latency ~ clients / throughput), which the 32-client row shows.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import redis
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.support import free_port, fresh_database, print_table, write_results  # noqa: E402
from shared.db import run_migrations  # noqa: E402

PG_ADMIN = os.environ.get("BENCH_PG_ADMIN_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/12")


def prepare_db(backend: str, tmp: Path) -> str:
    url = fresh_database(backend, tmp, "copilot_bench", PG_ADMIN)
    run_migrations(url)
    return url


def start_gateway(url: str, port: int, workers: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "DATABASE_URL": url, "REDIS_URL": REDIS_URL, "AUTH_DISABLED": "true", "LOG_LEVEL": "WARNING"}
    cmd = [sys.executable, "-m", "uvicorn", "gateway.main:app", "--port", str(port), "--workers", str(workers),
           "--no-access-log", "--log-level", "warning"]  # fmt: skip
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                time.sleep(0.5 * workers)
                return proc
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError("gateway did not start")


async def client(port: int, deadline: float, cid: int, latencies: list[float], ids: list[str], errors: list[str]):
    """One keep-alive HTTP/1.1 connection posting tickets back to back until the deadline."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    n = 0
    while time.monotonic() < deadline:
        n += 1
        body = json.dumps(
            {
                "customer_email": f"bench{cid}-{n % 50}@example.com",
                "customer_name": f"Client {cid}",
                "subject": f"Order {cid}-{n} has not arrived",
                "description": f"My order #{cid}{n:05d} was placed a week ago and has not arrived yet.",
                "order_id": f"{cid}{n:05d}",
            }
        ).encode()
        request = (
            b"POST /api/tickets/create HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\n"
            + f"Content-Length: {len(body)}\r\n\r\n".encode()
            + body
        )
        started = time.perf_counter()
        writer.write(request)
        await writer.drain()
        head = await reader.readuntil(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        length = 0
        for line in head.split(b"\r\n"):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":")[1])
        payload = await reader.readexactly(length)
        latencies.append(time.perf_counter() - started)
        if status == 201:
            ids.append(json.loads(payload)["ticket"]["ticket_id"])
        else:
            errors.append(f"{status}: {payload[:200]!r}")
    writer.close()


async def load(port: int, clients: int, seconds: float) -> tuple[list[float], list[str], list[str], float]:
    latencies: list[float] = []
    ids: list[str] = []
    errors: list[str] = []
    started = time.monotonic()
    deadline = started + seconds
    await asyncio.gather(*(client(port, deadline, i, latencies, ids, errors) for i in range(clients)))
    return latencies, ids, errors, time.monotonic() - started


def cpu_seconds(pid: int) -> float:
    """User+system CPU of a process and its children (uvicorn's workers), from /proc."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    pids = [pid]
    children = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout.split()
    pids += [int(c) for c in children]
    for p in pids:
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / tick
    return total


def count_stored(url: str, ids: list[str]) -> int:
    engine = sa.create_engine(url)
    found = 0
    with engine.connect() as conn:
        for i in range(0, len(ids), 1000):
            chunk = ids[i : i + 1000]
            found += conn.execute(
                sa.text("SELECT count(*) FROM tickets WHERE ticket_id IN :ids").bindparams(
                    sa.bindparam("ids", expanding=True)
                ),
                {"ids": chunk},
            ).scalar_one()
    engine.dispose()
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", default="8,32", help="comma-separated client counts, one run each")
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--workers", type=int, default=2, help="uvicorn worker processes")
    parser.add_argument("--backends", default="sqlite,postgresql")
    args = parser.parse_args()

    rows = []
    broker = redis.Redis.from_url(REDIS_URL)
    for backend, clients in [(b, int(c)) for b in args.backends.split(",") for c in args.clients.split(",")]:
        broker.flushdb()
        with tempfile.TemporaryDirectory() as tmp:
            url = prepare_db(backend, Path(tmp))
            port = free_port()
            proc = start_gateway(url, port, args.workers)
            try:
                cpu_before = cpu_seconds(proc.pid)
                latencies, ids, errors, elapsed = asyncio.run(load(port, clients, args.seconds))
                server_cpu = cpu_seconds(proc.pid) - cpu_before
            finally:
                proc.terminate()
                proc.wait(timeout=30)
            stored = count_stored(url, ids)
            queued = broker.llen("classify")
        latencies.sort()
        rows.append(
            {
                "backend": backend,
                "clients": clients,
                "uvicorn_workers": args.workers,
                "seconds": round(elapsed, 1),
                "accepted": len(ids),
                "accepted_per_s": round(len(ids) / elapsed, 1),
                "p50_ms": round(statistics.median(latencies) * 1000, 1) if latencies else None,
                "p99_ms": round(latencies[int(len(latencies) * 0.99) - 1] * 1000, 1) if latencies else None,
                "server_cpu_ms_per_ticket": round(server_cpu * 1000 / max(len(ids), 1), 2),
                "errors": len(errors),
                "stored": stored,
                "lost": len(ids) - stored,
                "enqueued": queued,
                "first_error": errors[0] if errors else None,
            }
        )
    broker.flushdb()

    cols = ["backend", "clients", "uvicorn_workers", "accepted", "accepted_per_s", "p50_ms", "p99_ms",
            "server_cpu_ms_per_ticket", "errors", "lost", "enqueued"]  # fmt: skip
    print_table(cols, ([row[c] for c in cols] for row in rows), align=">", floats="")
    print(f"wrote {write_results('ingest', {'benchmark': 'ingest', 'rows': rows})}")


if __name__ == "__main__":
    main()
