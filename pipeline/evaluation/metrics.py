"""Scores over runs: their mean ± std. The per-run scores (accuracy, macro-/weighted-F1, per class) are
those of :mod:`pipeline.training.metrics`, the functions the training loop selects its epochs with."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

HEADLINE = ("accuracy", "macro_f1", "weighted_f1")


def mean_std(results: pd.DataFrame, columns: Sequence[str] = HEADLINE, by: str = "model") -> pd.DataFrame:
    """Mean and sample std (ddof=1; 0 for a single run) of ``columns`` per ``by`` group, in first-seen order.

    Columns of the result: ``runs``, then ``{column}_mean`` and ``{column}_std`` for each column.
    """
    grouped = results.groupby(by, sort=False)[list(columns)]
    summary = grouped.agg(["mean", "std"]).fillna({(c, "std"): 0.0 for c in columns})
    summary.columns = [f"{column}_{stat}" for column, stat in summary.columns]
    summary.insert(0, "runs", grouped.size())
    return summary


def format_mean_std(mean: float, std: float, digits: int = 3) -> str:
    """``0.812 ± 0.013``."""
    return f"{mean:.{digits}f} ± {std:.{digits}f}"
