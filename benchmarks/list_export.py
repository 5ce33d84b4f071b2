"""What a CSV export of the ticket list costs on a large history.

Fills a fresh SQLite file and a fresh PostgreSQL database (`copilot_bench_export`) as `queue_reads.py` does
(N tickets over a year, 3% of them open; the last month's with two vendor metadata fields), then writes, in
process, the exports a team takes (a month of one category, a month with the customers' texts, a month with
two `metadata.KEY` columns, the open queue by due time, a tag's tickets, the newest 100,000, the most
EXPORT_MAX_ROWS allows), each read to its end as the gateway streams it: seconds for the
whole file (p50 of the runs), milliseconds to the first rows (the header and the first 1,000 tickets, what
a client sees first), rows per second, megabytes written, and the peak of Python's allocations over one
more run (tracemalloc: the file is never held whole; what grows with the export is the list of its ids,
read first, and one chunk of 1,000 rows). An export over the limit is refused before anything is written:
the time to that 422 is the last row.
Prints a table and writes benchmarks/results/list_export.json.

    python benchmarks/list_export.py [--tickets 200000] [--runs 3] [--backends sqlite,postgresql]
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import sys
import tempfile
import time
import tracemalloc
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy import text as sql
from sqlalchemy.orm import Session, sessionmaker

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.queue_reads import filled_database  # noqa: E402
from benchmarks.support import print_table, write_results  # noqa: E402
from gateway.services.list_export import export_csv  # noqa: E402
from shared.config import get_settings  # noqa: E402
from shared.db import make_engine  # noqa: E402
from shared.errors import InvalidInput  # noqa: E402
from shared.models import Ticket, utcnow  # noqa: E402
from shared.schemas import EXPORT_COLUMNS, ExportOptions, TicketQuery  # noqa: E402

SETTINGS = get_settings()
TARGETS = SETTINGS.targets
MAX_ROWS = SETTINGS.export_max_rows


def exports(session: Session) -> dict[str, tuple[dict[str, Any], dict[str, Any]]]:
    """The exports to time: (filters, options) by label. The newest 100,000 start where the table's
    100,000th newest ticket arrived."""
    now = utcnow()
    month = {"created_from": now - timedelta(days=30)}
    hundred_thousandth = session.scalar(
        select(Ticket.created_at).order_by(Ticket.created_at.desc()).offset(MAX_ROWS - 1).limit(1)
    )
    return {
        "a month of billing": ({**month, "category": "billing"}, {}),
        "a month, every ticket": (month, {}),
        "a month, texts included": (month, {"columns": "ticket_id,subject,description,ai_suggested_reply"}),
        "a month, every column": (month, {"columns": ",".join(EXPORT_COLUMNS)}),
        "a month, two metadata columns": (month, {"columns": f"ticket_id,created_at,status,{VENDOR_COLUMNS}"}),
        "the open queue, by due time": ({"status": "open", "sort": "due"}, {}),
        "tagged vip": ({"tag": "vip"}, {}),
        f"the newest {MAX_ROWS:,}": ({"created_from": hundred_thousandth}, {}),
        "every ticket (over the limit)": ({}, {}),
    }


VENDOR_COLUMNS = "metadata.zendesk_url,metadata.zendesk_channel"


def vendor_metadata(session: Session, since: datetime) -> int:
    """Two vendor fields (a link and a channel) on every ticket since `since`, as Zendesk's webhook stores
    them, beside the history's other metadata: what `metadata.KEY` columns read. Returns the rows added."""
    added = 0
    for key, value in (
        ("zendesk_url", "'https://acme.zendesk.com/agent/tickets/' || ticket_id"),
        ("zendesk_channel", "'web'"),
    ):
        added += session.execute(
            sql(
                f"INSERT INTO ticket_metadata (ticket_id, key, value) SELECT ticket_id, '{key}', {value} "
                "FROM tickets WHERE created_at >= :since"
            ),
            {"since": since},
        ).rowcount
    session.commit()
    return added


def run(factory: sessionmaker[Session], filters: TicketQuery, options: ExportOptions) -> tuple[float, float, int, int]:
    """Seconds to the end, milliseconds to the first rows, rows and bytes of one export."""
    start = time.perf_counter()
    lines = export_csv(factory(), filters, options, TARGETS, MAX_ROWS)
    first: float | None = None
    rows = size = 0
    for n, text in enumerate(lines):
        if n == 1:
            first = (time.perf_counter() - start) * 1000
        size += len(text.encode())
        rows += text.count("\r\n")  # the header and one per ticket (a text's own line breaks are "\n")
    total = time.perf_counter() - start
    return total, first if first is not None else total * 1000, rows - 1, size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tickets", type=int, default=200_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--backends", default="sqlite,postgresql")
    args = parser.parse_args()

    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        for backend in args.backends.split(","):
            url = filled_database(backend, Path(tmp), "copilot_bench_export", args.tickets)
            engine = make_engine(url)
            factory = sessionmaker(bind=engine, expire_on_commit=False)
            with factory() as session:
                vendor_metadata(session, utcnow() - timedelta(days=31))
                chosen = exports(session)
                stored = session.scalar(select(func.count()).select_from(Ticket)) or 0
            for label, (given, chosen_options) in chosen.items():
                filters, options = TicketQuery(**given), ExportOptions(**chosen_options)
                row: dict[str, Any] = {"backend": backend, "tickets": stored, "export": label}
                try:
                    samples = [run(factory, filters, options) for _ in range(args.runs + 1)][1:]  # one warm-up
                except InvalidInput:
                    start = time.perf_counter()
                    for _ in range(args.runs):
                        with contextlib.suppress(InvalidInput):
                            export_csv(factory(), filters, options, TARGETS, MAX_ROWS)
                    refused = (time.perf_counter() - start) / args.runs * 1000
                    rows.append(row | {"rows": None, "refused_ms": refused})
                    continue
                seconds = statistics.median(s[0] for s in samples)
                tracemalloc.start()
                run(factory, filters, options)
                peak = tracemalloc.get_traced_memory()[1]
                tracemalloc.stop()
                rows.append(
                    row
                    | {
                        "rows": samples[0][2],
                        "seconds_p50": seconds,
                        "first_rows_ms_p50": statistics.median(s[1] for s in samples),
                        "rows_per_s": samples[0][2] / seconds if seconds else None,
                        "mb": samples[0][3] / 1e6,
                        "peak_python_mb": peak / 1e6,
                        "refused_ms": None,
                    }
                )
            engine.dispose()

    columns = ["rows", "seconds_p50", "first_rows_ms_p50", "rows_per_s", "mb", "peak_python_mb", "refused_ms"]
    print_table(
        ["backend", "export", "rows", "s p50", "first rows ms", "rows/s", "MB", "peak MB", "refused ms"],
        [[r["backend"], r["export"], *("" if r.get(c) is None else r[c] for c in columns)] for r in rows],
        floats=".2f",
    )
    print(f"wrote {write_results('list_export', {'benchmark': 'list_export', 'max_rows': MAX_ROWS, 'rows': rows})}")


if __name__ == "__main__":
    main()
