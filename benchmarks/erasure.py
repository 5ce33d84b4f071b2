"""What erasing a customer's personal data costs (POST /api/customers/erase's service call) on a large history.

Fills a fresh SQLite file and a fresh PostgreSQL database (`copilot_bench_erasure`) as queue_reads.py does
(N tickets over a year, 2,000 customers, their messages, found references and an alert per critical ticket),
then, in process against each database: erases `--customers` ordinary customers one by one (about N / 2,000
tickets each), and one large account given `--large` tickets. Each erasure is checked: none of the
customer's tickets, messages, references or alerts is left under them or with their text.
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

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.queue_reads import PG_ADMIN, fill
from benchmarks.support import fresh_database, print_table, write_results
from gateway.services.erasure import ERASED_TEXT, erase_customer
from shared.db import make_engine, run_migrations
from shared.models import Alert, Ticket, TicketMessage, TicketReference
from shared.schemas import CustomerErasure

LARGE = "CUST-000000001999"  # the customer the large account's tickets are moved to


def erase_timed(factory: sessionmaker[Session], email: str) -> tuple[float, int, int]:
    """Milliseconds, tickets and messages of one erasure, checked against what is left afterwards."""
    with factory() as session:
        start = time.perf_counter()
        result = erase_customer(session, CustomerErasure(email=email))
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
    return elapsed, len(ids), result.messages_deleted


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
            url = fresh_database(backend, Path(tmp), "copilot_bench_erasure", PG_ADMIN)
            run_migrations(url)
            fill(url, args.tickets)
            engine = make_engine(url)
            with engine.begin() as conn:  # the large account: the first `--large` tickets of other customers
                first = sa.select(Ticket.ticket_id).order_by(Ticket.ticket_id).limit(args.large).subquery()
                conn.execute(sa.update(Ticket).where(Ticket.ticket_id.in_(sa.select(first))).values(customer_id=LARGE))
            factory = sessionmaker(bind=engine, expire_on_commit=False)
            ordinary = [erase_timed(factory, f"c{i}@example.com") for i in range(args.customers)]
            large = erase_timed(factory, "c1999@example.com")
            engine.dispose()
            times = [ms for ms, _, _ in ordinary]
            rows.append({
                "backend": backend, "tickets": args.tickets, "case": f"{args.customers} ordinary customers",
                "customer_tickets": round(statistics.mean(n for _, n, _ in ordinary), 1),
                "customer_messages": round(statistics.mean(m for _, _, m in ordinary), 1),
                "p50_ms": statistics.median(times), "max_ms": max(times),
            })  # fmt: skip
            rows.append({
                "backend": backend, "tickets": args.tickets, "case": "one large account",
                "customer_tickets": large[1], "customer_messages": large[2], "p50_ms": large[0], "max_ms": large[0],
            })  # fmt: skip

    columns = ["backend", "tickets", "case", "customer_tickets", "customer_messages", "p50_ms", "max_ms"]
    print_table(
        ["backend", "tickets", "case", "their tickets", "their messages", "p50 ms", "max ms"],
        [[r[c] for c in columns] for r in rows],
        floats=".1f",
    )
    print(f"wrote {write_results('erasure', {'benchmark': 'erasure', 'rows': rows})}")


if __name__ == "__main__":
    main()
