"""Classifier benchmark: held-out accuracy, e-commerce set, out-of-scope gate, sentiment, entities, speed.

    .venv/bin/python benchmarks/classify.py

Uses the served artifact (trained on the 80% split; the 20% held-out split was never trained on).
Also scored, never trained on: `eval_ecommerce.csv` (e-commerce messages written for evaluation, with
category and sentiment), `eval_sentiment_banking77.csv` (real BANKING77 queries labelled for
sentiment) and `eval_out_of_scope.csv`. Prints a table and writes benchmarks/results/classify.json.

    .venv/bin/python benchmarks/classify.py --speed-only

times only the speed rows (a minute; for re-timing when a shared machine is quiet) and writes
benchmarks/results/classify_speed.json, leaving the full report alone.
"""

from __future__ import annotations

import argparse
import csv
import os
import resource
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.support import write_results  # noqa: E402
from classifier_worker import train  # noqa: E402
from classifier_worker.classifier import EMBED_BATCH, load_classifier  # noqa: E402
from classifier_worker.entities import extract_order_ids  # noqa: E402
from classifier_worker.evaluate import TASK_LABELS, scores  # noqa: E402
from shared.config import Settings  # noqa: E402
from shared.schemas import TicketContext  # noqa: E402

SHARED = ROOT.parent / "shared" / "data"


def tickets(texts: list[str]) -> list[TicketContext]:
    return [TicketContext(ticket_id=f"b{i}", subject="", description=t) for i, t in enumerate(texts)]


def classify_all(classifier, texts: list[str], batch: int = 32):  # type: ignore[no-untyped-def]
    out = []
    for start in range(0, len(texts), batch):
        out.extend(classifier.classify_batch(tickets(texts[start : start + batch])))
    return out


def read(name: str) -> list[dict[str, str]]:
    with (train.DATA_DIR / name).open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def sentiment_scores(results, labels: list[str]) -> dict[str, object]:  # type: ignore[no-untyped-def]
    predicted = [r.sentiment.value for r in results]
    return scores(labels, predicted, None, [False] * len(labels), TASK_LABELS["sentiment"])


def measure_speed(classifier, texts: list[str]) -> dict[str, object]:  # type: ignore[no-untyped-def]
    """Tickets/s at batch 32 and 1 and p50 per ticket, for the classifier and the bare embedding call.

    The machines are shared: the load average says how much else was running while this was timed.
    """
    load_before = os.getloadavg()
    embedder = classifier.local.embedder
    speed: dict[str, object] = {}
    for name, fn_batch in (
        # The same embedding call the classifier makes (32 tickets, run in sub-batches of EMBED_BATCH).
        ("embedding", lambda chunk: embedder.encode(chunk, batch_size=EMBED_BATCH)),
        ("classifier", lambda chunk: classifier.classify_batch(tickets(chunk))),
    ):
        fn_batch(texts[:32])
        started = time.perf_counter()
        for start in range(0, len(texts), 32):
            fn_batch(texts[start : start + 32])
        speed[f"{name}_per_s_batch32"] = round(len(texts) / (time.perf_counter() - started), 1)
        latencies = []
        for text in texts[:200]:
            t0 = time.perf_counter()
            fn_batch([text])
            latencies.append(time.perf_counter() - t0)
        speed[f"{name}_per_s_batch1"] = round(len(latencies) / sum(latencies), 1)
        speed[f"{name}_p50_ms"] = round(statistics.median(latencies) * 1000, 2)
    speed["embedding_sub_batch"] = EMBED_BATCH
    speed["worker_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    speed["load_average"] = {
        "before": [round(x, 2) for x in load_before],
        "after": [round(x, 2) for x in os.getloadavg()],
        "cpus": os.cpu_count(),
    }
    return speed


def print_speed(speed: dict[str, object]) -> None:
    for key, value in speed.items():
        if key != "load_average":
            print(f"{key:<52}{value:>10}")
    load = speed["load_average"]
    print(f"load average (1/5/15 min) before: {load['before']}, after: {load['after']} on {load['cpus']} cpus")  # type: ignore[index]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--speed-only", action="store_true", help="time the speed rows only")
    args = parser.parse_args()
    settings = Settings(groq_api_key=None)
    classifier = load_classifier(settings)
    if args.speed_only:
        _, held_out = train.split_examples(train.load_category_examples())
        speed = measure_speed(classifier, [e.text for e in held_out[:640]])
        write_results("classify_speed", {"model": classifier.local.name, "speed": speed})
        print_speed(speed)
        return
    report: dict[str, object] = {"model": classifier.local.name, "artifact": classifier.local.metadata}

    # Category on the held-out 20%.
    _, held_out = train.split_examples(train.load_category_examples())
    results = classify_all(classifier, [e.text for e in held_out])
    category: dict[str, object] = {}
    for part in ("all", *(source for source, _ in train.SOURCES)):
        idx = [i for i, e in enumerate(held_out) if part == "all" or e.source == part]
        category[part] = scores(
            [held_out[i].category for i in idx],
            [results[i].category.value for i in idx],
            [results[i].confidence for i in idx],
            [results[i].needs_review for i in idx],
            TASK_LABELS["category"],
        )
    report["category_held_out"] = category

    # E-commerce messages written for evaluation only (other phrasings than the training ones).
    ecommerce = read("eval_ecommerce.csv")
    e_results = classify_all(classifier, [r["text"] for r in ecommerce])
    report["ecommerce_eval"] = scores(
        [r["category"] for r in ecommerce],
        [x.category.value for x in e_results],
        [x.confidence for x in e_results],
        [x.needs_review for x in e_results],
        TASK_LABELS["category"],
    )

    # Out of scope: a set we wrote, never trained on.
    oos = [r["text"] for r in read("eval_out_of_scope.csv")]
    oos_results = classify_all(classifier, oos)
    caught = np.mean([r.needs_review or r.category.value == "general" for r in oos_results])
    real_flagged = np.mean([r.needs_review for r in results])
    report["out_of_scope"] = {
        "n": len(oos),
        "caught_rate": round(float(caught), 4),
        "real_tickets_needs_review_rate": round(float(real_flagged), 4),
    }

    # Sentiment on real customer queries (BANKING77, labelled by hand for this benchmark), on our
    # e-commerce evaluation messages, and on GoEmotions' test split (Reddit: a proxy).
    sentiment: dict[str, object] = {}
    banking = read("eval_sentiment_banking77.csv")
    b_results = classify_all(classifier, [r["text"] for r in banking])
    sentiment["banking77_labelled"] = sentiment_scores(b_results, [r["label"] for r in banking])
    idx = [i for i, r in enumerate(banking) if r["sample"] == "random"]
    sentiment["banking77_labelled_random_part"] = sentiment_scores(
        [b_results[i] for i in idx], [banking[i]["label"] for i in idx]
    )
    sentiment["ecommerce_eval"] = sentiment_scores(e_results, [r["sentiment"] for r in ecommerce])
    go_path = SHARED / "sentiment" / "test.csv"
    if go_path.exists():
        rows = list(csv.DictReader(go_path.open()))
        s_results = classify_all(classifier, [r["text"] for r in rows])
        sentiment["goemotions_test"] = sentiment_scores(s_results, [r["label"] for r in rows])
    report["sentiment"] = sentiment

    # Order ids against Bitext's labelled spans (leading zeros are dropped in some labels).
    rows = read("bitext.csv")
    tp = fp = fn = 0
    for row in rows:
        gold = {row["entity_value"].lstrip("0")} if row["entity_type"] == "order_id" else set()
        found = {x.lstrip("0") for x in extract_order_ids(row["text"])}
        # A label truncated from the id in the text (a known Bitext quirk) still counts as found.
        hit = {g for g in gold if any(g in f for f in found)}
        tp += len(hit)
        fn += len(gold - hit)
        fp += len(found) - len(hit) if found else 0
    report["order_ids_bitext"] = {
        "precision": round(tp / max(tp + fp, 1), 4),
        "recall": round(tp / max(tp + fn, 1), 4),
        "n_labelled": tp + fn,
    }

    report["speed"] = measure_speed(classifier, [e.text for e in held_out[:640]])

    write_results("classify", report)
    print(f"{'metric':<60}{'value':>10}")
    for part, values in category.items():
        print(f"{'category macro-F1 held-out ' + part:<60}{values['macro_f1']:>10}")  # type: ignore[index]
        print(f"{'category accuracy held-out ' + part:<60}{values['accuracy']:>10}")  # type: ignore[index]
    print(f"{'category ECE held-out all':<60}{category['all']['ece']:>10}")  # type: ignore[index]
    e_report = report["ecommerce_eval"]
    for key in ("n", "accuracy", "macro_f1", "needs_review_rate", "ece"):
        print(f"{'e-commerce eval set ' + key:<60}{e_report[key]:>10}")  # type: ignore[index]
    for name, values in e_report["per_class"].items():  # type: ignore[index]
        row = f"P {values['precision']:.2f} R {values['recall']:.2f} F1 {values['f1']:.2f} n={values['support']}"
        print(f"{'  e-commerce ' + name:<50}{row:>20}")
    for key, value in report["out_of_scope"].items():  # type: ignore[union-attr]
        print(f"{'out-of-scope ' + key:<60}{value:>10}")
    for name, values in sentiment.items():
        print(f"{'sentiment macro-F1 ' + name + ' (n=' + str(values['n']) + ')':<60}{values['macro_f1']:>10}")  # type: ignore[index]
        for label, v in values["per_class"].items():  # type: ignore[index]
            if not v["support"]:
                continue  # predicted but never labelled: no F1 to speak of
            print(f"{'  F1 ' + label + ' (n=' + str(v['support']) + ')':<60}{v['f1']:>10}")
    for key, value in report["order_ids_bitext"].items():  # type: ignore[union-attr]
        print(f"{'order ids (Bitext spans) ' + key:<52}{value:>10}")
    print_speed(report["speed"])  # type: ignore[arg-type]


if __name__ == "__main__":
    main()
