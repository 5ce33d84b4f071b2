"""What the sweeper's due-alert pass (gateway.services.due_alerts) costs on a large history, every
SWEEP_INTERVAL_S (30 s by default), on SQLite and PostgreSQL.

A fresh SQLite file and PostgreSQL database (`copilot_bench_due_alerts`) filled as queue_reads.py does
(`--tickets`, over a year; its unresolved tickets are mostly long past every target), then:

- the first pass, which alerts what the filled history has near its targets (the ones run out under 24 h ago);
- a quiet pass: nothing new is due, the cost paid every interval (p50 and max of `--runs`);
- a busy pass: `--due` more tickets (half waiting for a first reply, half for a resolution) brought within
  the window, at most 100 per target alerted in one pass;
- the same quiet pass with ALERT_DUE_MIN_PRIORITY=low (every unresolved ticket with a priority considered);
- the same quiet pass with SLA_PAUSE_IN_PENDING=true (the resolution clock from `resolution_counted_from`);
- the same quiet pass with every target in business hours (BUSINESS_HOURS, a US team's week and holidays);
- the same quiet pass with ALERT_ROUTES alone (billing and refund routed, no ALERT_WEBHOOK_URL: the query
  leaves the other categories out);
- the ticket list's `?due_within_minutes=30&sort=reply_due` (the first page, 50), with the 200 tickets due.

The delivery tasks are counted, not sent (a Redis round trip is ~2 ms each; `alerts.py` measures delivery).
Prints a table and writes benchmarks/results/due_alerts.json.

    python benchmarks/due_alerts.py [--tickets 100000] [--due 200] [--runs 20] [--backends sqlite,postgresql]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.queue_reads import filled_database, timed
from benchmarks.support import print_table, write_results
from gateway.services import due_alerts
from gateway.services.tickets import list_tickets
from shared.config import Settings
from shared.db import make_engine
from shared.models import Alert, Ticket, utcnow
from shared.schemas import Priority, TicketFilters

SENT: list[str] = []
due_alerts.send_alert = SENT.append  # type: ignore[assignment]  # counted, not sent to Redis


def timed_pass(factory: sessionmaker[Session], settings: Settings) -> tuple[float, int]:
    """Milliseconds of one pass, and the alerts it raised."""
    with factory() as session:
        start = time.perf_counter()
        raised = due_alerts.alert_due_tickets(session, settings)
        return (time.perf_counter() - start) * 1000, len(raised)


def due_list(factory: sessionmaker[Session], settings: Settings, runs: int) -> tuple[float, int]:
    """p50 ms of the list's `?due_within_minutes=30&sort=reply_due` (limit 50), and the rows it returned."""
    filters = TicketFilters(due_within_minutes=30, sort="reply_due")
    rows: list[int] = []
    p50, _ = timed(factory, lambda session: rows.append(len(list_tickets(session, filters, settings.targets))), runs)
    return p50, rows[-1]


def bring_due(url: str, n: int) -> None:
    """`n` unresolved high tickets made due in 10 minutes: half on the first response clock, half on resolution."""
    settings = Settings()
    now = utcnow()
    engine = make_engine(url)
    with engine.begin() as conn:
        ids = conn.scalars(
            sa.select(Ticket.ticket_id).where(Ticket.status == "closed").order_by(Ticket.ticket_id).limit(n)
        ).all()
        for i, ticket_id in enumerate(ids):
            reply = i % 2 == 0
            target = settings.first_response_targets["high"] if reply else settings.resolution_targets["high"]
            start = now - target + timedelta(minutes=10)
            conn.execute(
                sa.update(Ticket)
                .where(Ticket.ticket_id == ticket_id)
                .values(
                    status="open",
                    priority="high",
                    resolved_at=None,
                    first_response_at=None,
                    created_at=start if not reply else now - timedelta(hours=1),
                    resolution_counted_from=start if not reply else now - timedelta(hours=1),
                    awaiting_reply_since=start if reply else None,
                )
            )
    engine.dispose()


def measure(backend: str, tmp: Path, tickets: int, due: int, runs: int) -> dict[str, object]:
    url = filled_database(backend, tmp, "copilot_bench_due_alerts", tickets)
    engine = make_engine(url)
    factory = sessionmaker(engine)
    settings = Settings(database_url=url, alert_webhook_url="http://127.0.0.1:9/unused")
    with factory() as session:
        unresolved = session.scalar(
            sa.select(sa.func.count()).where(Ticket.status.in_(["new", "open", "in_progress", "pending"]))
        )
    row: dict[str, object] = {"backend": backend, "tickets": tickets, "unresolved": unresolved}
    row["first_pass_ms"], row["first_pass_alerts"] = timed_pass(factory, settings)
    quiet = [timed_pass(factory, settings) for _ in range(runs)]
    assert all(n == 0 for _, n in quiet), "a quiet pass raised alerts"
    row["quiet_p50_ms"] = statistics.median(ms for ms, _ in quiet)
    row["quiet_max_ms"] = max(ms for ms, _ in quiet)
    bring_due(url, due)
    busy: list[tuple[float, int]] = []
    while not busy or busy[-1][1]:
        busy.append(timed_pass(factory, settings))
    row["busy_passes"] = len(busy) - 1
    row["busy_alerts"] = sum(n for _, n in busy)
    row["busy_first_ms"] = busy[0][0]
    row["busy_per_alert_ms"] = busy[0][0] / max(busy[0][1], 1)
    row["due_list_p50_ms"], row["due_list_rows"] = due_list(factory, settings, runs)
    everyone = settings.model_copy(update={"alert_due_min_priority": Priority.low})
    timed_pass(factory, everyone)  # the low tickets near their targets, once
    row["quiet_all_priorities_p50_ms"] = statistics.median(timed_pass(factory, everyone)[0] for _ in range(runs))
    paused = settings.model_copy(update={"sla_pause_in_pending": True})
    timed_pass(factory, paused)  # what counting from `resolution_counted_from` alerts anew, once
    row["quiet_paused_p50_ms"] = statistics.median(timed_pass(factory, paused)[0] for _ in range(runs))
    business = settings.model_copy(update=BUSINESS_HOURS)
    timed_pass(factory, business)  # what running out in business time alerts anew, once
    row["quiet_business_p50_ms"] = statistics.median(timed_pass(factory, business)[0] for _ in range(runs))
    routes = {"billing": "http://127.0.0.1:9/billing", "refund": "http://127.0.0.1:9/billing"}
    routed = settings.model_copy(update={"alert_webhook_url": None, "alert_routes": routes})
    row["quiet_routed_p50_ms"] = statistics.median(timed_pass(factory, routed)[0] for _ in range(runs))
    with factory() as session:
        row["alerts_stored"] = session.scalar(
            sa.select(sa.func.count()).select_from(Alert).where(Alert.event != "ticket.urgent")
        )
    engine.dispose()
    return row


# A US team's week and public holidays, as settings.
BUSINESS_HOURS = {
    "business_hours": "mon-fri 09:00-17:00",
    "business_timezone": "America/New_York",
    "business_holidays": "US",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tickets", type=int, default=100_000)
    parser.add_argument("--due", type=int, default=200)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--backends", default="sqlite,postgresql")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        rows = [measure(b, Path(tmp), args.tickets, args.due, args.runs) for b in args.backends.split(",")]
    print_table(
        ["backend", "tickets", "unresolved", "first pass ms", "alerts", "quiet p50 ms", "quiet max ms",
         f"{args.due} due: passes", "alerts", "first busy ms", "ms/alert", "quiet, all priorities p50 ms",
         "?due_within_minutes=30 p50 ms", "rows", "quiet, paused in pending p50 ms", "quiet, business hours p50 ms",
         "quiet, routes alone p50 ms"],
        [[r["backend"], r["tickets"], r["unresolved"], r["first_pass_ms"], r["first_pass_alerts"], r["quiet_p50_ms"],
          r["quiet_max_ms"], r["busy_passes"], r["busy_alerts"], r["busy_first_ms"], r["busy_per_alert_ms"],
          r["quiet_all_priorities_p50_ms"], r["due_list_p50_ms"], r["due_list_rows"], r["quiet_paused_p50_ms"],
          r["quiet_business_p50_ms"], r["quiet_routed_p50_ms"]]
         for r in rows],
        floats=".1f",
    )  # fmt: skip
    payload = {"benchmark": "due_alerts", "due": args.due, "runs": args.runs, "rows": rows, "sent": len(SENT)}
    print(f"wrote {write_results('due_alerts', payload)}")


if __name__ == "__main__":
    main()
