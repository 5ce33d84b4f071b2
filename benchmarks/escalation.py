"""Follow-up escalation benchmark: does a customer's message after classification raise the priority when
it should, and only then?

    .venv/bin/python benchmarks/escalation.py [--openings 48]

Opens tickets with labelled customer messages from benchmarks/data/retrieval_queries.csv (a seeded sample,
spread over its categories) and pairs each with every hand-written follow-up of
benchmarks/data/escalation_follow_ups.csv, of three kinds: `calm` (thanks, an order number, "any update?"),
`angry` (repeated contact, deadlines, urgency words, frustration) and `critical` (a legal threat, fraud,
security, safety or an outage). Each ticket is classified as opened, then with the follow-up, by the served
local classifier (`classifier_worker.follow_up`), and the table reports per kind the share whose priority
rose, was high or critical and critical before and after, or fell (never, by design), and the cost of the
follow-up pass per ticket. The follow-ups were written for this benchmark after the rules
(`classifier_worker.priority`), which were not changed for them. Prints a table and writes
benchmarks/results/escalation.json.
"""

from __future__ import annotations

import argparse
import csv
import random
import sys
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.support import print_table, write_results  # noqa: E402
from classifier_worker.classifier import TicketClassifier, load_classifier  # noqa: E402
from shared.config import Settings  # noqa: E402
from shared.schemas import PRIORITY_RANK as RANK  # noqa: E402
from shared.schemas import Priority, TicketContext  # noqa: E402

DATA = ROOT / "benchmarks" / "data"
BATCH = 32


def openings(n: int, seed: int = 7) -> list[str]:
    """`n` labelled messages, round-robin over their categories so every category is opened."""
    by_category: dict[str, list[str]] = defaultdict(list)
    with open(DATA / "retrieval_queries.csv", newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            by_category[row["category"]].append(row["query"].strip())
    rng = random.Random(seed)
    for texts in by_category.values():
        rng.shuffle(texts)
    picked: list[str] = []
    while len(picked) < n and any(by_category.values()):
        for texts in by_category.values():
            if texts and len(picked) < n:
                picked.append(texts.pop())
    return picked


def follow_ups() -> list[tuple[str, str]]:
    with open(DATA / "escalation_follow_ups.csv", newline="", encoding="utf-8") as handle:
        return [(row["kind"], row["follow_up"].strip()) for row in csv.DictReader(handle)]


def classify(classifier: TicketClassifier, contexts: list[TicketContext]) -> tuple[list[Priority], float]:
    """Priorities in input order, and seconds spent, in batches as the worker runs them."""
    start = time.perf_counter()
    out: list[Priority] = []
    for i in range(0, len(contexts), BATCH):
        out += [r.priority for r in classifier.classify_batch(contexts[i : i + BATCH])]
    return out, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--openings", type=int, default=48)
    args = parser.parse_args()
    settings = Settings(groq_api_key=None)
    classifier = TicketClassifier(settings, load_classifier(settings).local)
    texts = openings(args.openings)
    pairs = [(text, kind, follow_up) for text in texts for kind, follow_up in follow_ups()]

    def context(i: int, text: str, follow_up: str | None = None) -> TicketContext:
        return TicketContext(ticket_id=f"B-{i}", subject=text[:40], description=text, follow_up=follow_up)

    classify(classifier, [context(0, texts[0])])  # warm-up
    opened, opened_s = classify(classifier, [context(i, t) for i, (t, _, _) in enumerate(pairs)])
    again, again_s = classify(classifier, [context(i, t, f) for i, (t, _, f) in enumerate(pairs)])

    rows = []
    for kind in ("calm", "angry", "critical"):
        moves = [(a, b) for (_, k, _), a, b in zip(pairs, opened, again, strict=True) if k == kind]
        n = len(moves)
        rows.append(
            {
                "kind": kind,
                "pairs": n,
                "raised": round(sum(RANK[b] > RANK[a] for a, b in moves) / n, 3),
                "high_or_more": round(sum(RANK[b] >= RANK[Priority.high] for _, b in moves) / n, 3),
                "high_or_more_before": round(sum(RANK[a] >= RANK[Priority.high] for a, _ in moves) / n, 3),
                "critical": round(sum(b == Priority.critical for _, b in moves) / n, 3),
                "critical_before": round(sum(a == Priority.critical for a, _ in moves) / n, 3),
                "lowered": round(sum(RANK[b] < RANK[a] for a, b in moves) / n, 3),
            }
        )
    per_ticket_ms = {
        "opening only": round(opened_s * 1000 / len(pairs), 2),
        "with the follow-up pass": round(again_s * 1000 / len(pairs), 2),
    }
    columns = ["kind", "pairs", "raised", "high_or_more_before", "high_or_more", "critical_before", "critical"]
    print_table(
        ["follow-up", "pairs", "raised", "high+ before", "high+ after", "critical before", "critical after", "lowered"],
        [[r[c] for c in [*columns, "lowered"]] for r in rows],
        floats=".3f",
    )
    print_table(["classification", "ms per ticket"], [[k, v] for k, v in per_ticket_ms.items()], floats=".2f")
    payload = {"benchmark": "escalation", "openings": len(texts), "rows": rows, "ms_per_ticket": per_ticket_ms}
    print(f"wrote {write_results('escalation', payload)}")


if __name__ == "__main__":
    main()
