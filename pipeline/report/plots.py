"""Every plot of the reports, drawn off-screen with one Japanese font set-up (labels render instead of
tofu boxes): per-class F1 bars, confusion matrices, learning curves and attention heatmaps."""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from pipeline.evaluation.metrics import mean_std

JAPANESE_FONT = "IPAexGothic"  # shipped by matplotlib-fontja


def japanese_plots():
    """pyplot with a Japanese font, drawing off-screen."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib_fontja  # noqa: F401  (registers the IPAexGothic font with matplotlib)

    plt.rcParams["font.family"] = JAPANESE_FONT
    return plt


def _save(plt, fig, path: str | Path, dpi: int = 120) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=dpi)
    plt.close(fig)
    return Path(path)


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
    return _save(plt, fig, path)


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
    return _save(plt, fig, path)


def plot_learning_curves(histories: dict[str, tuple[pd.DataFrame, dict]], titles: dict[str, str],
                         path: str | Path) -> Path:
    """One panel per model folder (``histories`` as :func:`~pipeline.report.inputs.training_history`
    reads them, ``titles`` by folder name): train loss per epoch (left axis), the dev score (right axis),
    the kept epoch."""
    plt = japanese_plots()
    n = len(histories)
    cols = min(n, 2)
    rows = (n + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(6.2 * cols, 4.0 * rows), squeeze=False)
    for ax in axes.flat[n:]:
        ax.set_visible(False)
    for ax, (name, (history, metrics)) in zip(axes.flat, histories.items()):
        loss_line = ax.plot(history["epoch"], history["loss"], "o-", color="C0", label="train loss")
        ax.set_xlabel("epoch")
        ax.set_ylabel("train loss", color="C0")
        dev_axis = ax.twinx()
        dev_label = history["dev_label"].iloc[0]
        dev_line = dev_axis.plot(history["epoch"], history["dev"], "s--", color="C1", label=dev_label)
        dev_axis.set_ylabel(dev_label, color="C1")
        handles = loss_line + dev_line
        if metrics.get("best_epoch"):
            handles.append(ax.axvline(metrics["best_epoch"], color="grey", linestyle=":", label="kept epoch"))
        ax.set_xticks(list(history["epoch"]))
        ax.set_title(f"{titles.get(name, name)}: models/{name}", fontsize=10)
        ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=3, fontsize=8, frameon=False)
    fig.suptitle("学習曲線 / learning curves")
    return _save(plt, fig, path, dpi=110)


def plot_attention(source: list[str], target: list[str], weights: list[list[float]], path: str | Path,
                   title: str) -> Path:
    """An attention heatmap (target rows × source columns) with the Japanese tokens as labels."""
    plt = japanese_plots()
    fig, ax = plt.subplots(figsize=(max(3, 0.5 * len(source) + 2), max(3, 0.35 * len(target) + 1.5)))
    ax.imshow(np.asarray(weights, dtype=float), cmap="Blues", vmin=0, vmax=1, aspect="auto")
    ax.set_xticks(range(len(source)), source, rotation=60, ha="right")
    ax.set_yticks(range(len(target)), target)
    ax.set_xlabel("source (keywords)")
    ax.set_ylabel("generated")
    ax.set_title(textwrap.fill(title, 24), fontsize=9)
    return _save(plt, fig, path)


def plot_sentence_attention(sentences: Sequence[str], weights: Sequence[float], path: str | Path, title: str,
                            width: int = 28) -> Path:
    """Horizontal bars: the attention weight of each sentence of a post (top to bottom), its text as label."""
    plt = japanese_plots()
    labels = [f"{i + 1}. {s[:width]}{'…' if len(s) > width else ''}" for i, s in enumerate(sentences)]
    fig, ax = plt.subplots(figsize=(7, max(2.5, 0.35 * len(sentences) + 1.2)))
    ax.barh(range(len(weights)), weights, color="#4878a8")
    ax.set_yticks(range(len(labels)), labels, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("sentence attention (sums to 1 over the post)")
    ax.set_title(textwrap.fill(title, 60), fontsize=9)
    return _save(plt, fig, path)


def plot_data_curve(table: pd.DataFrame, path: str | Path, metric: str = "macro_f1", title: str = "") -> Path:
    """A learning curve over training-set size: ``table`` has one row per (train_fraction, model, run) with
    ``metric``; x = the fraction of training articles (log scale), y = the mean over runs, ± std bars."""
    plt = japanese_plots()
    fig, ax = plt.subplots(figsize=(10, 4.2))
    for model, rows in table.groupby("model", sort=False):
        stats = rows.groupby("train_fraction")[metric].agg(["mean", "std"]).fillna(0.0).sort_index()
        ax.errorbar(stats.index, stats["mean"], yerr=stats["std"], marker="o", capsize=3, label=model)
    ax.set_xscale("log")
    fractions = sorted(table["train_fraction"].unique())
    ax.set_xticks(fractions, [f"{f:.0%}" for f in fractions])
    ax.minorticks_off()
    ax.set_xlabel("training articles used")
    ax.set_ylabel(metric.replace("_", "-"))
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return _save(plt, fig, path)
