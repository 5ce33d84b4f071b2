"""The evaluate CLI's contract: one JSON object with the issue's keys, a predictions CSV, label maps."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest

from classifier_worker import evaluate, train

ROOT = Path(__file__).resolve().parents[2]
KEYS = {"n", "accuracy", "macro_f1", "per_class", "confusion_matrix", "ece", "needs_review_rate"}


@pytest.fixture(scope="module")
def labelled_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Twenty rows of the shipped e-commerce evaluation set, under a user's own column and label names."""
    with (train.DATA_DIR / "eval_ecommerce.csv").open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))[::8][:20]
    path = tmp_path_factory.mktemp("eval") / "mine.csv"
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["message", "topic", "mood"])
        for row in rows:
            writer.writerow([row["text"], row["category"].upper(), row["sentiment"]])
    return path


def test_cli_prints_the_report_and_writes_predictions(labelled_csv: Path, tmp_path: Path) -> None:
    """Run as a user would: `python -m classifier_worker.evaluate ...` in a subprocess."""
    out = tmp_path / "predictions.csv"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "classifier_worker.evaluate",
            "--csv",
            str(labelled_csv),
            "--text-col",
            "message",
            "--label-col",
            "topic",
            "--predictions-out",
            str(out),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=True,
    )
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert set(report) >= KEYS
    assert report["n"] == 20
    assert 0.7 <= report["accuracy"] <= 1.0 and 0 <= report["macro_f1"] <= 1
    assert 0 <= report["ece"] <= 1 and 0 <= report["needs_review_rate"] <= 1
    matrix = report["confusion_matrix"]
    assert sum(map(sum, matrix["matrix"])) == 20 and len(matrix["labels"]) == len(matrix["matrix"])
    assert sum(v["support"] for v in report["per_class"].values()) == 20

    with out.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == ["text", "label", "predicted", "confidence", "needs_review"]
    assert len(rows) == 20
    # Labels were lower-cased onto ours; the predictions agree with the printed accuracy.
    assert all(r["label"] in evaluate.TASK_LABELS["category"] for r in rows)
    assert sum(r["label"] == r["predicted"] for r in rows) / 20 == pytest.approx(report["accuracy"], abs=1e-4)
    assert all(0 <= float(r["confidence"]) <= 1 and r["needs_review"] in {"true", "false"} for r in rows)


def test_sentiment_task_with_a_label_map(labelled_csv: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A label map renames labels and drops rows mapped to null."""
    mapping = json.dumps({"negative": "negative", "neutral": "neutral", "positive": None})
    args = ["--csv", str(labelled_csv), "--text-col", "message", "--label-col", "mood", "--task", "sentiment"]
    assert evaluate.main([*args, "--label-map", mapping]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["task"] == "sentiment"
    assert set(report["per_class"]) <= {"negative", "neutral", "positive"}
    with labelled_csv.open(newline="", encoding="utf-8") as handle:
        kept = sum(row["mood"] != "positive" for row in csv.DictReader(handle))
    assert report["n"] == kept


def test_unknown_labels_are_refused(labelled_csv: Path) -> None:
    """Labels that are not ours, unmapped, stop the run with a message instead of scoring nonsense."""
    with pytest.raises(SystemExit):
        evaluate.main(["--csv", str(labelled_csv), "--text-col", "message", "--label-col", "mood"])
