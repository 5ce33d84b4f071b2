"""Follow-up drafting benchmark: does a draft written after the customer wrote back answer their new message?

    .venv/bin/python benchmarks/follow_ups.py

Pairs the labelled customer messages of benchmarks/data/retrieval_queries.csv into conversations: a ticket
opened with one message (its subject is that message's first words, its category the message's label) and a
follow-up, one of three kinds per labelled message: another message about the same article; one about another
category's article (the customer moves on); or a vague one from vague_follow_ups.csv ("Any update on this?")
that only the opening makes answerable. Each follow-up is searched in the shipped KB (hybrid, top 3) by:

- `opening only`: the ticket's own text, what the draft answered before a follow-up redrafted it;
- the follow-up put first, last, or alone, with or without the opening's category as a hint; `merged`
  (reciprocal-rank fusion of the follow-up alone and put first);
- `served`: what the draft step does (`rag_worker.drafting.grounding`: the follow-up alone, else put first).

and reports recall@1/3 of the articles that answer the follow-up. Then it drafts each follow-up locally, with
the opening's draft as the agent's last reply, and counts the quoted KB sentences that reply had already sent
(before this redraft, the stale draft repeated all of them), the drafts citing an answering article, and the
drafts left for review. The rules were chosen on these same 124 messages: there is no held-out set.
Prints a table and writes benchmarks/results/follow_ups.json.
"""

from __future__ import annotations

import csv
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.support import write_results  # noqa: E402
from rag_worker.drafting import LocalDrafter, grounding, search_text, split_units  # noqa: E402
from rag_worker.retrieval import load_retriever  # noqa: E402
from shared.config import Settings  # noqa: E402
from shared.embeddings import get_embedder  # noqa: E402
from shared.schemas import TicketContext  # noqa: E402

DATA = ROOT / "benchmarks" / "data"
SEED = 11


def read_labelled() -> list[tuple[str, set[str], str]]:
    with open(DATA / "retrieval_queries.csv", newline="", encoding="utf-8") as handle:
        return [
            (row["query"].strip(), set(row["relevant"].split("|")), row["category"].strip())
            for row in csv.DictReader(handle)
        ]


Pair = tuple[int, str, set[str]]  # the opening message's row, the follow-up, the articles that answer it


def conversations(rows: list[tuple[str, set[str], str]], vague: list[str], rng: random.Random) -> dict[str, list[Pair]]:
    """One pair per labelled message and kind: it follows a message about the same article, or another
    category's; or it opens the ticket and a message that only makes sense with it follows."""
    pairs: dict[str, list[Pair]] = {"same article": [], "another category": [], "vague": []}
    for j, (text, relevant, category) in enumerate(rows):
        same = [i for i, (_, rel, _) in enumerate(rows) if i != j and rel & relevant]
        other = [i for i, (_, rel, cat) in enumerate(rows) if cat != category and not rel & relevant]
        if same:
            pairs["same article"].append((rng.choice(same), text, relevant))
        if other:
            pairs["another category"].append((rng.choice(other), text, relevant))
        pairs["vague"].append((j, rng.choice(vague), relevant))
    return pairs


def read_vague() -> list[str]:
    with open(DATA / "vague_follow_ups.csv", newline="", encoding="utf-8") as handle:
        return [row["follow_up"].strip() for row in csv.DictReader(handle)]


def context(opening: tuple[str, set[str], str], follow_up: str | None, last_reply: str | None) -> TicketContext:
    text, _, category = opening
    return TicketContext(
        ticket_id="bench",
        subject=" ".join(text.split()[:6]),
        description=text,
        customer_name="Alex Doe",
        category=category,
        follow_up=follow_up,
        last_reply=last_reply,
    )


def _merged(retriever, ticket: TicketContext, n: int = 3) -> list:  # type: ignore[no-untyped-def]
    a = retriever.search(ticket.follow_up or "", n=n, min_relevance=0.0)
    b = retriever.search(search_text(ticket), n=n, category=ticket.category, min_relevance=0.0)
    score: dict[str, float] = {}
    for hits in (a, b):
        for rank, h in enumerate(hits):
            score[h.article_id] = score.get(h.article_id, 0.0) + 1 / (60 + rank)
    best = {h.article_id: h for h in [*b, *a]}
    return [best[k] for k in sorted(score, key=lambda k: -score[k])][:n]


def _served(retriever, ticket: TicketContext) -> list:  # type: ignore[no-untyped-def]
    return grounding(retriever.search, ticket)


def _plain(text_of, hint: bool):  # type: ignore[no-untyped-def]
    def search(retriever, ticket: TicketContext) -> list:  # type: ignore[no-untyped-def]
        return retriever.search(text_of(ticket), n=3, category=ticket.category if hint else None, min_relevance=0.0)

    return search


VARIANTS = {
    "opening only": _plain(lambda t: f"{t.subject}\n{t.description}", True),
    "follow-up first": _plain(search_text, True),
    "follow-up first, no hint": _plain(search_text, False),
    "follow-up last": _plain(lambda t: f"{t.subject}\n{t.description}\n{t.follow_up}", True),
    "follow-up only": _plain(lambda t: t.follow_up or "", True),
    "follow-up only, no hint": _plain(lambda t: t.follow_up or "", False),
    "merged": _merged,
    "served: alone, else with it": _served,
}


def quoted(reply: str, passages: list[str]) -> set[str]:
    """The KB sentences, steps and bullets a reply quotes."""
    units = {u.text.rstrip(".!?:") for i, p in enumerate(passages) for u in split_units(p, i)}
    return {u for u in units if u in reply}


def main() -> None:
    rows = read_labelled()
    rng = random.Random(SEED)
    pairs = conversations(rows, read_vague(), rng)
    results: dict[str, object] = {"labelled_messages": len(rows), "pairs": {k: len(v) for k, v in pairs.items()}}
    with tempfile.TemporaryDirectory() as tmp:
        retriever = load_retriever(Settings(chroma_path=str(Path(tmp) / "kb"), chroma_host=None))
        retriever.search("warm up", n=3)
        recall: dict[str, dict[str, dict[str, float]]] = {}
        for kind, kind_pairs in pairs.items():
            recall[kind] = {}
            for name, strategy in VARIANTS.items():
                at1 = at3 = 0
                for i, follow_up, relevant in kind_pairs:
                    ticket = context(rows[i], follow_up, None)
                    hits = strategy(retriever, ticket)
                    ids = [h.article_id for h in hits]
                    at1 += bool(ids[:1] and ids[0] in relevant)
                    at3 += any(a in relevant for a in ids)
                recall[kind][name] = {
                    "recall@1": round(at1 / len(kind_pairs), 4),
                    "recall@3": round(at3 / len(kind_pairs), 4),
                }
        results["recall"] = recall

        # Drafting: the opening's draft is what the customer was sent; the follow-up's draft should add to it.
        drafter = LocalDrafter(get_embedder())
        repeats: dict[str, dict[str, float]] = {}
        latencies: list[float] = []
        for kind, kind_pairs in pairs.items():
            stats = {
                "quoted": 0,
                "repeated_before": 0,
                "repeated_now": 0,
                "cites_follow_up_article": 0,
                "needs_review": 0,
                "n": 0,
            }
            for i, follow_up, relevant in kind_pairs:
                opening = context(rows[i], None, None)
                first_hits = grounding(retriever.search, opening)
                sent = drafter.draft(opening, first_hits).reply
                # Before: the follow-up did not change the draft; the agent saw the same quotes again.
                stale = quoted(sent, [h.passage for h in first_hits])
                ticket = context(rows[i], follow_up, sent)
                start = time.perf_counter()
                hits = grounding(retriever.search, ticket)
                draft = drafter.draft(ticket, hits)
                latencies.append((time.perf_counter() - start) * 1000)
                now = quoted(draft.reply, [h.passage for h in hits])
                stats["n"] += 1
                stats["quoted"] += len(now)
                stats["repeated_before"] += len(stale)
                stats["repeated_now"] += len(now & stale)
                stats["needs_review"] += draft.needs_review
                stats["cites_follow_up_article"] += any(a["article_id"] in relevant for a in draft.articles)
            n = stats["n"]
            repeats[kind] = {
                "drafts": n,
                "quotes_per_draft": round(stats["quoted"] / n, 2),
                "repeated_per_draft_before": round(stats["repeated_before"] / n, 2),
                "repeated_per_draft_now": round(stats["repeated_now"] / n, 2),
                "cites_follow_up_article": round(stats["cites_follow_up_article"] / n, 4),
                "needs_review": round(stats["needs_review"] / n, 4),
            }
        results["drafting"] = repeats
        results["search_and_draft_ms_p50"] = round(statistics.median(latencies), 1)

    print(f"{len(rows)} labelled messages; pairs: " + ", ".join(f"{k} {v}" for k, v in results["pairs"].items()))
    print(f"\n{'query':<30}" + "".join(f"{k + ' r@1':>22}{k + ' r@3':>22}" for k in pairs))
    for name in VARIANTS:
        cells = "".join(f"{recall[k][name]['recall@1']:>22.3f}{recall[k][name]['recall@3']:>22.3f}" for k in pairs)
        print(f"{name:<30}{cells}")
    print(
        f"\n{'local draft':<18}{'quotes':>8}{'already sent: before':>22}{'now':>6}"
        f"{'cites follow-up article':>25}{'needs review':>14}"
    )
    for kind, row in repeats.items():
        print(
            f"{kind:<18}{row['quotes_per_draft']:>8.2f}{row['repeated_per_draft_before']:>22.2f}"
            f"{row['repeated_per_draft_now']:>6.2f}{row['cites_follow_up_article']:>25.3f}{row['needs_review']:>14.3f}"
        )
    print(f"\nsearch + local draft of a follow-up: p50 {results['search_and_draft_ms_p50']} ms")
    write_results("follow_ups", results)


if __name__ == "__main__":
    main()
