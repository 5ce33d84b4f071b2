"""What exporting and erasing a customer's personal data cost (POST /api/customers/export, through the gateway
app in process; POST /api/customers/erase's service call) on a large history.

Fills a fresh SQLite file and a fresh PostgreSQL database (`copilot_bench_erasure`) as queue_reads.py does
(N tickets over a year, 2,000 customers, their messages, found references and an alert per critical ticket),
then, against each database: exports, then erases, `--customers` ordinary customers one by one (about
N / 2,000 tickets each), and one large account given `--large` tickets. Each export is checked to hold the
customer's tickets and as many messages and alerts as their erasure then deletes; each erasure, to leave none
of the customer's tickets, messages, references or alerts under them or with their text.
Prints a table and writes benchmarks/results/erasure.json.

    python benchmarks/erasure.py [--tickets 100000] [--customers 20] [--large 5000] [--backends sqlite,postgresql]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.queue_reads import filled_database
from benchmarks.support import print_table, write_results
from gateway.main import create_app
from gateway.services.erasure import ERASED_TEXT, erase_customer
from shared.config import Settings
from shared.db import make_engine
from shared.models import Alert, Ticket, TicketMessage, TicketReference
from shared.schemas import CustomerSelector

LARGE = "CUST-000000001999"  # the customer the large account's tickets are moved to


def export_timed(client: TestClient, email: str) -> tuple[float, dict[str, Any], int]:
    """Milliseconds and the answer of one export through the app, and its size in bytes."""
    start = time.perf_counter()
    response = client.post("/api/customers/export", json={"email": email})
    elapsed = (time.perf_counter() - start) * 1000
    assert response.status_code == 200, response.text
    return elapsed, response.json(), len(response.content)


def export_and_erase(factory: sessionmaker[Session], client: TestClient, email: str) -> dict[str, float]:
    """One customer exported then erased, each checked: the export lists what the erasure then removes."""
    export_ms, export, size = export_timed(client, email)
    erase_ms, tickets, messages, alerts = erase_timed(factory, email)
    assert sorted(t["ticket_id"] for t in export["tickets"]) == tickets, email
    assert sum(len(t["messages"]) for t in export["tickets"]) == messages, email
    assert sum(len(t["alerts"]) for t in export["tickets"]) == alerts, email
    return {
        "tickets": len(tickets), "messages": messages, "export_ms": export_ms, "export_kb": size / 1024,
        "erase_ms": erase_ms,
    }  # fmt: skip


def erase_timed(factory: sessionmaker[Session], email: str) -> tuple[float, list[str], int, int]:
    """Milliseconds, tickets, messages and alerts of one erasure, checked against what is left afterwards."""
    with factory() as session:
        start = time.perf_counter()
        result = erase_customer(session, CustomerSelector(email=email))
        elapsed = (time.perf_counter() - start) * 1000
    with factory() as session:
        ids = result.tickets
        left = 0
        for entity in (TicketMessage, TicketReference, Alert):
            left += session.scalar(
                sa.select(sa.func.count()).select_from(entity).where(entity.ticket_id.in_(ids[:1000]))
            )
        texts = set(session.scalars(sa.select(Ticket.description).where(Ticket.ticket_id.in_(ids[:1000]))))
        assert left == 0 and texts <= {ERASED_TEXT}, (email, left, texts)
    return elapsed, ids, result.messages_deleted, result.alerts_deleted


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tickets", type=int, default=100_000)
    parser.add_argument("--customers", type=int, default=20)
    parser.add_argument("--large", type=int, default=5000)
    parser.add_argument("--backends", default="sqlite,postgresql")
    args = parser.parse_args()

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for backend in args.backends.split(","):
            url = filled_database(backend, Path(tmp), "copilot_bench_erasure", args.tickets)
            engine = make_engine(url)
            with engine.begin() as conn:  # the large account: the first `--large` tickets of other customers
                first = sa.select(Ticket.ticket_id).order_by(Ticket.ticket_id).limit(args.large).subquery()
                conn.execute(sa.update(Ticket).where(Ticket.ticket_id.in_(sa.select(first))).values(customer_id=LARGE))
            factory = sessionmaker(bind=engine, expire_on_commit=False)
            settings = Settings(database_url=url, auth_disabled=True, chroma_path=str(Path(tmp) / "chroma"))
            with TestClient(create_app(settings, sweeper=False)) as client:
                ordinary = [export_and_erase(factory, client, f"c{i}@example.com") for i in range(args.customers)]
                large = export_and_erase(factory, client, "c1999@example.com")
            engine.dispose()
            for case, runs in ((f"{args.customers} ordinary customers", ordinary), ("one large account", [large])):
                row: dict[str, Any] = {"backend": backend, "tickets": args.tickets, "case": case}
                row["customer_tickets"] = round(statistics.mean(r["tickets"] for r in runs), 1)
                row["customer_messages"] = round(statistics.mean(r["messages"] for r in runs), 1)
                for step in ("export", "erase"):
                    times = [r[f"{step}_ms"] for r in runs]
                    row[f"{step}_p50_ms"], row[f"{step}_max_ms"] = statistics.median(times), max(times)
                row["export_kb_mean"] = statistics.mean(r["export_kb"] for r in runs)
                rows.append(row)

    columns = [
        "backend", "tickets", "case", "customer_tickets", "customer_messages", "export_p50_ms", "export_max_ms",
        "export_kb_mean", "erase_p50_ms", "erase_max_ms",
    ]  # fmt: skip
    print_table(
        ["backend", "tickets", "case", "their tickets", "their messages", "export p50 ms", "export max ms",
         "export KiB", "erase p50 ms", "erase max ms"],
        [[r[c] for c in columns] for r in rows],
        floats=".1f",
    )  # fmt: skip
    print(f"wrote {write_results('erasure', {'benchmark': 'erasure', 'rows': rows})}")


if __name__ == "__main__":
    main()
