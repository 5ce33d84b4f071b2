"""What each agent's activity costs on a large history (`GET /api/agents/{id}/activity`, `/api/agent-activity`).

Fills a fresh SQLite file and a fresh PostgreSQL database (`copilot_bench_activity`) as `queue_reads.py`
does (N tickets over a year, 20 agents, each conversation's agent replies), credits every agent reply to the
ticket's assignee (`ticket_messages.agent_id`, as a key linked to them would have written it), then times,
in process, over fresh sessions:
- one agent's activity over 7 and 30 days (`agent_activity`: ten queries, each the overview's narrowed to them);
- the team's table over 7 days (`team_activity`: each figure read once for the team, grouped by agent).
Prints a table and writes benchmarks/results/agent_activity.json.

    python benchmarks/agent_activity.py [--tickets 200000] [--runs 20] [--backends sqlite,postgresql]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.queue_reads import filled_database, timed  # noqa: E402
from benchmarks.support import print_table, write_results  # noqa: E402
from gateway.services.activity import agent_activity, team_activity  # noqa: E402
from shared.config import get_settings  # noqa: E402
from shared.db import make_engine  # noqa: E402
from shared.models import Ticket, TicketMessage  # noqa: E402

TARGETS = get_settings().targets


def credit_assignees(url: str) -> int:
    """Every agent reply credited to its ticket's assignee; how many were."""
    engine = make_engine(url)
    assignee = sa.select(Ticket.assigned_to).where(Ticket.ticket_id == TicketMessage.ticket_id).scalar_subquery()
    with engine.begin() as conn:
        conn.execute(sa.update(TicketMessage).where(TicketMessage.author_type == "agent").values(agent_id=assignee))
        credited = conn.scalar(sa.select(sa.func.count()).where(TicketMessage.agent_id.is_not(None)))
    engine.dispose()
    return int(credited or 0)


def _week(row: dict[str, Any]) -> str:
    return f"{row['replies_7d']} / {row['first_responses_7d']} / {row['resolved_7d']}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tickets", type=int, default=200_000)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--backends", default="sqlite,postgresql")
    args = parser.parse_args()

    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        for backend in args.backends.split(","):
            url = filled_database(backend, Path(tmp), "copilot_bench_activity", args.tickets)
            credited = credit_assignees(url)
            engine = make_engine(url)
            factory = sessionmaker(bind=engine, expire_on_commit=False)
            with factory() as session:
                week = agent_activity(session, "AG-07", days=7, targets=TARGETS)
            calls = {
                "one agent, 7 days": lambda s: agent_activity(s, "AG-07", days=7, targets=TARGETS),
                "one agent, 30 days": lambda s: agent_activity(s, "AG-07", days=30, targets=TARGETS),
                "the team of 20, 7 days": lambda s: team_activity(s, days=7, active=None, targets=TARGETS),
            }
            for name, call in calls.items():

                def run(s: Session, call: Any = call) -> object:
                    return call(s)

                p50, worst = timed(factory, run, args.runs)
                rows.append({"backend": backend, "tickets": args.tickets, "credited_replies": credited,
                             "call": name, "p50_ms": p50, "max_ms": worst, "replies_7d": week.replies,
                             "first_responses_7d": week.first_responses.answered,
                             "resolved_7d": week.resolved.resolved})  # fmt: skip
            engine.dispose()

    print_table(
        ["backend", "call", "p50 ms", "max ms", "AG-07's replies / first responses / resolved in 7 days"],
        [[r["backend"], r["call"], r["p50_ms"], r["max_ms"], _week(r)] for r in rows],
        floats=".2f",
    )
    print(f"wrote {write_results('agent_activity', {'benchmark': 'agent_activity', 'rows': rows})}")


if __name__ == "__main__":
    main()
