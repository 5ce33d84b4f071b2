"""Check retrieval on your own labelled queries.

    python -m rag_worker.evaluate --queries FILE.csv [--mode dense|bm25|hybrid] [--n 3]

FILE.csv has columns `query,relevant` (relevant article ids joined by `|`). Runs the worker's own
retriever over the configured store (loading the shipped KB if it is empty) and prints one JSON
object: `n` (queries), `recall@1`, `recall@3` (share of queries with a relevant article in the
top k), `mrr` and `p50_ms` (search latency). Ranking is measured without the relevance threshold
unless `--threshold` is given.
"""

from __future__ import annotations

import argparse
import csv
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from rag_worker.retrieval import MODES, Mode, Retriever


def read_queries(path: Path) -> list[tuple[str, set[str]]]:
    """(query, relevant ids) rows; ValueError naming the first bad row."""
    with open(path, newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        if not reader.fieldnames or not {"query", "relevant"} <= set(reader.fieldnames):
            raise ValueError(f"{path} needs the columns query,relevant")
        rows = []
        for line, row in enumerate(reader, start=2):
            relevant = {r.strip() for r in (row["relevant"] or "").split("|") if r.strip()}
            if not (row["query"] or "").strip() or not relevant:
                raise ValueError(f"{path}:{line}: empty query or no relevant article id")
            rows.append((row["query"].strip(), relevant))
    if not rows:
        raise ValueError(f"{path} has no queries")
    return rows


def evaluate(
    retriever: Retriever, queries: list[tuple[str, set[str]]], *, mode: Mode = "hybrid", n: int = 3,
    min_relevance: float | None = None,
) -> dict[str, Any]:  # fmt: skip
    """Recall@1, recall@3, MRR and median latency of `retriever` on labelled queries."""
    retriever.search(queries[0][0], n=n, mode=mode)  # warm-up: first call pays for lazy set-up
    found_at: list[int | None] = []
    latencies: list[float] = []
    for query, relevant in queries:
        start = time.perf_counter()
        hits = retriever.search(query, n=n, mode=mode, min_relevance=min_relevance)
        latencies.append((time.perf_counter() - start) * 1000)
        ranks = [i for i, hit in enumerate(hits, start=1) if hit.article_id in relevant]
        found_at.append(ranks[0] if ranks else None)
    total = len(queries)
    return {
        "n": total,
        "recall@1": round(sum(1 for r in found_at if r == 1) / total, 4),
        "recall@3": round(sum(1 for r in found_at if r is not None and r <= 3) / total, 4),
        "mrr": round(sum(1 / r for r in found_at if r) / total, 4),
        "p50_ms": round(statistics.median(latencies), 2),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m rag_worker.evaluate", description=__doc__.splitlines()[0])
    parser.add_argument("--queries", type=Path, required=True, help="CSV with columns query,relevant")
    parser.add_argument("--mode", choices=MODES, default="hybrid")
    parser.add_argument("--n", type=int, default=3, help="results per query (1-20)")
    parser.add_argument(
        "--threshold",
        type=float,
        default=0.0,
        help="minimum relevance (default 0: ranking quality; pass KB_RELEVANCE_THRESHOLD to see what drafts get)",
    )
    args = parser.parse_args(argv)
    if not 1 <= args.n <= 20:
        parser.error("--n must be between 1 and 20")
    try:
        queries = read_queries(args.queries)
    except (OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2

    from rag_worker.retrieval import load_retriever
    from shared.config import get_settings

    retriever = load_retriever(get_settings())
    print(json.dumps(evaluate(retriever, queries, mode=args.mode, n=args.n, min_relevance=args.threshold)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
