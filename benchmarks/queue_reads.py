"""What the agents' and shift lead's reads cost on a large, mostly closed history.

Fills a fresh SQLite file and a fresh PostgreSQL database (`copilot_bench_reads`) with N tickets shaped
like a year of production (90% resolved or closed, 0.5% failed, 20 agents, 2,000 customers, and the last
3 hours' arrivals mostly still waiting for the AI; resolution took about 20 h on average; the answered
tickets' first replies, and on a third of them the customer's answer and the next reply), then times, in
process against each database, `GET /api/overview`'s service call and the ticket list's common views
(newest, the unassigned queue, one agent's queue, one customer's by email, one order's, one tracking
number's, flagged for review, failed, overdue (also soonest due first, and so again, with the overview, with
the resolution clock paused in pending, and again with every target in business hours, a US team's week
and holidays: the overview, its week of resolutions and of first responses), the new ones soonest due first, a
channel's unanswered, the unanswered past their first response target, those awaiting a reply longest first,
those kept waiting past their reply target, soonest due first, those their customer rated bad, those carrying
a tag: one on a tenth of the tickets, one on 1 in 2,000, one on none; every ticket without the common one,
listed and counted), the tags in use (every one, and those starting as an agent types), and the
alerts: the overview's undelivered counts and the failed ones' list, over an alert per critical ticket. A
quarter of the solved web and API tickets carry their customer's rating (the overview's week of ratings).
The tickets' text is what customers wrote (the shipped banking77 and Bitext queries), which the text
search views (`q`: a common word, a rare one, one in no ticket, two words, an email, two letters in no
ticket; among the open tickets, oldest first, by due time) look through.
Prints a table and writes benchmarks/results/queue_reads.json.

    python benchmarks/queue_reads.py [--tickets 200000] [--runs 30] [--backends sqlite,postgresql] [--views search]
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import os
import random
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.support import fresh_database, print_table, write_results  # noqa: E402
from classifier_worker.train import DATA_DIR  # noqa: E402
from gateway.services.deliveries import delivery_counts, list_alerts  # noqa: E402
from gateway.services.overview import ticket_overview  # noqa: E402
from gateway.services.satisfaction import satisfaction_counts  # noqa: E402
from gateway.services.sla import first_response_times, next_reply_times, resolution_times, review_times  # noqa: E402
from gateway.services.tags import tags_in_use  # noqa: E402
from gateway.services.tickets import count_tickets, list_tickets  # noqa: E402
from shared.business_hours import calendar_for  # noqa: E402
from shared.config import get_settings  # noqa: E402
from shared.db import make_engine, run_migrations  # noqa: E402
from shared.models import Agent, Alert, Customer, Ticket, TicketMessage, TicketReference, TicketTag, utcnow  # noqa: E402
from shared.outbox import ALERTS  # noqa: E402
from shared.references import FOUND, TRACKING  # noqa: E402
from shared.schemas import AlertFilters, Category, Priority, TagFilters, TicketFilters  # noqa: E402

PG_ADMIN = os.environ.get("BENCH_PG_ADMIN_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
STATUSES = (["closed"] * 70) + (["resolved"] * 20) + (["new"] * 4) + (["open"] * 3) + ["in_progress"] * 2 + ["pending"]
AGENTS = [f"AG-{i:02d}" for i in range(20)]


def filled_database(backend: str, tmp: Path, name: str, tickets: int) -> str:
    """The URL of a fresh, migrated `backend` database (`name` on PostgreSQL) holding `tickets` tickets as
    `fill` writes them: the history the erasure, redaction and due-alert benchmarks work on."""
    url = fresh_database(backend, tmp, name, PG_ADMIN)
    run_migrations(url)
    fill(url, tickets)
    return url


def fill(url: str, n: int, seed: int = 7) -> None:
    """N tickets over the last year, 2,000 customers, 20 agents; inserted in chunks, one transaction each."""
    rng = random.Random(seed)
    now = utcnow()
    texts = customer_texts()
    engine = make_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.insert(Agent), [{"agent_id": a, "name": a, "active": True, "created_at": now} for a in AGENTS])
        conn.execute(
            sa.insert(Customer),
            [{"customer_id": f"CUST-{i:012d}", "email": f"c{i}@example.com", "created_at": now} for i in range(2000)],
        )
    chunk: list[dict[str, object]] = []
    messages: list[dict[str, object]] = []
    for i in range(n):
        created = now - timedelta(seconds=rng.uniform(0, 365 * 86400))
        status = rng.choice(STATUSES)
        roll = rng.random()
        if now - created < timedelta(hours=3):  # a backlog the workers have not reached yet
            processing = "queued" if roll < 0.6 else "classified" if roll < 0.8 else "done"
        else:
            processing = "failed" if roll < 0.005 else "done"
        classified = processing in ("done", "classified")
        resolved_at = None  # a closed ticket was mostly resolved first; some were closed without it
        if status == "resolved" or (status == "closed" and rng.random() < 0.9):
            resolved_at = min(now, created + timedelta(hours=rng.expovariate(1 / 20)))
        # an agent's first reply on 45% of the tickets past `new` (replies reach us through a vendor's webhook)
        first_response_at = None
        if status != "new" and rng.random() < 0.45:
            first_response_at = min(now, created + timedelta(hours=rng.expovariate(1 / 3)))
            if resolved_at is not None:
                first_response_at = min(first_response_at, resolved_at)
        # the answered ones came through a vendor, as did half the rest (about 72% in all); chosen without the
        # generator, so every other column is as it was before tickets had a source here
        vendor = first_response_at is not None or i % 2 == 0
        # unresolved: waiting since arrival if never answered, and a third of the answered ones since the
        # customer wrote again an hour after the reply (chosen without the generator, like the source)
        awaiting_since = None
        if status in ("new", "open", "in_progress", "pending"):
            if first_response_at is None:
                awaiting_since = created
            elif i % 3 == 0:
                awaiting_since = min(now, first_response_at + timedelta(hours=1))
        source = ("zendesk" if i % 3 else "intercom") if vendor else ("web" if i % 3 else "api")
        # a quarter of the solved web and API tickets rated by their customer 0-47 hours after the resolve, one in
        # five of those bad (chosen without the generator, like the source)
        rated = not vendor and resolved_at is not None and i % 4 == 1
        ticket_id = f"TKT-{created:%Y%m%d}-{i:08X}"
        text = texts[i * 7919 % len(texts)]  # chosen without the generator, like the source
        messages += _conversation(ticket_id, first_response_at, i, awaiting_since is None, now)
        chunk.append(
            {
                "ticket_id": ticket_id,
                "customer_id": f"CUST-{rng.randrange(2000):012d}",
                "subject": " ".join(text.split()[:5]),
                "description": text,
                "category": rng.choice(list(Category)).value if classified else None,
                "priority": rng.choice(list(Priority)).value if classified else None,
                "status": status,
                "needs_review": (flagged := rng.random() < 0.02),
                "flagged_at": created + timedelta(minutes=1) if flagged else None,
                # every 40th ticket's flag was cleared by a review 0-39 hours after it was raised
                "reviewed_at": min(now, created + timedelta(minutes=1, hours=i // 40 % 40)) if i % 40 == 7 else None,
                "review_flagged_at": created + timedelta(minutes=1) if i % 40 == 7 else None,
                "urgency_keywords": [],
                "extracted_metadata": {},
                "kb_article_ids": [],
                "assigned_to": None if status == "new" or rng.random() < 0.1 else rng.choice(AGENTS),
                "source": source,
                "processing_state": processing,
                "processing_updated_at": created,
                "processing_requested_at": created,
                "created_at": created,
                "updated_at": created,
                "resolved_at": resolved_at,
                "first_response_at": first_response_at,
                "awaiting_reply_since": awaiting_since,
                "satisfaction": ("bad" if i % 5 == 0 else "good") if rated else None,
                "satisfaction_at": min(now, resolved_at + timedelta(hours=i % 48)) if rated and resolved_at else None,
            }
        )
        if len(chunk) == 10_000 or i == n - 1:
            with engine.begin() as conn:
                conn.execute(sa.insert(Ticket), chunk)
                # one order id per classified ticket, as the classifier would have found it in the text,
                # and a tracking number in every fourth
                found = [{"ticket_id": t["ticket_id"], "kind": FOUND, "value": f"ORD-{t['ticket_id'][-6:]}"}
                         for t in chunk if t["category"]]  # fmt: skip
                found += [{"ticket_id": t["ticket_id"], "kind": TRACKING, "value": f"1Z{t['ticket_id'][-8:]}00000000"}
                          for t in chunk[::4] if t["category"]]  # fmt: skip
                conn.execute(sa.insert(TicketReference), found)
                conn.execute(sa.insert(TicketTag), _tags(chunk))
                conn.execute(sa.insert(Alert), _alerts(chunk))
                if messages:
                    conn.execute(sa.insert(TicketMessage), messages)
            chunk, messages = [], []
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(sa.text("VACUUM ANALYZE"))  # every table: ticket_references too
    else:
        with engine.begin() as conn:
            conn.execute(sa.text("ANALYZE"))
    engine.dispose()


def customer_texts() -> list[str]:
    """What customers wrote, for the tickets' text: the shipped banking77 and Bitext queries (14,517, 54
    characters on average; CC BY 4.0 and CDLA-Sharing 1.0, see classifier_worker/data/NOTICE.md)."""
    texts: list[str] = []
    for name in ("banking77.csv", "bitext.csv"):
        with (DATA_DIR / name).open(newline="", encoding="utf-8") as f:
            texts += [row["text"] for row in csv.DictReader(f)]
    return texts


def _conversation(
    ticket_id: str, first_response_at: datetime | None, i: int, answered_again: bool, now: datetime
) -> list[dict[str, object]]:
    """An answered ticket's messages: the first reply; on a third of them the customer's answer an hour
    later, and unless they still wait, the next reply 0.5-8.5 h after it, recording their wait (chosen
    without the generator, like the source). Every row has every key: an executemany takes the first's."""
    if first_response_at is None:
        return []
    rows: list[dict[str, object]] = [
        {"ticket_id": ticket_id, "source": "api", "author_type": "agent", "body": "We are on it.", "internal": False,
         "created_at": first_response_at, "waited_since": None},
    ]  # fmt: skip
    wrote = first_response_at + timedelta(hours=1)
    if i % 3 or wrote > now:
        return rows
    rows.append({"ticket_id": ticket_id, "source": "api", "author_type": "customer", "body": "Any news?",
                 "internal": None, "created_at": wrote, "waited_since": None})  # fmt: skip
    answered = wrote + timedelta(hours=0.5 + i % 17 / 2)
    if answered_again and answered <= now:
        rows.append({"ticket_id": ticket_id, "source": "api", "author_type": "agent", "body": "Here it is.",
                     "internal": False, "created_at": answered, "waited_since": wrote})  # fmt: skip
    return rows


def _tags(chunk: list[dict[str, object]]) -> list[dict[str, object]]:
    """An agent's tags (chosen without the generator): `vip` on one ticket in ten, `billing_dispute` on one in
    fifty, `outage_2026_12` on one in 2,000; and a long tail, a topic on one ticket in three (268 of `topic_001`
    to `topic_299`, the k-th about 1/k as often as the first)."""
    tags = []
    for t in chunk:
        number = int(str(t["ticket_id"])[-8:], 16)
        named = [tag for tag, every in (("vip", 10), ("billing_dispute", 50), ("outage_2026_12", 2000))
                 if number % every == 3]  # fmt: skip
        if number % 3 == 1:
            named.append(f"topic_{int(300 ** (number // 3 % 1000 / 1000)):03d}")
        tags += [{"ticket_id": t["ticket_id"], "tag": tag, "created_at": t["created_at"]} for tag in named]
    return tags


def _alerts(chunk: list[dict[str, object]]) -> list[dict[str, object]]:
    """An alert per critical ticket (a quarter here, far more than in practice: a worst case), raised a
    minute after arrival and delivered at once, but every 500th still pending and every 700th failed."""
    rows = []
    for n, t in enumerate(t for t in chunk if t["priority"] == "critical"):
        raised = t["created_at"] + timedelta(minutes=1)  # type: ignore[operator]
        pending, failed = n % 500 == 3, n % 700 == 5
        rows.append({"alert_id": f"al-{t['ticket_id']}", "ticket_id": t["ticket_id"], "priority": "critical",
                     "counted_from": t["created_at"], "payload": {}, "created_at": raised,
                     "attempts": 1 if pending else 10 if failed else 1,
                     "delivered_at": None if pending or failed else raised, "failed_at": raised if failed else None,
                     "next_attempt_at": raised if pending else None})  # fmt: skip
    return rows


def timed(factory: sessionmaker[Session], call: Callable[[Session], object], runs: int) -> tuple[float, float]:
    """p50 and max milliseconds of `call` over `runs` fresh sessions (after one warm-up)."""
    samples = []
    for i in range(runs + 1):
        with factory() as session:
            start = time.perf_counter()
            call(session)
            if i:
                samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples), max(samples)


TARGETS = get_settings().targets
PAUSED = dataclasses.replace(TARGETS, pause_in_pending=True)  # SLA_PAUSE_IN_PENDING
# BUSINESS_HOURS: a US team's week with its public holidays
BUSINESS = dataclasses.replace(TARGETS, calendar=calendar_for("mon-fri 09:00-17:00", "America/New_York", "US"))
VIEWS: dict[str, Callable[[Session], object]] = {
    "overview": lambda s: ticket_overview(s, TARGETS),
    # its parts on their own, to see what each costs
    "  its week of resolutions": lambda s: resolution_times(
        s, TARGETS, utcnow() - timedelta(days=7), utcnow() - timedelta(hours=24)
    ),
    "  its week of first responses": lambda s: first_response_times(
        s, TARGETS.first_response, utcnow() - timedelta(days=7)
    ),
    "  its week of next replies": lambda s: next_reply_times(s, TARGETS.next_reply, utcnow() - timedelta(days=7)),
    "  its week of reviews": lambda s: review_times(s, utcnow() - timedelta(days=7)),
    "  its week of ratings": lambda s: satisfaction_counts(s, utcnow() - timedelta(days=7)),
    "  its undelivered alerts": lambda s: delivery_counts(s, ALERTS),
    "list failed alerts": lambda s: list_alerts(s, AlertFilters(state="failed")),
    "list newest 50": lambda s: list_tickets(s, TicketFilters()),
    "list unassigned new": lambda s: list_tickets(s, TicketFilters(assigned=False, status="new")),
    "list one agent's": lambda s: list_tickets(s, TicketFilters(assigned_to="AG-07")),
    "list by customer email": lambda s: list_tickets(s, TicketFilters(customer_email="c7@example.com")),
    "list by order id": lambda s: list_tickets(s, TicketFilters(order_id="#ord-000777")),
    "list by tracking no.": lambda s: list_tickets(s, TicketFilters(tracking_number="1z 0000 0778 0000 0000")),
    "list needs_review": lambda s: list_tickets(s, TicketFilters(needs_review=True)),
    "list needs_review, longest flagged": lambda s: list_tickets(s, TicketFilters(needs_review=True, sort="flagged")),
    "list failed": lambda s: list_tickets(s, TicketFilters(processing_state="failed")),
    "list rated bad": lambda s: list_tickets(s, TicketFilters(satisfaction="bad")),
    "list overdue": lambda s: list_tickets(s, TicketFilters(overdue=True), TARGETS),
    "list overdue, soonest due": lambda s: list_tickets(s, TicketFilters(overdue=True, sort="due"), TARGETS),
    # the resolution clock paused in pending: from `resolution_counted_from`, pending tickets left out
    "overview, clock paused in pending": lambda s: ticket_overview(s, PAUSED),
    "  its week of resolutions, paused": lambda s: resolution_times(
        s, PAUSED, utcnow() - timedelta(days=7), utcnow() - timedelta(hours=24)
    ),
    "list overdue, soonest due, paused": lambda s: list_tickets(s, TicketFilters(overdue=True, sort="due"), PAUSED),
    # every target in business hours: cutoffs for the tests, the database's business seconds for sorts and times
    "overview, business hours": lambda s: ticket_overview(s, BUSINESS),
    "  its week of resolutions, business hours": lambda s: resolution_times(
        s, BUSINESS, utcnow() - timedelta(days=7), utcnow() - timedelta(hours=24)
    ),
    "  its week of first responses, business hours": lambda s: first_response_times(
        s, BUSINESS.first_response, utcnow() - timedelta(days=7), calendar=BUSINESS.calendar
    ),
    "list overdue, business hours": lambda s: list_tickets(s, TicketFilters(overdue=True), BUSINESS),
    "list overdue, soonest due, business hours": lambda s: list_tickets(
        s, TicketFilters(overdue=True, sort="due"), BUSINESS
    ),
    "list new, soonest due, business hours": lambda s: list_tickets(
        s, TicketFilters(status="new", sort="due"), BUSINESS
    ),
    "list unanswered past target": lambda s: list_tickets(
        s, TicketFilters(unanswered_overdue=True, sort="first_response_due"), TARGETS
    ),
    "list awaiting reply, longest": lambda s: list_tickets(s, TicketFilters(awaiting_reply=True, sort="awaiting")),
    "list reply past target, due": lambda s: list_tickets(
        s, TicketFilters(reply_overdue=True, sort="reply_due"), TARGETS
    ),
    "list new, soonest due": lambda s: list_tickets(s, TicketFilters(status="new", sort="due"), TARGETS),
    "list Zendesk unanswered": lambda s: list_tickets(s, TicketFilters(source="zendesk", answered=False)),
    # a tag on one ticket in ten, one in 2,000; among the open tickets; and by due time
    "list tagged, common": lambda s: list_tickets(s, TicketFilters(tag="vip")),
    "list tagged, rare": lambda s: list_tickets(s, TicketFilters(tag="outage_2026_12")),
    "list tagged, common, open": lambda s: list_tickets(s, TicketFilters(tag="vip", status="open")),
    "list tagged, rare, open": lambda s: list_tickets(s, TicketFilters(tag="outage_2026_12", status="open")),
    "list tagged, common, soonest due": lambda s: list_tickets(s, TicketFilters(tag="vip", sort="due"), TARGETS),
    "list tagged, in no ticket": lambda s: list_tickets(s, TicketFilters(tag="samovar")),
    # any of two tags (the common and one on one ticket in 50; the two rare ones), and the open ones
    "list tagged, any of common+dispute": lambda s: list_tickets(s, TicketFilters(tag="vip,billing_dispute")),
    "list tagged, any of two rare": lambda s: list_tickets(s, TicketFilters(tag="outage_2026_12,samovar")),
    "list tagged, any of two, open": lambda s: list_tickets(s, TicketFilters(tag="vip,billing_dispute", status="open")),
    # every ticket but a tag's: the newest, the open ones, and the open ones by due time
    "list without a tag, common": lambda s: list_tickets(s, TicketFilters(without_tag="vip")),
    "list without a tag, common, open": lambda s: list_tickets(s, TicketFilters(without_tag="vip", status="open")),
    "list without a tag, open, soonest due": lambda s: list_tickets(
        s, TicketFilters(without_tag="vip", status="open", sort="due"), TARGETS
    ),
    "count without a tag, open": lambda s: count_tickets(s, TicketFilters(without_tag="vip", status="open"), TARGETS),
    "list without two tags, open": lambda s: list_tickets(
        s, TicketFilters(without_tag="vip,billing_dispute", status="open")
    ),
    # the tags in use (vip, billing_dispute, outage_2026_12 and 268 topics), as an agent picks one
    "tags in use": lambda s: tags_in_use(s, TagFilters()),
    "tags in use, starting 'topic_1'": lambda s: tags_in_use(s, TagFilters(prefix="topic_1")),
    "tags in use, starting 'v'": lambda s: tags_in_use(s, TagFilters(prefix="v")),
    # an agent's text search (`q`): a word in about one ticket in five, in about 40 (0.02%), in none (every
    # place read), two words, a customer's email, two letters in none (no trigram index serves a pattern under
    # three characters); some among the 3% open, oldest first, and by due time
    # (no window of arrivals to walk: every match is collected and sorted)
    "search a common word": lambda s: list_tickets(s, TicketFilters(q="card")),
    "search a rare word": lambda s: list_tickets(s, TicketFilters(q="misplaced")),
    "search a word in no ticket": lambda s: list_tickets(s, TicketFilters(q="samovar")),
    "search two words": lambda s: list_tickets(s, TicketFilters(q="card declined")),
    "search an email": lambda s: list_tickets(s, TicketFilters(q="c7@example.com")),
    "search two letters in no ticket": lambda s: list_tickets(s, TicketFilters(q="zq")),
    "search a common word, open": lambda s: list_tickets(s, TicketFilters(q="card", status="open")),
    "search a rare word, open": lambda s: list_tickets(s, TicketFilters(q="misplaced", status="open")),
    "search a word in no ticket, open": lambda s: list_tickets(s, TicketFilters(q="samovar", status="open")),
    "search a common word, oldest": lambda s: list_tickets(s, TicketFilters(q="card", sort="oldest")),
    "search a common word, soonest due": lambda s: list_tickets(s, TicketFilters(q="card", sort="due"), TARGETS),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tickets", type=int, default=200_000)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument(
        "--views", default="", help="time only the views whose name this regular expression finds (e.g. search)"
    )
    args = parser.parse_args()

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for backend in args.backends.split(","):
            url = fresh_database(backend, Path(tmp), "copilot_bench_reads", PG_ADMIN)
            run_migrations(url)
            start = time.perf_counter()
            fill(url, args.tickets)
            fill_s = time.perf_counter() - start
            engine = make_engine(url)
            factory = sessionmaker(bind=engine, expire_on_commit=False)
            for view, call in VIEWS.items():
                if not re.search(args.views, view):
                    continue
                p50, worst = timed(factory, call, args.runs)
                rows.append({"backend": backend, "tickets": args.tickets, "view": view, "p50_ms": p50, "max_ms": worst,
                             "fill_s": round(fill_s, 1)})  # fmt: skip
            engine.dispose()

    print_table(
        ["backend", "tickets", "view", "p50 ms", "max ms"],
        [[r["backend"], r["tickets"], r["view"], r["p50_ms"], r["max_ms"]] for r in rows],
        floats=".2f",
    )
    print(f"wrote {write_results('queue_reads', {'benchmark': 'queue_reads', 'rows': rows})}")


if __name__ == "__main__":
    main()
