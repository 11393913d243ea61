"""The report's tables as DataFrames, from saved results: a comparison's results (mean ± std over runs,
published KNBC theme results beside ours under the peer protocol), per-class F1, run sizes and most
confident mistakes; the generation metrics. Rendering is :mod:`pipeline.report.blocks`' business."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from pipeline.evaluation.metrics import HEADLINE, format_mean_std, mean_std
from pipeline.evaluation.results import Comparison

PROTOCOLS = {
    "cv5": "5-fold cross-validation grouped by article (every sentence is tested once; "
    "dev: ~10% of each fold's training articles, per theme)",
    "peer": "the protocol of published KNBC results: a random 10% sentence-level test set stratified by theme, "
    "5 seeds (dev: ~10% of the training sentences, per theme)",
    "split": "the shipped article-level train / dev / test split (one run)",
}
# Published KNBC theme classification results (peer protocol); quoted, not rerun here.
PUBLISHED_THEME = [
    {"model": "LSTM", "accuracy": None, "weighted_f1": 0.76},
    {"model": "LSTM + self-attention", "accuracy": None, "weighted_f1": 0.79},
    {"model": "fine-tuned Japanese BERT", "accuracy": 0.837, "weighted_f1": 0.838},
]
FAMILY_NAMES = {"baseline": "baseline", "spacy": "spaCy textcat", "recurrent": "recurrent"}
PUBLISHED_FAMILY = "published, not rerun here"
COLUMN_NAMES = {"accuracy": "accuracy", "macro_f1": "macro-F1", "weighted_f1": "weighted-F1"}
GENERATION_COLUMNS = {
    "chrf": "chrF",
    "char_bleu": "char BLEU",
    "token_bleu": "token BLEU",
    "distinct_1": "distinct-1",
    "distinct_2": "distinct-2",
    "repetition": "repeats a unit 3x",
    "perplexity": "perplexity",
    "sentences_per_s": "sentences/s",
    "tokens": "tokens",
}


def featured_models(results: pd.DataFrame) -> list[str]:
    """The best recurrent model, the best spaCy textcat and the best baseline by mean macro-F1 (those
    present); the best model overall when none of these families was run."""
    means = results.groupby("model", sort=False)["macro_f1"].mean()
    families = results.groupby("model", sort=False)["family"].first()
    best = [means[families == f].idxmax() for f in ("recurrent", "spacy", "baseline") if (families == f).any()]
    return best or [means.idxmax()]


def model_families(results: pd.DataFrame) -> pd.Series:
    """Each model's family (``baseline``, ``spacy``, ``recurrent``), by model name."""
    return results.groupby("model", sort=False)["family"].first()


def run_sizes(config: dict) -> pd.DataFrame:
    """Train / dev / test sentences of each run of a comparison."""
    rows = [[run, s["train"], s["dev"], s["test"]] for run, s in config["runs"].items()]
    return pd.DataFrame(rows, columns=["run", "train", "dev", "test"])


def with_published(config: dict) -> bool:
    """Whether published results are shown beside the comparison's (theme, peer protocol)."""
    return config["protocol"] == "peer" and config["task"] == "theme"


def results_table(results: pd.DataFrame, config: dict) -> pd.DataFrame:
    """One row per model (mean ± std over runs, sorted by macro-F1), then the published KNBC theme
    results under the peer protocol (family "published, not rerun here")."""
    summary = mean_std(results, (*HEADLINE, "train_seconds"))
    family = model_families(results)
    header = ["model", "family", "runs", *COLUMN_NAMES.values(), "train s / run"]
    rows = [
        [
            model,
            FAMILY_NAMES[family[model]],
            int(s["runs"]),
            *(format_mean_std(s[f"{c}_mean"], s[f"{c}_std"]) for c in HEADLINE),
            f"{s['train_seconds_mean']:.1f}",
        ]
        for model, s in summary.sort_values("macro_f1_mean", ascending=False).iterrows()
    ]
    if with_published(config):
        for published in PUBLISHED_THEME:
            scores = [f"{published[c]:.3f}" if published.get(c) is not None else "—" for c in HEADLINE]
            rows.append([published["model"], PUBLISHED_FAMILY, "—", *scores, "—"])
    return pd.DataFrame(rows, columns=header)


def results_notes(config: dict) -> list[str]:
    """What :func:`results_table` shows, in sentences (Markdown)."""
    notes = ["Mean ± sample standard deviation over runs, sorted by macro-F1."]
    if with_published(config):
        notes.append(
            f"Rows marked *{PUBLISHED_FAMILY}* are KNBC theme results reported in the literature "
            "under the same kind of protocol (random 10% sentence-level test); they were not reproduced "
            "with this code, their test sentences differ from ours."
        )
    return notes


def per_class_table(results: pd.DataFrame, labels: Sequence[str]) -> pd.DataFrame:
    """Mean F1 over runs per model (rows) and class (columns)."""
    stats = mean_std(results, [f"f1_{label}" for label in labels])
    rows = [[model, *(f"{s[f'f1_{label}_mean']:.3f}" for label in labels)] for model, s in stats.iterrows()]
    return pd.DataFrame(rows, columns=["model", *labels])


def best_of_families(comparison: Comparison) -> dict[str, str | None]:
    """``best <family>`` → ``model: mean ± std`` of macro-F1 (None where the family was not run)."""
    results = comparison.results
    summary = mean_std(results, ("macro_f1",))
    family = model_families(results)
    row: dict[str, str | None] = {}
    for key, title in FAMILY_NAMES.items():
        members = summary[family[summary.index] == key]
        if len(members):
            best = members["macro_f1_mean"].idxmax()
            s = members.loc[best]
            row[f"best {title}"] = f"{best}: {format_mean_std(s['macro_f1_mean'], s['macro_f1_std'])}"
        else:
            row[f"best {title}"] = None
    return row


def worst_table(comparison: Comparison, model: str, n: int) -> pd.DataFrame:
    """The ``n`` wrong predictions of ``model`` made with the highest confidence."""
    rows = [[r.run, r.text, r.gold, r.pred, f"{r.confidence:.3f}"] for r in comparison.worst(model, n).itertuples()]
    return pd.DataFrame(rows, columns=["run", "text", "gold", "predicted", "confidence"])


def generation_table(rows: dict[str, dict]) -> pd.DataFrame:
    """One row per system of ``results.json``'s task entry; scores rounded for reading."""
    columns = [c for c in GENERATION_COLUMNS if any(c in row for row in rows.values())]
    table = []
    for system, row in rows.items():
        cells = {"system": system}
        for c in columns:
            value = row.get(c)
            if isinstance(value, float):
                value = f"{value:.3f}" if c.startswith(("distinct", "repetition")) else f"{value:.2f}"
            cells[GENERATION_COLUMNS[c]] = value
        table.append(cells)
    return pd.DataFrame(table, columns=["system", *(GENERATION_COLUMNS[c] for c in columns)])
