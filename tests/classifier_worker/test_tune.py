"""The tuning helpers: a fast macro-F1 that agrees with sklearn's, and folds that keep each source apart."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import f1_score

from classifier_worker.tune import FOLDS, macro_f1, per_source_folds


def test_macro_f1_matches_sklearn_over_gold_labels() -> None:
    rng = np.random.default_rng(0)
    gold = rng.integers(0, 6, 500)  # labels 6..8 never occur in gold: not averaged
    predicted = np.where(rng.random(500) < 0.7, gold, rng.integers(0, 9, 500))
    expected = f1_score(gold, predicted, labels=sorted(set(gold)), average="macro")
    assert abs(macro_f1(gold, predicted, 9) - expected) < 1e-12


def test_folds_cover_every_row_once_and_a_source_keeps_its_folds() -> None:
    y = np.repeat(np.arange(10), 12)
    sources = np.array(["a"] * 60 + ["b"] * 60)
    folds = per_source_folds(sources, y)
    validated = np.concatenate([val for _, val in folds])
    assert len(folds) == FOLDS and sorted(validated) == list(range(120))
    for fit, val in folds:
        assert not set(fit) & set(val)
    # More rows for source "b" (appended after "a", as the loader orders them) leave source "a"'s folds unchanged.
    grown = per_source_folds(np.array(["a"] * 60 + ["b"] * 90), np.concatenate([y, np.arange(5, 10).repeat(6)]))
    for (_, before), (_, after) in zip(folds, grown, strict=True):
        assert list(before[before < 60]) == list(after[after < 60])
