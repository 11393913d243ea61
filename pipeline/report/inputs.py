"""Readers of the files other commands write, as the report needs them: comparison folders
(``knbc evaluate``), training logs (``knbc train``, ``knbc train-generator``), JSON results
(``knbc evaluate-generation``, ``knbc benchmark``, ``knbc evaluate-lm``, ``knbc evaluate-splitter``,
``knbc evaluate-posts``, ``knbc evaluate-taggers``) and the displaCy renderings of ``knbc evaluate-taggers``."""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

import pandas as pd

from pipeline.evaluation.results import Comparison, load_comparison
from pipeline.report.registry import TRAIN_LOG, Artefact


def load_comparisons(artefacts: list[Artefact], reports: Path, missing: list[str]) -> dict[str, Comparison | None]:
    """Each evaluation folder's comparison by name (``None`` where absent or incomplete, with a line in
    ``missing``)."""
    comparisons: dict[str, Comparison | None] = {}
    for artefact in artefacts:
        folder = artefact.location(reports)
        try:
            comparisons[artefact.name] = load_comparison(folder)
        except FileNotFoundError as err:
            comparisons[artefact.name] = None
            missing.append(f"{artefact.name}: {err if folder.is_dir() else 'no such folder'}")
    return comparisons


def read_json(path: Path) -> dict:
    """A JSON file's object ({} when it holds something else)."""
    data = json.loads(path.read_text(encoding="utf-8"))
    return data if isinstance(data, dict) else {}


# a rendering with any of these is not embedded: displaCy writes none of them
_ACTIVE_HTML = re.compile(r"<\s*/?\s*(script|iframe|object|embed|link|meta|style|form)\b|\son\w+\s*=|javascript:", re.I)
_RENDERING = re.compile(r"<h4>(.*?)</h4>(.*?)(?=<h4>|</body>|$)", re.S)


def displacy_fragments(path: Path, count: int) -> list[tuple[str, str]]:
    """The first ``count`` renderings of a displaCy file that ``knbc evaluate-taggers`` writes (each an
    ``<h4>`` title, then displaCy's markup), as (title as text, markup); a rendering with a script, an event
    handler or any other active content is left out."""
    fragments = []
    for title, markup in _RENDERING.findall(path.read_text(encoding="utf-8")):
        if _ACTIVE_HTML.search(title + markup):
            continue
        fragments.append((html.unescape(re.sub(r"<[^>]*>", "", title)).strip(), markup.strip()))
        if len(fragments) == count:
            break
    return fragments


def training_history(model_dir: str | Path) -> tuple[pd.DataFrame, dict]:
    """A model folder's epochs (``epoch``, ``loss``, ``dev``, ``dev_label``) from ``train_log.jsonl``
    (or ``metrics.json``'s ``history``), and its ``metrics.json`` (empty when absent).

    ``dev`` is the dev perplexity for generators and the dev score (e.g. macro F) for classifiers.
    Raises ``FileNotFoundError`` when the folder has neither.
    """
    model_dir = Path(model_dir)
    metrics_path, log_path = model_dir / "metrics.json", model_dir / TRAIN_LOG
    metrics = read_json(metrics_path) if metrics_path.is_file() else {}
    if log_path.is_file():
        lines = log_path.read_text(encoding="utf-8").splitlines()
        epochs = [json.loads(line) for line in lines if line.strip()]
    else:
        epochs = metrics.get("history", [])
    if not epochs:
        raise FileNotFoundError(f"{model_dir} has no {TRAIN_LOG} or metrics.json history")
    rows = []
    for epoch in epochs:
        scores = epoch.get("dev_scores", {})
        if "dev_perplexity" in scores:
            dev, label = scores["dev_perplexity"], "dev perplexity"
        else:
            desc = next((v for k, v in scores.items() if k.endswith("_score_desc")), "score")
            dev, label = epoch["dev"], f"dev {desc}"
        rows.append({"epoch": epoch["epoch"], "loss": epoch["loss"], "dev": dev, "dev_label": label})
    return pd.DataFrame(rows), metrics


def curve_group(artefact: Artefact, history: pd.DataFrame) -> str:
    """The learning-curve figure a model is drawn in: its registered group, else by its dev measure."""
    if artefact.group:
        return artefact.group
    return "generators" if history["dev_label"].iloc[0] == "dev perplexity" else "classifiers"
