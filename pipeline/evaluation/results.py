"""A results folder: everything a comparison measured, so that reports are rebuilt without retraining.

- ``config.json``: task, protocol, labels, models and their families, runs and their sizes, hyperparameters;
- ``results.csv``: one row per (model, run): accuracy, macro_f1, weighted_f1, ``f1_<label>``, train_seconds, ...;
- ``predictions.jsonl.gz``: one line per (model, run, test sentence): gold, pred, confidence,
  probabilities (gzip members appended as the runs finish, with no timestamp, so reruns give the same bytes);
- ``confusion.json``: {"labels": [...], "matrices": {model: {run: [[...]]}}}, rows gold, columns predicted.
"""

from __future__ import annotations

import gzip
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

CONFIG_JSON = "config.json"
RESULTS_CSV = "results.csv"
PREDICTIONS_JSONL = "predictions.jsonl.gz"
CONFUSION_JSON = "confusion.json"


@dataclass
class Comparison:
    """The measurements of one comparison (see the module docstring for the files they come from)."""

    directory: Path
    config: dict
    results: pd.DataFrame  # one row per (model, run)
    predictions: pd.DataFrame  # one row per (model, run, test sentence)
    confusions: dict[str, dict[str, list[list[int]]]]  # model -> run -> (n_labels, n_labels) counts

    def confusion(self, model: str) -> np.ndarray:
        """The confusion matrix of ``model`` summed over its runs: rows gold, columns predicted."""
        return np.sum([np.array(m) for m in self.confusions[model].values()], axis=0)

    def worst(self, model: str | None = None, n: int = 10) -> pd.DataFrame:
        """The ``n`` wrong predictions made with the highest confidence (of ``model``, or of any)."""
        wrong = self.predictions[self.predictions["gold"] != self.predictions["pred"]]
        if model is not None:
            wrong = wrong[wrong["model"] == model]
        return wrong.sort_values(["confidence", "sid"], ascending=[False, True]).head(n)


class ResultsWriter:
    """Writes a results folder as a comparison goes, so an interrupted comparison keeps its finished runs."""

    def __init__(self, directory: str | Path, config: dict):
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.config = config
        self.rows: list[dict] = []
        self.confusions: dict[str, dict[str, list[list[int]]]] = {}
        for stale in (RESULTS_CSV, CONFUSION_JSON):  # from an earlier comparison in the same folder
            (self.directory / stale).unlink(missing_ok=True)
        (self.directory / CONFIG_JSON).write_text(json.dumps(config, ensure_ascii=False, indent=2), encoding="utf-8")
        (self.directory / PREDICTIONS_JSONL).write_bytes(b"")
        (self.directory / "predictions.jsonl").unlink(missing_ok=True)  # uncompressed, from older versions

    def add(self, row: dict, predictions: list[dict], confusion: list[list[int]]) -> None:
        """Record one (model, run): its results row, its test predictions and its confusion matrix."""
        self.rows.append(row)
        self.confusions.setdefault(row["model"], {})[row["run"]] = confusion
        lines = "".join(json.dumps(p, ensure_ascii=False) + "\n" for p in predictions).encode("utf-8")
        with (self.directory / PREDICTIONS_JSONL).open("ab") as out:
            out.write(gzip.compress(lines, mtime=0))  # one more gzip member
        pd.DataFrame(self.rows).to_csv(self.directory / RESULTS_CSV, index=False)
        matrices = {"labels": self.config["labels"], "matrices": self.confusions}
        (self.directory / CONFUSION_JSON).write_text(json.dumps(matrices, ensure_ascii=False), encoding="utf-8")


def load_comparison(directory: str | Path) -> Comparison:
    """Read a results folder written by :func:`pipeline.evaluation.compare.compare`."""
    directory = Path(directory)
    missing = [
        name
        for name in (CONFIG_JSON, RESULTS_CSV, PREDICTIONS_JSONL, CONFUSION_JSON)
        if not (directory / name).is_file()
    ]
    if missing:
        raise FileNotFoundError(f"{directory} is not a complete results folder: {', '.join(missing)} missing")
    config = json.loads((directory / CONFIG_JSON).read_text(encoding="utf-8"))
    results = pd.read_csv(directory / RESULTS_CSV, dtype={"run": str, "model": str})
    predictions = pd.read_json(
        directory / PREDICTIONS_JSONL, lines=True, compression="gzip", dtype={"sid": str, "run": str}
    )
    confusions = json.loads((directory / CONFUSION_JSON).read_text(encoding="utf-8"))["matrices"]
    return Comparison(directory, config, results, predictions, confusions)
