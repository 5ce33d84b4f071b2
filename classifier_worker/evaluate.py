"""Score the classifier on your own labelled data, through the same code path the worker uses.

    python -m classifier_worker.evaluate --csv FILE --text-col C --label-col L \
        [--task category|sentiment|priority] [--label-map JSON] [--predictions-out FILE.csv]

Prints one JSON object: n, accuracy, macro_f1, per_class, confusion_matrix, ece, needs_review_rate.
`--label-map` maps your labels onto ours (inline JSON or a path to a JSON file); rows whose label
maps to null are skipped. The local provider is used unless `--provider llm` is given.
"""

from __future__ import annotations

import argparse
import csv
import itertools
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from shared.schemas import Category, Priority, Sentiment, TicketContext

TASK_LABELS = {
    "category": [c.value for c in Category],
    "sentiment": [s.value for s in Sentiment],
    "priority": [p.value for p in Priority],
}
BATCH = 32


def expected_calibration_error(confidence: np.ndarray, correct: np.ndarray, bins: int = 10) -> float:
    """ECE: the gap between confidence and accuracy, averaged over equal-width confidence bins."""
    edges = np.linspace(0.0, 1.0, bins + 1)
    total = 0.0
    for low, high in itertools.pairwise(edges):
        mask = (confidence > low) & (confidence <= high) if low > 0 else (confidence >= low) & (confidence <= high)
        if mask.any():
            total += mask.mean() * abs(confidence[mask].mean() - correct[mask].mean())
    return float(total)


def scores(
    labels: Sequence[str],
    predicted: Sequence[str],
    confidence: Sequence[float] | None,
    needs_review: Sequence[bool],
    classes: Sequence[str],
) -> dict[str, Any]:
    """The report: accuracy, macro-F1 over the classes present, per-class P/R/F1, confusion matrix, ECE."""
    from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, precision_recall_fscore_support

    present = [c for c in classes if c in set(labels) | set(predicted)]
    in_gold = [c for c in classes if c in set(labels)]
    precision, recall, f1, support = precision_recall_fscore_support(labels, predicted, labels=present, zero_division=0)
    y = np.array(labels)
    p = np.array(predicted)
    return {
        "n": len(labels),
        "accuracy": round(float(accuracy_score(y, p)), 4),
        # Macro over the classes that occur in the gold labels: a class nobody labelled cannot be scored.
        "macro_f1": round(float(f1_score(y, p, labels=in_gold, average="macro", zero_division=0)), 4),
        "per_class": {
            c: {
                "precision": round(float(precision[i]), 4),
                "recall": round(float(recall[i]), 4),
                "f1": round(float(f1[i]), 4),
                "support": int(support[i]),
            }
            for i, c in enumerate(present)
        },
        "confusion_matrix": {
            "labels": present,
            "matrix": confusion_matrix(y, p, labels=present).tolist(),
        },
        "ece": None
        if confidence is None
        else round(expected_calibration_error(np.asarray(confidence, dtype=float), y == p), 4),
        "needs_review_rate": round(float(np.mean(needs_review)), 4) if len(needs_review) else 0.0,
    }


def predict(classifier: Any, texts: list[str], task: str) -> tuple[list[str], list[float] | None, list[bool]]:
    """Predictions, their confidence (None for priority: it is rule-based) and review flags."""
    predicted: list[str] = []
    confidence: list[float] = []
    review: list[bool] = []
    for start in range(0, len(texts), BATCH):
        chunk = texts[start : start + BATCH]
        tickets = [TicketContext(ticket_id=f"eval-{start + i}", subject="", description=t) for i, t in enumerate(chunk)]
        results = classifier.classify_batch(tickets)
        if task == "sentiment":
            probs = classifier.local.predict(chunk)["sentiment_probs"]
            confidence.extend(float(x) for x in probs.max(axis=1))
        for result in results:
            predicted.append(getattr(result, task).value)
            review.append(result.needs_review)
            if task == "category":
                confidence.append(result.confidence)
    return predicted, (None if task == "priority" else confidence), review


def _label_map(value: str | None) -> dict[str, str | None]:
    if not value:
        return {}
    path = Path(value)
    text = path.read_text() if path.exists() else value
    try:
        mapping = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SystemExit(f"--label-map is neither a JSON object nor a JSON file: {exc}") from None
    if not isinstance(mapping, dict):
        raise SystemExit("--label-map must be a JSON object of your label -> our label")
    return mapping


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Evaluate the ticket classifier on a labelled CSV.")
    parser.add_argument("--csv", required=True, type=Path)
    parser.add_argument("--text-col", required=True)
    parser.add_argument("--label-col", required=True)
    parser.add_argument("--task", choices=sorted(TASK_LABELS), default="category")
    parser.add_argument("--label-map", help="JSON object (or file) mapping your labels to ours")
    parser.add_argument("--predictions-out", type=Path, help="write text,label,predicted,confidence,needs_review")
    parser.add_argument("--provider", choices=["local", "llm"], default="local")
    args = parser.parse_args(argv)

    if not args.csv.exists():
        parser.error(f"no such file: {args.csv}")
    with args.csv.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        missing = [c for c in (args.text_col, args.label_col) if c not in (reader.fieldnames or [])]
        if missing:
            parser.error(f"column(s) {missing} not in {args.csv} (columns: {reader.fieldnames})")
        rows = list(reader)

    mapping = _label_map(args.label_map)
    classes = TASK_LABELS[args.task]
    texts, labels = [], []
    for row in rows:
        raw = row[args.label_col].strip()
        label = mapping.get(raw, raw) if mapping else raw.lower()
        if label is None or not row[args.text_col].strip():
            continue
        texts.append(row[args.text_col])
        labels.append(label)
    unknown = sorted(set(labels) - set(classes))
    if unknown:
        parser.error(f"labels {unknown[:10]} are not {args.task} labels {classes}; map them with --label-map")
    if not texts:
        parser.error("no rows to evaluate")

    from classifier_worker.classifier import load_classifier
    from shared.config import get_settings

    settings = get_settings()
    if args.provider == "local":
        settings = settings.model_copy(update={"groq_api_key": None})
    classifier = load_classifier(settings)
    predicted, confidence, review = predict(classifier, texts, args.task)
    report = scores(labels, predicted, confidence, review, classes)
    report["task"] = args.task
    report["model"] = classifier.local.name if args.provider == "local" else settings.llm_model

    if args.predictions_out:
        with args.predictions_out.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(["text", "label", "predicted", "confidence", "needs_review"])
            for i, text in enumerate(texts):
                conf = "" if confidence is None else f"{confidence[i]:.4f}"
                writer.writerow([text, labels[i], predicted[i], conf, str(review[i]).lower()])
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
