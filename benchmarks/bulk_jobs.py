"""What a bulk job costs on a large history (`POST /api/bulk-jobs` and the bulk worker's batches).

Fills a fresh SQLite file and a fresh PostgreSQL database (`copilot_bench_bulk`) as `queue_reads.py` does (N
tickets over a year, 20 agents), then, in process:
- creates jobs choosing their tickets by the list's filters (every `new` ticket, about 4% of N; `status=open`
  by due time), timed from the request's check to the items committed, and times refusing filters that hold
  more than BULK_JOB_MAX_TICKETS;
- runs three jobs of `--job-size` tickets each through `run_batch` (the worker's task, without the Celery hop:
  about 2 ms per batch of 50 over Redis): tags only; a status move and tags; a macro (a reply signed by the
  agent, a move to pending, a tag) on open web and API tickets (a public reply to a vendor's ticket is a 409);
  tickets a second and ms per ticket;
- reads a job's progress and a page of its results.
Prints a table and writes benchmarks/results/bulk_jobs.json.

    python benchmarks/bulk_jobs.py [--tickets 200000] [--job-size 1000] [--backends sqlite,postgresql]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.queue_reads import filled_database  # noqa: E402
from benchmarks.support import print_table, write_results  # noqa: E402
from gateway.services.bulk_jobs import create_job, job_results, read_job, run_batch  # noqa: E402
from shared.auth import Principal, Role  # noqa: E402
from shared.config import get_settings  # noqa: E402
from shared.db import make_engine  # noqa: E402
from shared.errors import InvalidInput  # noqa: E402
from shared.models import Macro, Ticket, TicketMessage, utcnow  # noqa: E402
from shared.schemas import BulkJobCreate  # noqa: E402

SETTINGS = get_settings()
CALLER = Principal(None, "bench", Role.admin, "AG-07", "Ann Lee", "ann@support.example")
MACRO = "Hi {{customer.first_name}}, we know about the outage and are on it.\n{{agent.first_name}}, Support"


def _add_macro(factory: sessionmaker[Session]) -> None:
    with factory() as session:
        now = utcnow()
        session.add(
            Macro(macro_id="outage-ack", title="Outage", body=MACRO, internal=False, status="pending",
                  tags={"add": ["outage_acknowledged"], "remove": []}, assign=None, active=True,
                  created_by="bench", created_at=now, updated_by="bench", updated_at=now)
        )  # fmt: skip
        session.commit()


def _ids(
    factory: sessionmaker[Session], status: str, n: int, skip: int = 0, sources: tuple[str, ...] = ()
) -> list[str]:
    """`n` tickets in `status` (of `sources`, if given), oldest first, after the first `skip`."""
    with factory() as session:
        query = sa.select(Ticket.ticket_id).where(Ticket.status == status).order_by(Ticket.created_at)
        if sources:
            query = query.where(Ticket.source.in_(sources))
        return list(session.scalars(query.offset(skip).limit(n)))


def _create(factory: sessionmaker[Session], body: dict[str, Any]) -> tuple[float, int]:
    """Milliseconds to check, choose and store a job, and the tickets it chose."""
    with factory() as session:
        start = time.perf_counter()
        job = create_job(
            session, BulkJobCreate.model_validate(body), targets=SETTINGS.targets,
            max_tickets=SETTINGS.bulk_job_max_tickets, caller=CALLER,
        )  # fmt: skip
        return (time.perf_counter() - start) * 1000, job.total


def _run(factory: sessionmaker[Session], body: dict[str, Any]) -> dict[str, Any]:
    """Create the job, then run its batches until done: seconds, tickets a second, and its outcome."""
    with factory() as session:
        job = create_job(
            session, BulkJobCreate.model_validate(body), targets=SETTINGS.targets,
            max_tickets=SETTINGS.bulk_job_max_tickets, caller=CALLER,
        )  # fmt: skip
        job_id, total = job.job_id, job.total
    start = time.perf_counter()
    batches = 0
    while True:
        with factory() as session:
            batch = run_batch(session, job_id, SETTINGS)
        batches += 1
        if not batch.more:
            break
    seconds = time.perf_counter() - start
    with factory() as session:
        done = read_job(session, job_id)
        start = time.perf_counter()
        read_job(session, job_id)
        progress_ms = (time.perf_counter() - start) * 1000
        start = time.perf_counter()
        job_results(session, job_id, outcome=None, limit=100, offset=total // 2)
        results_ms = (time.perf_counter() - start) * 1000
    return {"job_id": job_id, "tickets": total, "batches": batches, "seconds": seconds,
            "per_second": total / seconds, "ms_per_ticket": seconds * 1000 / total, "updated": done.updated,
            "failed": done.failed, "progress_ms": progress_ms, "results_page_ms": results_ms}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tickets", type=int, default=200_000)
    parser.add_argument("--job-size", type=int, default=1000)
    parser.add_argument("--backends", default="sqlite,postgresql")
    args = parser.parse_args()

    created: list[dict[str, Any]] = []
    runs: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        for backend in args.backends.split(","):
            url = filled_database(backend, Path(tmp), "copilot_bench_bulk", args.tickets)
            engine = make_engine(url)
            factory = sessionmaker(bind=engine, expire_on_commit=False)
            _add_macro(factory)
            for name, body in (
                ("every new ticket", {"filters": {"status": "new"}, "tags": {"add": ["seen"]}}),
                ("open by due time", {"filters": {"status": "open", "sort": "due"}, "tags": {"add": ["seen"]}}),
                ("named tickets", {"ticket_ids": _ids(factory, "closed", 5000), "tags": {"add": ["seen"]}}),
            ):
                ms, chosen = _create(factory, body)
                created.append({"backend": backend, "job": name, "chosen": chosen, "ms": ms})
            start = time.perf_counter()
            try:
                _create(factory, {"filters": {}, "tags": {"add": ["seen"]}})
            except InvalidInput:
                created.append({"backend": backend, "job": "every ticket: refused", "chosen": 0,
                                "ms": (time.perf_counter() - start) * 1000})  # fmt: skip
            size = args.job_size
            for name, body in (
                ("tags", {"ticket_ids": _ids(factory, "new", size), "tags": {"add": ["outage"]}}),
                ("status and tags", {"ticket_ids": _ids(factory, "new", size, skip=size), "status": "open",
                                     "tags": {"add": ["outage"], "remove": ["seen"]}}),
                ("macro: reply, pending, tag", {"ticket_ids": _ids(factory, "open", size, sources=("web", "api")),
                                                "macro_id": "outage-ack"}),
            ):  # fmt: skip
                runs.append({"backend": backend, "change": name, **_run(factory, body)})
            with factory() as session:
                replies = session.scalar(sa.select(sa.func.count()).where(TicketMessage.macro_id == "outage-ack"))
            runs[-1]["replies_posted"] = replies
            engine.dispose()

    print_table(
        ["backend", "job created", "tickets chosen", "ms"],
        [[r["backend"], r["job"], r["chosen"], r["ms"]] for r in created],
        floats=".1f",
    )
    print_table(
        ["backend", "change", "tickets", "s", "tickets/s", "ms/ticket", "updated", "failed", "progress ms",
         "results page ms"],
        [[r["backend"], r["change"], r["tickets"], r["seconds"], r["per_second"], r["ms_per_ticket"], r["updated"],
          r["failed"], r["progress_ms"], r["results_page_ms"]] for r in runs],
        floats=".2f",
    )  # fmt: skip
    results = {"benchmark": "bulk_jobs", "tickets": args.tickets, "created": created, "runs": runs}
    print(f"wrote {write_results('bulk_jobs', results)}")


if __name__ == "__main__":
    main()
