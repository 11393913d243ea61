"""``report.md`` and its plots from a results folder (no retraining): the results table (mean ± std
over runs), published KNBC theme results beside ours under the peer protocol, per-class F1,
confusion matrices of the best recurrent model and the best spaCy textcat, and the wrong
predictions made with the highest confidence.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from pipeline.evaluation.metrics import HEADLINE, format_mean_std, mean_std
from pipeline.evaluation.results import Comparison, load_comparison

REPORT_MD = "report.md"
PER_CLASS_PNG = "per_class_f1.png"
JAPANESE_FONT = "IPAexGothic"  # shipped by matplotlib-fontja
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


def write_report(results_dir: str | Path, n_examples: int = 10) -> Path:
    """Write ``report.md``, ``per_class_f1.png`` and ``confusion_<model>.png`` into ``results_dir``
    (a folder written by :func:`~pipeline.evaluation.compare.compare`); return the report's path.

    ``n_examples``: how many highest-confidence wrong predictions to list per featured model.
    """
    return write_comparison_report(load_comparison(results_dir), n_examples)


def write_comparison_report(comparison: Comparison, n_examples: int = 10) -> Path:
    """:func:`write_report` for a comparison already loaded (into its own folder)."""
    config, results = comparison.config, comparison.results
    labels = config["labels"]
    directory = comparison.directory
    featured = featured_models(results)

    plot_per_class_f1(results, labels, directory / PER_CLASS_PNG)
    for model in featured:
        plot_confusion(
            comparison.confusion(model), labels, f"{model}: {config['task']}", directory / confusion_png(model)
        )

    sections = [
        f"# KNBC {config['task']} classification ({config['protocol']})",
        _setup_section(config),
        _results_section(results, config),
        _per_class_section(results, labels),
        _confusion_section(featured, results),
        _worst_section(comparison, featured, n_examples),
    ]
    path = directory / REPORT_MD
    path.write_text("\n\n".join(sections) + "\n", encoding="utf-8")
    return path


def featured_models(results: pd.DataFrame) -> list[str]:
    """The best recurrent model, the best spaCy textcat and the best baseline by mean macro-F1 (those
    present); the best model overall when none of these families was run."""
    means = results.groupby("model", sort=False)["macro_f1"].mean()
    families = results.groupby("model", sort=False)["family"].first()
    best = [means[families == f].idxmax() for f in ("recurrent", "spacy", "baseline") if (families == f).any()]
    return best or [means.idxmax()]


def confusion_png(model: str) -> str:
    """The file name of ``model``'s confusion-matrix plot inside its results folder."""
    return f"confusion_{model}.png"


def japanese_plots():
    """pyplot with a Japanese font (labels render instead of tofu boxes), drawing off-screen."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib_fontja  # noqa: F401  (registers the IPAexGothic font with matplotlib)

    plt.rcParams["font.family"] = JAPANESE_FONT
    return plt


def plot_per_class_f1(results: pd.DataFrame, labels: Sequence[str], path: str | Path) -> Path:
    """Grouped bars: F1 per class (x) and model (bars), mean over runs with ± std error bars."""
    plt = japanese_plots()
    columns = [f"f1_{label}" for label in labels]
    stats = mean_std(results, columns)
    models = list(stats.index)
    width = 0.8 / len(models)
    x = np.arange(len(labels))
    fig, ax = plt.subplots(figsize=(max(7.0, 1.6 * len(labels) + 0.35 * len(models)), 4.5))
    for i, model in enumerate(models):
        means = [stats.loc[model, f"{c}_mean"] for c in columns]
        stds = [stats.loc[model, f"{c}_std"] for c in columns]
        ax.bar(x + (i - (len(models) - 1) / 2) * width, means, width, yerr=stds, capsize=2, label=model)
    ax.set_xticks(x, labels)
    ax.set_ylim(0, 1)
    ax.set_ylabel("F1 (mean over runs)")
    ax.set_title("クラス別 F1 / per-class F1")
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return Path(path)


def plot_confusion(matrix: np.ndarray, labels: Sequence[str], title: str, path: str | Path) -> Path:
    """A confusion matrix: counts in the cells, colour = share of the gold row."""
    plt = japanese_plots()
    rows = matrix.sum(axis=1, keepdims=True)
    share = np.divide(matrix, rows, out=np.zeros(matrix.shape), where=rows > 0)
    fig, ax = plt.subplots(figsize=(1.2 * len(labels) + 2.5, 1.1 * len(labels) + 1.8))
    image = ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
    for (i, j), count in np.ndenumerate(matrix):
        ax.text(j, i, str(count), ha="center", va="center", color="white" if share[i, j] > 0.6 else "black")
    ax.set_xticks(range(len(labels)), labels, rotation=30, ha="right")
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("予測 / predicted")
    ax.set_ylabel("正解 / gold")
    ax.set_title(f"{title} (summed over runs)")
    fig.colorbar(image, ax=ax, fraction=0.046, label="share of gold row")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return Path(path)


def markdown_table(frame: pd.DataFrame) -> str:
    """A Markdown (GitHub) table of ``frame``'s columns and rows, cells as text ("|" escaped)."""
    lines = ["| " + " | ".join(_cell_text(c) for c in frame.columns) + " |", "|" + "---|" * len(frame.columns)]
    lines += ["| " + " | ".join(_cell_text(cell) for cell in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join(lines)


def _cell_text(cell: object) -> str:
    return str(cell).replace("|", "\\|").replace("\n", " ")


def _setup_section(config: dict) -> str:
    sizes = markdown_table(run_sizes(config))
    settings = {**config["train_settings"], **config["rnn_options"]}
    return "\n".join(
        [
            "## Setup",
            "",
            f"- protocol `{config['protocol']}`: {PROTOCOLS[config['protocol']]}",
            f"- labels: {', '.join(config['labels'])}",
            (
                "- every model sees the same GiNZA tokens; TF-IDF + LR uses token uni- and bigrams of GiNZA "
                "normalized forms, mean_vectors_lr the standardized mean of the tokens' ja_ginza vectors (text → "
                "lemma → norm lookup), each with C chosen on dev; spacy_ensemble_vectors is spaCy's "
                "TextCatEnsemble with include_static_vectors = true over ja_ginza's vectors (spaCy looks them up "
                "by token text), spacy_ensemble the same without; neural models keep their best dev macro-F1 epoch"
            ),
            f"- neural training settings and recurrent options: `{json.dumps(settings, ensure_ascii=False)}`",
            *(
                f"- `{name}` sets `{json.dumps(options, ensure_ascii=False)}` (over the options above; "
                "options passed with `--set` override it)"
                for name, options in config.get("recurrent_variants", {}).items()
                if set(options) - {"cell", "bidirectional", "pooling"}
            ),
            "",
            sizes,
        ]
    )


def run_sizes(config: dict) -> pd.DataFrame:
    """Train / dev / test sentences of each run of a comparison."""
    rows = [[run, s["train"], s["dev"], s["test"]] for run, s in config["runs"].items()]
    return pd.DataFrame(rows, columns=["run", "train", "dev", "test"])


def results_table(results: pd.DataFrame, config: dict) -> pd.DataFrame:
    """One row per model (mean ± std over runs, sorted by macro-F1), then the published KNBC theme
    results under the peer protocol (family "published, not rerun here")."""
    summary = mean_std(results, (*HEADLINE, "train_seconds"))
    family = results.groupby("model", sort=False)["family"].first()
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
    if _with_published(config):
        for published in PUBLISHED_THEME:
            scores = [f"{published[c]:.3f}" if published.get(c) is not None else "—" for c in HEADLINE]
            rows.append([published["model"], PUBLISHED_FAMILY, "—", *scores, "—"])
    return pd.DataFrame(rows, columns=header)


def results_notes(config: dict) -> list[str]:
    """What :func:`results_table` shows, in sentences (Markdown)."""
    notes = ["Mean ± sample standard deviation over runs, sorted by macro-F1."]
    if _with_published(config):
        notes.append(
            f"Rows marked *{PUBLISHED_FAMILY}* are KNBC theme results reported in the literature "
            "under the same kind of protocol (random 10% sentence-level test); they were not reproduced "
            "with this code, their test sentences differ from ours."
        )
    return notes


def _with_published(config: dict) -> bool:
    return config["protocol"] == "peer" and config["task"] == "theme"


def _results_section(results: pd.DataFrame, config: dict) -> str:
    return "\n\n".join(["## Results", markdown_table(results_table(results, config)), *results_notes(config)])


def per_class_table(results: pd.DataFrame, labels: Sequence[str]) -> pd.DataFrame:
    """Mean F1 over runs per model (rows) and class (columns)."""
    stats = mean_std(results, [f"f1_{label}" for label in labels])
    rows = [[model, *(f"{s[f'f1_{label}_mean']:.3f}" for label in labels)] for model, s in stats.iterrows()]
    return pd.DataFrame(rows, columns=["model", *labels])


def _per_class_section(results: pd.DataFrame, labels: Sequence[str]) -> str:
    table = markdown_table(per_class_table(results, labels))
    return "\n".join(["## Per-class F1", "", f"![per-class F1]({PER_CLASS_PNG})", "", table])


def _confusion_section(featured: Sequence[str], results: pd.DataFrame) -> str:
    family = results.groupby("model", sort=False)["family"].first()
    lines = ["## Confusion matrices", "", "Rows: gold label, columns: predicted; counts summed over runs."]
    for model in featured:
        lines += [
            "",
            f"Best {FAMILY_NAMES[family[model]]}: **{model}**",
            "",
            f"![confusion matrix of {model}]({confusion_png(model)})",
        ]
    return "\n".join(lines)


def worst_table(comparison: Comparison, model: str, n: int) -> pd.DataFrame:
    """The ``n`` wrong predictions of ``model`` made with the highest confidence."""
    rows = [[r.run, r.text, r.gold, r.pred, f"{r.confidence:.3f}"] for r in comparison.worst(model, n).itertuples()]
    return pd.DataFrame(rows, columns=["run", "text", "gold", "predicted", "confidence"])


def _worst_section(comparison: Comparison, featured: Sequence[str], n: int) -> str:
    lines = ["## Most confident mistakes", ""]
    for model in featured:
        lines += [f"### {model}", "", markdown_table(worst_table(comparison, model, n)), ""]
    return "\n".join(lines).rstrip()
