"""A backlog with one ticket the model cannot take: model calls and wall time to classify it all.

    .venv/bin/python benchmarks/classify_poison.py [--tickets 320]

Runs `classify_ticket` (the classifier task's body, batch size 32, the served local model) over a
backlog in a SQLite file, one task per ticket in queue order, with one poison ticket whose batch
raises. Three orders: the poison ticket is the oldest and its task runs first; it is the oldest but
its task runs last (a message re-sent by the sweeper, or `/retry`); it arrives after 100 others.
Every batch takes the oldest `queued` tickets, so a poison ticket left queued joins each one. Prints a
table and writes benchmarks/results/classify_poison.json.
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.support import print_table, write_results  # noqa: E402

POISON = "POISON: the model rejects this text"


def run(order: str, tickets: int, classifier) -> dict[str, object]:  # type: ignore[no-untyped-def]
    from sqlalchemy import select
    from sqlalchemy.orm import sessionmaker

    from classifier_worker import service
    from gateway.services.tickets import create_ticket
    from shared import pipeline
    from shared.db import make_engine, run_migrations
    from shared.models import Ticket
    from shared.schemas import TicketCreate

    calls: list[int] = []

    class FailsOnPoison:
        def classify_batch(self, batch):  # type: ignore[no-untyped-def]
            calls.append(len(batch))
            if any(t.description == POISON for t in batch):
                raise ValueError("the model rejects this ticket")
            return classifier.classify_batch(batch)

    # Measured without Redis: the hand-off to the draft step and the state events are not under test.
    service.enqueue = lambda *_a, **_k: True  # type: ignore[assignment]
    service.announce = lambda *_a, **_k: None  # type: ignore[assignment]
    pipeline.announce = lambda *_a, **_k: None  # type: ignore[assignment]

    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'poison.db'}"
        run_migrations(url)
        engine = make_engine(url)
        factory = sessionmaker(engine)

        def add(session, description: str) -> str:  # type: ignore[no-untyped-def]
            body = TicketCreate(customer_email="c@example.com", subject="Late parcel", description=description)
            return create_ticket(session, body).ticket_id

        with factory() as session:
            normal = [f"My order #{1000 + i} has not arrived; tracking stuck for a week." for i in range(tickets - 1)]
            at = 100 if order == "arrives after 100" else 0
            texts = [*normal[:at], POISON, *normal[at:]]
            ids = [add(session, text) for text in texts]
        poison_id = ids[at]
        queue = [i for i in ids if i != poison_id] + [poison_id] if order == "oldest, task last" else ids
        start = time.perf_counter()
        for ticket_id in queue:
            try:
                service.classify_ticket(ticket_id, classifier=FailsOnPoison(), batch_size=32, factory=factory)
            except ValueError as exc:  # what pipeline_task does with its own ticket's failure
                with factory() as session:
                    pipeline.record_failure(ticket_id, exc, session)
        seconds = time.perf_counter() - start
        with factory() as session:
            states = Counter(session.scalars(select(Ticket.processing_state)))
        engine.dispose()
    return {
        "order": order,
        "tickets": tickets,
        "model_calls": len(calls),
        "tickets_per_call": round(sum(calls) / len(calls), 1),
        "seconds": round(seconds, 2),
        "classified": states["classified"],
        "failed": states["failed"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tickets", type=int, default=320)
    args = parser.parse_args()
    logging.disable(logging.WARNING)

    from classifier_worker.classifier import load_classifier
    from shared.config import Settings

    classifier = load_classifier(Settings(groq_api_key=None))
    rows = [
        run(order, args.tickets, classifier)
        for order in ("oldest, task first", "oldest, task last", "arrives after 100")
    ]
    out = write_results("classify_poison", rows)
    header = list(rows[0])
    print_table(header, [[row[key] for key in header] for row in rows], floats=".2f")
    print(f"\nwrote {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
