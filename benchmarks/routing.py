"""What the automatic assignment costs on a large history, and whether it keeps `max_open` under concurrency.

Fills a fresh SQLite file and a fresh PostgreSQL database (`copilot_bench_routing`) as `queue_reads.py` does
(N tickets over a year, 20 agents holding the assigned ones), puts the 20 agents in the rotation (12 of them
limited to three categories each, 8 taking any; each with room for `--room` more tickets than they hold now),
adds `--waiting` new web tickets waiting for it, then times, in process:
- the agents' list with each one's load (`GET /api/agents`);
- the classifier's call after it stores a ticket (`route_waiting` for that one ticket), one at a time;
- the sweeper's passes (200 tickets each) until no agent has room, and then a pass that assigns nothing;
- two threads routing the rest of the waiting tickets at once, after every limit is raised by `--room`
  (two classifier workers), then checks that no agent went past their limit and no ticket was assigned twice;
- releasing one agent's open tickets (`POST /api/agents/{id}/release`) to the others, without limits now.
Prints a table and writes benchmarks/results/routing.json.

    python benchmarks/routing.py [--tickets 200000] [--waiting 600] [--room 10] [--backends sqlite,postgresql]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from datetime import timedelta
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.queue_reads import AGENTS, filled_database  # noqa: E402
from benchmarks.support import print_table, write_results  # noqa: E402
from gateway.services.agents import list_agents, update_agent  # noqa: E402
from gateway.services.release import release_tickets  # noqa: E402
from shared.db import make_engine  # noqa: E402
from shared.models import Agent, AuditLog, Ticket, utcnow  # noqa: E402
from shared.routing import ACTOR, open_tickets, route_waiting  # noqa: E402
from shared.schemas import AgentUpdate, Category, ReleaseRequest  # noqa: E402


def _rotation(factory: sessionmaker[Session], room: int) -> int:
    """Every agent in the rotation, 12 on three categories each, with `room` more than they hold; the slots."""
    categories = [c.value for c in Category]
    with factory() as session:
        for i, agent_id in enumerate(AGENTS):
            agent = session.get(Agent, agent_id)
            assert agent is not None
            load = session.scalar(sa.select(open_tickets(agent_id))) or 0
            agent.auto_assign = True
            agent.categories = [categories[(i + k) % len(categories)] for k in range(3)] if i < 12 else None
            agent.max_open = load + room
        session.commit()
    return room * len(AGENTS)


def _waiting(url: str, n: int) -> list[str]:
    """`n` new, classified web tickets waiting for the rotation, a second apart; their ids."""
    now = utcnow()
    categories = [c.value for c in Category]
    rows = [
        {
            "ticket_id": f"TKT-ROUTE-{i:06d}",
            "customer_id": f"CUST-{i % 2000:012d}",
            "subject": "Routed",
            "description": "A ticket for the rotation",
            "category": categories[i % len(categories)],
            "priority": "medium",
            "status": "new",
            "urgency_keywords": [],
            "extracted_metadata": {},
            "kb_article_ids": [],
            "source": "web",
            "processing_state": "classified",
            "created_at": now,
            "updated_at": now,
            "processing_updated_at": now,
            "routing_requested_at": now - timedelta(seconds=n - i),
        }
        for i in range(n)
    ]
    engine = make_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.insert(Ticket), rows)
    engine.dispose()
    return [str(r["ticket_id"]) for r in rows]


def _ms(start: float) -> float:
    return (time.perf_counter() - start) * 1000


def _over_limit(factory: sessionmaker[Session]) -> int:
    with factory() as session:
        agents = session.execute(sa.select(Agent.agent_id, Agent.max_open, open_tickets(Agent.agent_id))).all()
    return sum(1 for _, limit, load in agents if limit is not None and load > limit)


def _assigned_twice(factory: sessionmaker[Session]) -> int:
    with factory() as session:
        counts = session.execute(
            sa.select(AuditLog.ticket_id, sa.func.count())
            .where(AuditLog.field == "assigned_to", AuditLog.actor == ACTOR)
            .group_by(AuditLog.ticket_id)
        ).all()
    return sum(1 for _, count in counts if count > 1)


def run(backend: str, tmp: Path, tickets: int, waiting: int, room: int, runs: int) -> list[dict[str, object]]:
    url = filled_database(backend, tmp, "copilot_bench_routing", tickets)
    engine = make_engine(url)
    factory = sessionmaker(bind=engine, expire_on_commit=False)
    rows: list[dict[str, object]] = []

    def row(measure: str, value: float, unit: str) -> None:
        rows.append({"backend": backend, "tickets": tickets, "measure": measure, "value": round(value, 2),
                     "unit": unit})  # fmt: skip

    slots = _rotation(factory, room)
    ids = _waiting(url, waiting)

    times = []
    for _ in range(runs):
        with factory() as session:
            start = time.perf_counter()
            list_agents(session)
            times.append(_ms(start))
    row("agents' list with loads, p50", statistics.median(times), "ms")

    single, assigned = [], 0
    for ticket_id in ids[:runs]:  # as the classifier routes each ticket it stored
        with factory() as session:
            start = time.perf_counter()
            assigned += len(route_waiting(session, ticket_ids=[ticket_id]))
            single.append(_ms(start))
    row("one ticket after its classification, p50", statistics.median(single), "ms")
    row("one ticket after its classification, max", max(single), "ms")

    pass_ms, swept = [], 0
    while True:
        with factory() as session:
            start = time.perf_counter()
            done = len(route_waiting(session))
            pass_ms.append(_ms(start))
        swept += done
        if done == 0:
            break
    row("sweeper passes until every agent was full", len(pass_ms) - 1, "passes")
    row("tickets assigned by then", assigned + swept, f"of {slots} slots")
    if swept:
        row("sweeper passes that assigned, per ticket", sum(pass_ms[:-1]) / swept, "ms")
    row("sweeper pass with every agent full (200 waiting read)", pass_ms[-1], "ms")

    with factory() as session:  # room again: two workers share the rest
        for agent in session.scalars(sa.select(Agent)):
            agent.max_open = (agent.max_open or 0) + room
        session.commit()
    with factory() as session:
        rest = list(session.scalars(sa.select(Ticket.ticket_id).where(Ticket.routing_requested_at.is_not(None))))
    halves = [rest[0::2], rest[1::2]]
    results: list[int] = []

    def worker(part: list[str]) -> None:
        for ticket_id in part:
            with factory() as session:
                results.append(len(route_waiting(session, ticket_ids=[ticket_id])))

    threads = [threading.Thread(target=worker, args=(part,)) for part in halves]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = _ms(start)
    row("two threads at once: tickets assigned", sum(results), f"of {len(rest)} waiting, {room * len(AGENTS)} slots")
    row("two threads at once: per ticket (wall / tickets)", wall / max(len(rest), 1), "ms")
    row("agents past their max_open", _over_limit(factory), "agents")
    row("tickets assigned twice by the rotation", _assigned_twice(factory), "tickets")

    leaving = AGENTS[-1]  # one of the 8 taking any category: out of the rotation, then released
    with factory() as session:
        update_agent(session, leaving, AgentUpdate(auto_assign=False))
        for agent in session.scalars(sa.select(Agent).where(Agent.agent_id != leaving)):
            agent.max_open = None  # room for every released ticket
        session.commit()
    with factory() as session:
        start = time.perf_counter()
        released = release_tickets(session, leaving, ReleaseRequest())
        took = _ms(start)
    row("release an agent's open tickets: tickets", released.released, "tickets")
    row("release an agent's open tickets: routed", sum(1 for r in released.results if r.assigned_to), "tickets")
    row("release an agent's open tickets: per ticket", took / max(released.released, 1), "ms")
    engine.dispose()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tickets", type=int, default=200_000)
    parser.add_argument("--waiting", type=int, default=600)
    parser.add_argument("--room", type=int, default=10)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--backends", default="sqlite,postgresql")
    args = parser.parse_args()
    rows: list[dict[str, object]] = []
    with tempfile.TemporaryDirectory() as tmp:
        for backend in args.backends.split(","):
            rows += run(backend, Path(tmp), args.tickets, args.waiting, args.room, args.runs)
    print_table(
        ["backend", "tickets", "measure", "value", "unit"],
        [[r["backend"], r["tickets"], r["measure"], r["value"], r["unit"]] for r in rows],
        floats=".2f",
    )
    print(f"wrote {write_results('routing', {'benchmark': 'routing', 'rows': rows})}")


if __name__ == "__main__":
    main()
