"""What opening and counting the team's views costs on a large history.

Fills a fresh SQLite file and a fresh PostgreSQL database (`copilot_bench_views`) as `queue_reads.py` does
(N tickets over a year, 3% of them open, 20 agents), writes 14 views a team keeps (Zendesk's defaults, "your
unsolved" as `assigned_to=me` read for an agent's key linked to AG-07, and the queues this project adds: past
target, due soon, awaiting a reply, flagged, rated bad, a tag, a word), then times, in process, over fresh sessions:
- each view's count (`count_tickets`, what `GET /api/views/{id}` adds), and its first page of 50
  (`view_tickets`), beside the same page from `list_tickets` with the filters given directly;
- the views' list with every count (`GET /api/views?counts=true`), as an agent's sidebar loads it, counted
  at each request and kept for 30 s (VIEW_COUNTS_MAX_AGE_S=30: the first request counts, the others reuse).
Prints a table and writes benchmarks/results/views.json.

    python benchmarks/views.py [--tickets 200000] [--runs 20] [--backends sqlite,postgresql]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.queue_reads import filled_database, timed  # noqa: E402
from benchmarks.support import print_table, write_results  # noqa: E402
from gateway.services.me import mine  # noqa: E402
from gateway.services.tickets import count_tickets, list_tickets  # noqa: E402
from gateway.services.views import create_view, list_views, view_tickets  # noqa: E402
from shared.auth import Principal, Role  # noqa: E402
from shared.config import get_settings  # noqa: E402
from shared.db import make_engine  # noqa: E402
from shared.schemas import TicketFilters, ViewCreate, ViewFilters  # noqa: E402

TARGETS = get_settings().targets
# An agent's key linked to AG-07: "your unsolved" lists `me`, as a team saves it once for every agent.
CALLER = Principal(key_id=1, name="bench", role=Role.agent, agent_id="AG-07")
VIEWS: dict[str, dict[str, Any]] = {
    "your unsolved (me, open)": {"assigned_to": "me", "status": "open"},
    "unassigned new": {"assigned": False, "status": "new"},
    "all new, soonest due": {"status": "new", "sort": "due"},
    "pending": {"status": "pending"},
    "recently solved": {"status": "resolved"},
    "billing, oldest": {"category": "billing", "status": "open", "sort": "oldest"},
    "past target, soonest due": {"overdue": True, "sort": "due"},
    "due within an hour": {"due_within_minutes": 60, "sort": "due"},
    "awaiting a reply, longest": {"awaiting_reply": True, "sort": "awaiting"},
    "flagged for review": {"needs_review": True, "sort": "flagged"},
    "rated bad": {"satisfaction": "bad"},
    "tagged vip, open": {"tag": "vip", "status": "open"},
    "a word, open": {"q": "card", "status": "open"},
    "every ticket": {},
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tickets", type=int, default=200_000)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--backends", default="sqlite,postgresql")
    args = parser.parse_args()

    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        for backend in args.backends.split(","):
            url = filled_database(backend, Path(tmp), "copilot_bench_views", args.tickets)
            engine = make_engine(url)
            factory = sessionmaker(bind=engine, expire_on_commit=False)
            with factory() as session:
                for n, (title, filters) in enumerate(VIEWS.items()):
                    data = ViewCreate(view_id=f"v{n:02d}", title=title, filters=ViewFilters(**filters), position=n)
                    create_view(session, data, TARGETS, CALLER)
            for n, (title, filters) in enumerate(VIEWS.items()):
                view_id, typed = f"v{n:02d}", mine(ViewFilters(**filters), CALLER)

                def count(s: Session, typed: ViewFilters = typed) -> int:
                    return count_tickets(s, typed, TARGETS)

                def opened(s: Session, view_id: str = view_id) -> object:
                    return view_tickets(s, view_id, limit=50, offset=0, targets=TARGETS, caller=CALLER)

                def listed(s: Session, typed: ViewFilters = typed) -> object:
                    return list_tickets(s, TicketFilters(**dict(typed)), TARGETS)

                with factory() as session:
                    holds = count(session)
                count_p50, count_max = timed(factory, count, args.runs)
                open_p50, open_max = timed(factory, opened, args.runs)
                list_p50, _ = timed(factory, listed, args.runs)
                rows.append({"backend": backend, "tickets": args.tickets, "view": title, "holds": holds,
                             "count_p50_ms": count_p50, "count_max_ms": count_max, "open_p50_ms": open_p50,
                             "open_max_ms": open_max, "list_p50_ms": list_p50})  # fmt: skip

            def sidebar(s: Session) -> object:
                return list_views(s, active=True, counts=True, targets=TARGETS, caller=CALLER)

            p50, worst = timed(factory, sidebar, args.runs)
            rows.append({"backend": backend, "tickets": args.tickets, "view": f"the {len(VIEWS)} views, counted",
                         "holds": None, "count_p50_ms": p50, "count_max_ms": worst, "open_p50_ms": None,
                         "open_max_ms": None, "list_p50_ms": None})  # fmt: skip

            def kept(s: Session) -> object:  # VIEW_COUNTS_MAX_AGE_S=30: the first call counts, the rest reuse
                return list_views(s, active=True, counts=True, targets=TARGETS, caller=CALLER, max_age_s=30)

            p50, worst = timed(factory, kept, args.runs)
            rows.append({"backend": backend, "tickets": args.tickets, "view": f"the {len(VIEWS)} views, counts kept",
                         "holds": None, "count_p50_ms": p50, "count_max_ms": worst, "open_p50_ms": None,
                         "open_max_ms": None, "list_p50_ms": None})  # fmt: skip
            engine.dispose()

    columns = ["holds", "count_p50_ms", "count_max_ms", "open_p50_ms", "open_max_ms", "list_p50_ms"]
    print_table(
        ["backend", "view", "holds", "count p50 ms", "count max ms", "open p50 ms", "open max ms", "list p50 ms"],
        [[r["backend"], r["view"], *("" if r[c] is None else r[c] for c in columns)] for r in rows],
        floats=".2f",
    )
    print(f"wrote {write_results('views', {'benchmark': 'views', 'rows': rows})}")


if __name__ == "__main__":
    main()
