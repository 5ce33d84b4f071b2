"""What the sweeper's automatic close (gateway.services.lifecycle) costs on a large history, every
SWEEP_INTERVAL_S (30 s by default), on SQLite and PostgreSQL.

A fresh SQLite file and PostgreSQL database (`copilot_bench_auto_close`) filled as queue_reads.py does
(`--tickets` over a year, 20% of them resolved, nearly all long ago), then, with AUTO_CLOSE_AFTER_HOURS at
its default (96):

- the backlog drained as when the setting is first turned on: passes of up to 200, the first pass's time,
  the time per ticket closed, and the passes and seconds until none is left;
- a quiet pass (nothing due: the steady state, what every interval costs), p50 and max of `--runs`, with
  `idx_tickets_to_close` (migration 0030) and then without it, to show what the partial index is for.

No status delivery is written (REPLY_WEBHOOK_URL unset); `replies.py` measures delivery.
Prints a table and writes benchmarks/results/auto_close.json.

    python benchmarks/auto_close.py [--tickets 100000] [--runs 20] [--backends sqlite,postgresql]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.queue_reads import filled_database
from benchmarks.support import print_table, write_results
from gateway.services.lifecycle import close_resolved
from shared.config import Settings
from shared.db import make_engine
from shared.models import Ticket


def timed_pass(factory: sessionmaker[Session], settings: Settings) -> tuple[float, int]:
    """Milliseconds of one pass, and the tickets it closed."""
    with factory() as session:
        start = time.perf_counter()
        closed = close_resolved(session, settings)
        return (time.perf_counter() - start) * 1000, len(closed)


def quiet(factory: sessionmaker[Session], settings: Settings, runs: int) -> list[float]:
    passes = [timed_pass(factory, settings) for _ in range(runs)]
    assert all(n == 0 for _, n in passes), "a quiet pass closed tickets"
    return [ms for ms, _ in passes]


def measure(backend: str, tmp: Path, tickets: int, runs: int) -> dict[str, object]:
    url = filled_database(backend, tmp, "copilot_bench_auto_close", tickets)
    engine = make_engine(url)
    factory = sessionmaker(engine)
    settings = Settings(database_url=url)
    with factory() as session:
        resolved = session.scalar(sa.select(sa.func.count()).where(Ticket.status == "resolved"))
    row: dict[str, object] = {"backend": backend, "tickets": tickets, "resolved": resolved}
    start = time.perf_counter()
    passes = [timed_pass(factory, settings)]
    while passes[-1][1]:
        passes.append(timed_pass(factory, settings))
    row["drain_s"] = time.perf_counter() - start
    row["drain_passes"] = len(passes) - 1
    row["closed"] = sum(n for _, n in passes)
    row["first_pass_ms"] = passes[0][0]
    row["per_close_ms"] = sum(ms for ms, n in passes if n) / max(row["closed"], 1)  # type: ignore[call-overload]
    with_index = quiet(factory, settings, runs)
    row["quiet_p50_ms"], row["quiet_max_ms"] = statistics.median(with_index), max(with_index)
    with engine.begin() as conn:
        conn.execute(sa.text("DROP INDEX idx_tickets_to_close"))
        if backend == "postgresql":
            conn.execute(sa.text("ANALYZE tickets"))
    without = quiet(factory, settings, runs)
    row["no_index_quiet_p50_ms"], row["no_index_quiet_max_ms"] = statistics.median(without), max(without)
    engine.dispose()
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tickets", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--backends", default="sqlite,postgresql")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        rows = [measure(b, Path(tmp), args.tickets, args.runs) for b in args.backends.split(",")]
    print_table(
        ["backend", "tickets", "resolved", "closed", "passes", "drain s", "first pass ms", "ms/close",
         "quiet p50 ms", "quiet max ms", "no index: quiet p50 ms", "max ms"],
        [[r["backend"], r["tickets"], r["resolved"], r["closed"], r["drain_passes"], r["drain_s"], r["first_pass_ms"],
          r["per_close_ms"], r["quiet_p50_ms"], r["quiet_max_ms"], r["no_index_quiet_p50_ms"],
          r["no_index_quiet_max_ms"]] for r in rows],
        floats=".2f",
    )  # fmt: skip
    payload = {"benchmark": "auto_close", "runs": args.runs, "rows": rows}
    print(f"wrote {write_results('auto_close', payload)}")


if __name__ == "__main__":
    main()
