"""The one macro-F1: scores of a single-label classifier from gold and predicted labels (numpy only).

The training loop selects its best epoch with these (:func:`pipeline.training.loop.classifier_scores`)
and the evaluation reports them (:mod:`pipeline.evaluation.compare`), so that both give one number.

Conventions (those of scikit-learn with ``zero_division=0``): a class never predicted has precision
0; macro-F1 averages over the classes that occur in gold or predictions (a class absent from both
is no mistake), weighted-F1 weights each class by its gold support.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def confusion_matrix(gold: Sequence[str], pred: Sequence[str], labels: Sequence[str]) -> np.ndarray:
    """Counts (n_labels, n_labels): rows are gold labels, columns predicted labels, in ``labels`` order."""
    if len(gold) != len(pred):
        raise ValueError(f"{len(gold)} gold labels but {len(pred)} predictions")
    index = {label: i for i, label in enumerate(labels)}
    unknown = (set(gold) | set(pred)) - set(index)
    if unknown:
        raise ValueError(f"labels {sorted(unknown)} are not in {list(labels)}")
    matrix = np.zeros((len(labels), len(labels)), dtype=np.int64)
    np.add.at(matrix, ([index[g] for g in gold], [index[p] for p in pred]), 1)
    return matrix


def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    return np.divide(numerator, denominator, out=np.zeros(len(numerator)), where=denominator > 0)


def scores_from_confusion(matrix: np.ndarray, labels: Sequence[str]) -> dict:
    """Accuracy, macro-/weighted-F1 and per-class precision/recall/F1/support of a confusion matrix."""
    true_positive = np.diag(matrix).astype(float)  # (n_labels,)
    support = matrix.sum(axis=1).astype(float)  # gold count per class
    predicted = matrix.sum(axis=0).astype(float)  # predicted count per class
    precision = _ratio(true_positive, predicted)
    recall = _ratio(true_positive, support)
    f1 = _ratio(2 * precision * recall, precision + recall)
    occurring = (support + predicted) > 0
    total = support.sum()
    return {
        "accuracy": float(true_positive.sum() / total) if total else 0.0,
        "macro_f1": float(f1[occurring].mean()) if occurring.any() else 0.0,
        "weighted_f1": float((f1 * support).sum() / total) if total else 0.0,
        "per_class": {
            label: {"precision": float(p), "recall": float(r), "f1": float(f), "support": int(s)}
            for label, p, r, f, s in zip(labels, precision, recall, f1, support)
        },
    }


def classification_scores(gold: Sequence[str], pred: Sequence[str], labels: Sequence[str]) -> dict:
    """Accuracy, macro_f1, weighted_f1, per_class {label: precision/recall/f1/support} and confusion.

    ``confusion`` is the matrix of :func:`confusion_matrix` as nested lists (JSON-ready).
    """
    matrix = confusion_matrix(gold, pred, labels)
    return {**scores_from_confusion(matrix, labels), "confusion": matrix.tolist()}
