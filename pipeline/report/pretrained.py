"""The pretraining ablation of the classifiers (issue 12) as a small report folder: the headline table
(mean ± std over runs, train seconds) of each task's ``knbc evaluate`` folder, the learning curve over
``--train-fraction`` folders with its plot, and slimmed compressed predictions (ids, gold, predicted,
probabilities; the text is in the corpus).

    python -m pipeline.report.pretrained --to reports/pretrained-classifiers \
        --main /work/out-v2/sentiment-cv5 /work/out-v2/theme-cv5 --curve /work/out-v2/curve-sentiment-*
"""

from __future__ import annotations

import argparse
import gzip
import json
import shutil
from pathlib import Path

import pandas as pd

from pipeline.evaluation.metrics import mean_std
from pipeline.report.plots import plot_data_curve

COLUMNS = ("macro_f1", "weighted_f1", "accuracy", "train_seconds")
KEPT = ("model", "run", "sid", "gold", "pred", "probs")  # per prediction


def _summary(results: pd.DataFrame) -> pd.DataFrame:
    summary = mean_std(results, COLUMNS)
    summary["epochs"] = results.groupby("model", sort=False)["epochs"].mean() if "epochs" in results else None
    return summary


def _table(summary: pd.DataFrame) -> str:
    lines = ["| model | runs | macro-F1 | weighted-F1 | accuracy | train s / run | epochs run |", "|---|---|---|---|---|---|---|"]
    for model, row in summary.iterrows():
        epochs = "" if pd.isna(row.get("epochs")) else f"{row['epochs']:.1f}"
        lines.append(f"| {model} | {int(row['runs'])} | {row['macro_f1_mean']:.3f} ± {row['macro_f1_std']:.3f} | "
                     f"{row['weighted_f1_mean']:.3f} ± {row['weighted_f1_std']:.3f} | "
                     f"{row['accuracy_mean']:.3f} ± {row['accuracy_std']:.3f} | "
                     f"{row['train_seconds_mean']:.0f} ± {row['train_seconds_std']:.0f} | {epochs} |")
    return "\n".join(lines)


def _copy_slim(source: Path, target: Path) -> None:
    """results.csv, config.json and the predictions without their text (gzip, no timestamp)."""
    target.mkdir(parents=True, exist_ok=True)
    for name in ("results.csv", "config.json"):
        shutil.copyfile(source / name, target / name)
    with gzip.open(source / "predictions.jsonl.gz", "rt", encoding="utf-8") as rows, \
            open(target / "predictions.jsonl.gz", "wb") as raw, \
            gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as out:
        for line in rows:
            row = json.loads(line)
            out.write((json.dumps({k: row[k] for k in KEPT}, ensure_ascii=False) + "\n").encode("utf-8"))


def build(to: Path, main: list[Path], curve: list[Path]) -> Path:
    """Write ``to``/results.md (tables), the learning-curve CSV and plot, and each folder's slim copy."""
    sections = []
    for folder in main:
        results = pd.read_csv(folder / "results.csv")
        task = results["task"].iloc[0]
        _copy_slim(folder, to / folder.name)
        sections.append(f"### {task}, {results['protocol'].iloc[0]} ({results['run'].nunique()} runs)\n\n"
                        + _table(_summary(results)))
    if curve:
        rows = []
        for folder in curve:
            config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
            results = pd.read_csv(folder / "results.csv").assign(train_fraction=config.get("train_fraction", 1.0))
            overrides = config.get("variants_config", {}).get("overrides") or {}
            if overrides:  # another recipe: its own lines (e.g. "bilstm_attention [training.keep=last, ...]")
                tag = ", ".join(f"{key}={value}" for key, value in sorted(overrides.items()))
                results["model"] = results["model"] + f" [{tag}]"
            rows.append(results)
            if config.get("train_fraction", 1.0) < 1.0:
                _copy_slim(folder, to / folder.name)
        table = pd.concat(rows, ignore_index=True)
        task = table["task"].iloc[0]
        table[["task", "train_fraction", "model", "run", "n_train", "macro_f1", "weighted_f1", "accuracy",
               "train_seconds"]].to_csv(to / f"learning_curve_{task}.csv", index=False)
        plot_data_curve(table, to / f"learning_curve_{task}.png", title=f"{task}: macro-F1 by training data (cv5 folds)")
        pivot = table.groupby(["train_fraction", "model"], sort=False)["macro_f1"].agg(["mean", "std", "size"])
        lines = ["| training articles | model | runs | macro-F1 |", "|---|---|---|---|"]
        for (fraction, model), row in pivot.sort_index(level=0, sort_remaining=False).iterrows():
            lines.append(f"| {fraction:.0%} | {model} | {int(row['size'])} | {row['mean']:.3f} ± {row['std']:.3f} |")
        sections.append(f"### learning curve, {task}\n\n" + "\n".join(lines)
                        + f"\n\n![learning curve](learning_curve_{task}.png)")
    (to / "results.md").write_text("\n\n".join(sections) + "\n", encoding="utf-8")
    return to / "results.md"


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--to", type=Path, required=True)
    parser.add_argument("--main", type=Path, nargs="*", default=[])
    parser.add_argument("--curve", type=Path, nargs="*", default=[])
    args = parser.parse_args(argv)
    print(build(args.to, args.main, args.curve))


if __name__ == "__main__":
    main()
