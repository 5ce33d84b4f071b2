"""What a customer's page costs on a large history (`GET /requests/{token}`, `GET /rate/{token}`).

Fills a fresh SQLite file and a fresh PostgreSQL database (`copilot_bench_pages`) as `queue_reads.py` does (N
tickets over a year), gives one web ticket a conversation of 40 messages, closes it and follows it up, then
times, in process over fresh sessions: reading a link's token (the HMAC check alone), that ticket's
conversation page (its public messages, the follow-up found through `idx_tickets_follow_up_of`, its rating
links), and a resolved ticket's rating page. A customer's click is one of these. Prints a table and writes
benchmarks/results/customer_pages.json.

    python benchmarks/customer_pages.py [--tickets 200000] [--runs 30] [--backends sqlite,postgresql]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from functools import partial
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.queue_reads import filled_database, timed  # noqa: E402
from benchmarks.support import print_table, write_results  # noqa: E402
from gateway.services.conversation_pages import conversation_page  # noqa: E402
from gateway.services.rating_pages import rating_page  # noqa: E402
from gateway.services.tickets import insert_follow_up  # noqa: E402
from shared.config import Settings  # noqa: E402
from shared.customer_links import Purpose, make_token, read_token  # noqa: E402
from shared.db import make_engine  # noqa: E402
from shared.models import Ticket, TicketMessage, utcnow  # noqa: E402

SECRET = "bench-link-key"


def _tickets(factory: sessionmaker[Session], messages: int) -> tuple[str, str]:
    """A web or API ticket given a conversation of `messages` messages (one in ten an internal note), closed and
    followed up; and a resolved web or API ticket. (The filled history's answered tickets are the vendors'.)"""
    web = Ticket.source.in_(("web", "api"))
    with factory() as session:
        resolved, talked = session.scalars(sa.select(Ticket.ticket_id).where(Ticket.status == "resolved", web).limit(2))
        ticket = session.get(Ticket, talked)
        assert ticket is not None
        for n in range(messages):
            by = "customer" if n % 2 else "agent"
            session.add(TicketMessage(ticket_id=talked, source="api", author_type=by, author_name=f"{by} {n}",
                                      body=f"Message {n}: " + "words " * 40, internal=n % 10 == 9,
                                      created_at=ticket.created_at + timedelta(minutes=n)))  # fmt: skip
        ticket.status = "closed"
        insert_follow_up(session, ticket, "It broke again.")
        session.commit()
    return talked, resolved


def _token_p50_us(secret: Any, token: str, runs: int = 20_000) -> float:
    now = utcnow()
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        read_token(secret, Purpose.conversation, token, now=now)
        samples.append((time.perf_counter() - start) * 1e6)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tickets", type=int, default=200_000)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--messages", type=int, default=40)
    parser.add_argument("--backends", default="sqlite,postgresql")
    args = parser.parse_args()

    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        for backend in args.backends.split(","):
            url = filled_database(backend, Path(tmp), "copilot_bench_pages", args.tickets)
            settings = Settings(database_url=url, customer_link_url="https://support.example.com",
                                customer_link_secret=SECRET)  # fmt: skip
            secret = settings.customer_link_secret
            engine = make_engine(url)
            factory = sessionmaker(bind=engine, expire_on_commit=False)
            longest, resolved = _tickets(factory, args.messages)
            until = utcnow() + timedelta(days=1)
            conversation = make_token(secret, Purpose.conversation, longest, until)  # type: ignore[arg-type]
            rating = make_token(secret, Purpose.rating, resolved, until)  # type: ignore[arg-type]
            pages = {
                f"conversation page, {args.messages} messages and a follow-up": partial(
                    conversation_page, settings=settings, token=conversation
                ),
                "rating page": partial(rating_page, settings=settings, token=rating, chosen=None),
            }
            for name, page in pages.items():

                def run(s: Session, page: Any = page) -> object:
                    shown = page(s)
                    assert shown.status == 200, shown
                    return shown

                p50, worst = timed(factory, run, args.runs)
                rows.append({"backend": backend, "tickets": args.tickets, "call": name, "p50_ms": p50, "max_ms": worst})
            rows.append({"backend": backend, "tickets": args.tickets, "call": "reading a token (HMAC check)",
                         "p50_ms": _token_p50_us(secret, conversation) / 1000, "max_ms": None})  # fmt: skip
            engine.dispose()

    print_table(
        ["backend", "tickets", "call", "p50 ms", "max ms"],
        [
            [r["backend"], r["tickets"], r["call"], r["p50_ms"], "-" if r["max_ms"] is None else r["max_ms"]]
            for r in rows
        ],
        floats=".3f",
    )
    print(f"wrote {write_results('customer_pages', {'benchmark': 'customer_pages', 'rows': rows})}")


if __name__ == "__main__":
    main()
