"""Span scores from gold and predicted spans (plain tuples, no spaCy): precision / recall / F1 by exact match
and by overlap, micro over all spans, per type and macro over types.

A span is ``(doc_index, start, end, label)`` (token or character offsets, the same for gold and predicted).

* exact: a predicted span is right when a gold span has the same offsets and label;
* overlap: a predicted span is right when it shares at least one position with a gold span of its label,
  and a gold span is found when a predicted span of its label shares a position with it (precision counts
  predicted spans, recall gold spans, so one long prediction covering two gold spans finds both).

Training selects its epoch with these (``{component}_f``: exact micro F1) and the evaluation reports them.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence

Span = tuple  # (doc_index, start, end, label)


def _prf(tp_p: int, n_pred: int, tp_r: int, n_gold: int) -> dict:
    p = tp_p / n_pred if n_pred else 0.0
    r = tp_r / n_gold if n_gold else 0.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    return {"p": p, "r": r, "f": f, "n_gold": n_gold, "n_pred": n_pred}


def _overlaps(a: Span, b: Span) -> bool:
    return a[0] == b[0] and a[1] < b[2] and b[1] < a[2]


def _matches(gold: Sequence[Span], pred: Sequence[Span], mode: str) -> tuple[list[bool], list[bool]]:
    """(is each predicted span right, is each gold span found) under ``mode`` (exact | overlap), labels equal."""
    if mode == "exact":
        gold_set, pred_set = set(gold), set(pred)
        return [p in gold_set for p in pred], [g in pred_set for g in gold]
    by_doc_label: dict = defaultdict(list)
    for g in gold:
        by_doc_label[(g[0], g[3])].append(g)
    pred_by: dict = defaultdict(list)
    for p in pred:
        pred_by[(p[0], p[3])].append(p)
    pred_ok = [any(_overlaps(p, g) for g in by_doc_label[(p[0], p[3])]) for p in pred]
    gold_ok = [any(_overlaps(g, p) for p in pred_by[(g[0], g[3])]) for g in gold]
    return pred_ok, gold_ok


def span_scores(gold: Iterable[Span], pred: Iterable[Span], labels: Sequence[str] | None = None) -> dict:
    """``{"exact": {...}, "overlap": {...}}``, each with ``micro`` P/R/F, ``macro`` (mean over ``labels``, default
    the labels of gold and predicted spans) and ``per_type`` ``{label: P/R/F, n_gold, n_pred}``."""
    gold, pred = list(gold), list(pred)
    labels = sorted({s[3] for s in gold} | {s[3] for s in pred}) if labels is None else list(labels)
    result = {}
    for mode in ("exact", "overlap"):
        pred_ok, gold_ok = _matches(gold, pred, mode)
        micro = _prf(sum(pred_ok), len(pred), sum(gold_ok), len(gold))
        per_type = {}
        for label in labels:
            pi = [ok for s, ok in zip(pred, pred_ok) if s[3] == label]
            gi = [ok for s, ok in zip(gold, gold_ok) if s[3] == label]
            per_type[label] = _prf(sum(pi), len(pi), sum(gi), len(gi))
        present = [per_type[label] for label in labels]
        macro = {k: (sum(t[k] for t in present) / len(present) if present else 0.0) for k in ("p", "r", "f")}
        result[mode] = {"micro": micro, "macro": macro, "per_type": per_type}
    return result
