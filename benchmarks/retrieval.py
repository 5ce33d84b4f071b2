"""Retrieval and drafting benchmark: recall@1/3 and MRR per mode, threshold trade-off, latencies, indexing.

    .venv/bin/python benchmarks/retrieval.py

Uses benchmarks/data/retrieval_queries.csv (labelled customer messages) and offtopic_queries.csv
(messages the KB cannot answer), on a fresh Chroma store in a temporary folder. Prints a table and
writes benchmarks/results/retrieval.json.
"""

from __future__ import annotations

import csv
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.support import write_results  # noqa: E402
from rag_worker.drafting import LocalDrafter  # noqa: E402
from rag_worker.evaluate import evaluate, read_queries  # noqa: E402
from rag_worker.kb import Article, read_articles  # noqa: E402
from rag_worker.retrieval import KBIndex, load_retriever  # noqa: E402
from shared.config import Settings  # noqa: E402
from shared.embeddings import get_embedder  # noqa: E402
from shared.schemas import TicketContext  # noqa: E402

DATA = ROOT / "benchmarks" / "data"
THRESHOLDS = (0.3, 0.4, 0.5, 0.6, 0.7)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def summary(values: list[float]) -> dict[str, float]:
    return {"p50": round(percentile(values, 0.5), 2), "p95": round(percentile(values, 0.95), 2)}


def synthetic_articles(count: int, seed: int = 7) -> list[Article]:
    """Articles assembled from shuffled paragraphs of the shipped KB, so lengths and vocabulary are realistic."""
    rng = random.Random(seed)
    paragraphs = [p for a in read_articles(ROOT / "rag_worker" / "kb") for p in a.content.split("\n\n") if p.strip()]
    return [
        Article(f"syn_{i:04d}", f"Synthetic policy {i}", "\n\n".join(f"## Part {j}\n{p}" for j, p in
                enumerate(rng.sample(paragraphs, 6)))) for i in range(count)
    ]  # fmt: skip


def measure_reconcile(tmp: Path, articles: list[Article]) -> dict[str, float]:
    """The sweeper's periodic index check over the 1,000 indexed articles (SQLite table): in step,
    and with one article whose delete task was lost."""
    from sqlalchemy.orm import sessionmaker

    from rag_worker.knowledge import reconcile_index, upsert_rows
    from rag_worker.retrieval import Retriever
    from shared.db import make_engine, run_migrations
    from shared.models import KBArticle

    url = f"sqlite:///{tmp / 'reconcile.db'}"
    run_migrations(url)
    engine = make_engine(url)
    factory = sessionmaker(engine)
    with factory() as session:
        upsert_rows(session, articles)
        session.query(KBArticle).update({"index_state": "indexed"})
        session.commit()
    index = KBIndex(Settings(chroma_path=str(tmp / "syn"), chroma_host=None), get_embedder())
    retriever = Retriever(index, get_embedder(), threshold=Settings().kb_relevance_threshold)

    def timed() -> tuple[float, dict[str, list[str]]]:
        with factory() as session:
            start = time.perf_counter()
            result = reconcile_index(session, retriever)
            session.commit()
        return (time.perf_counter() - start) * 1000, result

    in_step = [timed() for _ in range(5)]
    assert all(result == {"removed": [], "reindexed": []} for _, result in in_step), in_step
    with factory() as session:
        session.query(KBArticle).filter_by(article_id=articles[0].article_id).delete()
        session.commit()
    lost_ms, result = timed()
    assert result["removed"] == [articles[0].article_id], result
    engine.dispose()
    return {
        "in_step_ms_p50": round(percentile([ms for ms, _ in in_step], 0.5), 1),
        "one_lost_delete_ms": round(lost_ms, 1),
    }


def main() -> None:
    queries = read_queries(DATA / "retrieval_queries.csv")
    with open(DATA / "offtopic_queries.csv", newline="") as handle:
        offtopic = [row["query"] for row in csv.DictReader(handle)]
    results: dict[str, object] = {"queries": len(queries), "offtopic_queries": len(offtopic)}

    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(chroma_path=str(Path(tmp) / "kb"), chroma_host=None)
        retriever = load_retriever(settings)

        # Ranking quality per mode (no threshold).
        modes = {mode: evaluate(retriever, queries, mode=mode, n=3, min_relevance=0.0) for mode in
                 ("dense", "bm25", "hybrid")}  # fmt: skip
        results["modes"] = modes

        # The threshold trade-off: questions that keep a relevant article vs off-topic messages that get none.
        sweep = []
        for threshold in THRESHOLDS:
            answered = sum(
                any(h.article_id in rel for h in retriever.search(q, n=3, min_relevance=threshold))
                for q, rel in queries
            )
            rejected = sum(not retriever.search(q, n=3, min_relevance=threshold) for q in offtopic)
            sweep.append(
                {
                    "threshold": threshold,
                    "relevant_kept": round(answered / len(queries), 4),
                    "offtopic_rejected": round(rejected / len(offtopic), 4),
                }
            )
        results["threshold_sweep"] = sweep

        # Warm search latency (hybrid, default settings).
        latencies = []
        for _ in range(3):
            for q, _rel in queries:
                start = time.perf_counter()
                retriever.search(q, n=3)
                latencies.append((time.perf_counter() - start) * 1000)
        results["search_ms"] = summary(latencies)

        # Local draft latency (retrieval excluded), warm; and which articles the drafts cite.
        drafter = LocalDrafter(get_embedder())
        draft_ms = []
        cited_relevant: list[float] = []  # per grounded draft: share of its cited articles that are relevant
        for i, (q, rel) in enumerate(queries * 2):
            ticket = TicketContext(ticket_id=f"T{i}", subject=q[:60], description=q, customer_name="Alex")
            hits = retriever.search(q, n=3)
            start = time.perf_counter()
            draft = drafter.draft(ticket, hits)
            draft_ms.append((time.perf_counter() - start) * 1000)
            cited = [a["article_id"] for a in draft.articles]
            if i < len(queries) and cited:
                cited_relevant.append(sum(a in rel for a in cited) / len(cited))
        results["local_draft_citations"] = {
            "grounded_drafts": len(cited_relevant),
            "cited_articles_relevant": round(sum(cited_relevant) / max(1, len(cited_relevant)), 4),
            "drafts_citing_a_relevant_article": round(
                sum(share > 0 for share in cited_relevant) / max(1, len(cited_relevant)), 4
            ),
        }
        results["local_draft_ms"] = summary(draft_ms)

        # Indexing 1,000 synthetic articles into a fresh collection.
        articles = synthetic_articles(1000)
        index = KBIndex(Settings(chroma_path=str(Path(tmp) / "syn"), chroma_host=None), get_embedder())
        start = time.perf_counter()
        counts = index.load_articles(articles)
        results["index_1000_articles"] = {"seconds": round(time.perf_counter() - start, 1), **counts}
        results["reconcile_1000_articles"] = measure_reconcile(Path(tmp), articles)

    out = write_results("retrieval", results)

    print(f"{'mode':<8} {'recall@1':>9} {'recall@3':>9} {'MRR':>6}  ({len(queries)} queries)")
    for mode, m in modes.items():
        print(f"{mode:<8} {m['recall@1']:>9.3f} {m['recall@3']:>9.3f} {m['mrr']:>6.3f}")
    print()
    print(f"{'threshold':>9} {'relevant kept':>14} {'off-topic rejected':>19}")
    for row in sweep:
        print(f"{row['threshold']:>9.2f} {row['relevant_kept']:>14.3f} {row['offtopic_rejected']:>19.3f}")
    print(f"\nsearch (hybrid, warm)   p50 {results['search_ms']['p50']} ms   p95 {results['search_ms']['p95']} ms")  # type: ignore[index]
    print(
        f"local draft (warm)      p50 {results['local_draft_ms']['p50']} ms   p95 {results['local_draft_ms']['p95']} ms"
    )  # type: ignore[index]
    cites = results["local_draft_citations"]
    print(
        f"local draft citations   {cites['cited_articles_relevant']:.3f} of cited articles relevant, "  # type: ignore[index]
        f"{cites['drafts_citing_a_relevant_article']:.3f} of drafts cite one ({cites['grounded_drafts']} drafts)"  # type: ignore[index]
    )
    idx = results["index_1000_articles"]
    print(f"index 1,000 articles    {idx['seconds']} s ({idx['passages']} passages)")  # type: ignore[index]
    rec = results["reconcile_1000_articles"]
    print(
        f"index check, 1,000      in step p50 {rec['in_step_ms_p50']} ms; "  # type: ignore[index]
        f"one lost delete {rec['one_lost_delete_ms']} ms"  # type: ignore[index]
    )
    print(f"\nwrote {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
