"""Train and score every compared model on every run of a protocol, in one call, into a results folder."""

from __future__ import annotations

import platform
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import sklearn
import spacy
import thinc
import torch

from pipeline.corpus.records import SentenceRecord, shipped_corpus
from pipeline.corpus.splits import Splits, load_splits
from pipeline.errors import UsageError
from pipeline.training.metrics import classification_scores
from pipeline.evaluation.models import ComparedModels, build_model, load_compared_models, with_vectors
from pipeline.evaluation.protocols import DEV_FRACTION, protocol_runs
from pipeline.evaluation.results import Comparison, ResultsWriter, load_comparison
from pipeline.ginza import blank_japanese
from pipeline.training.data import TASKS, record_label


def compare(
    task: str,
    protocol: str,
    output_dir: str | Path,
    *,
    models: Sequence[str] | None = None,
    runs: int | None = None,
    compared: ComparedModels | None = None,
    train_fraction: float = 1.0,
    sentences: Sequence[SentenceRecord] | None = None,
    splits: Splits | None = None,
    log: Callable[[str], Any] | None = print,
) -> Comparison:
    """Train and score ``models`` (default: all of ``compared.names``) on
    ``task`` ('theme' | 'sentiment') under ``protocol`` ('cv5' | 'peer' | 'split'), writing
    config.json, results.csv, predictions.jsonl.gz and confusion.json into ``output_dir``.

    ``runs`` keeps the first N folds / seeds; ``train_fraction`` < 1 trains every model on the same
    seeded subsample of each run's training articles (a learning curve; dev and test unchanged); ``compared`` holds the training settings and the recurrent
    variants (default: models/configs/variants.cfg, :func:`~pipeline.evaluation.models.load_compared_models`),
    and config.json records the file they came from; ``sentences`` and ``splits`` default
    to the shipped corpus and splits; ``log`` gets one line per (run, model) (None: silent).
    Returns the :class:`Comparison` read back from ``output_dir``.
    """
    if task not in TASKS:
        raise UsageError(f"unknown task {task!r}; expected one of {sorted(TASKS)}")
    compared = compared or load_compared_models()
    families = compared.families
    models = list(models or compared.names)
    unknown = [m for m in models if m not in families]
    if unknown:
        raise UsageError(f"unknown model(s) {unknown}; expected some of {list(compared.names)}")
    sentences = shipped_corpus().sentences if sentences is None else sentences
    splits = load_splits() if splits is None else splits
    say = log or (lambda line: None)
    labels = list(TASKS[task])
    run_list = protocol_runs(sentences, splits, protocol, runs, train_fraction)

    records = {r.sid: r for run in run_list for r in (*run.train, *run.dev, *run.test)}
    say(f"tokenizing {len(records)} sentences with GiNZA")
    tokenizer = with_vectors(blank_japanese()).tokenizer  # Docs with ja_ginza's vectors in their vocab
    docs = dict(zip(records, tokenizer.pipe(r.text for r in records.values())))  # sid -> Doc, shared by all models

    writer = ResultsWriter(
        output_dir,
        {
            "task": task,
            "protocol": protocol,
            "labels": labels,
            "models": models,
            "families": {m: families[m] for m in models},
            "runs": {
                run.name: {"train": len(run.train), "dev": len(run.dev), "test": len(run.test)} for run in run_list
            },
            "dev_fraction": DEV_FRACTION,
            **({"train_fraction": train_fraction} if train_fraction != 1.0 else {}),
            "train_settings": vars(compared.settings),
            "rnn_options": compared.rnn_options,
            "recurrent_variants": {m: compared.variants[m] for m in models if m in compared.variants},
            "variant_train_settings": {m: vars(s) for m, s in compared.variant_settings.items() if m in models},
            "variants_config": {**compared.recorded, "variant_configs": {
                m: section for m, section in compared.recorded["variant_configs"].items() if m in models}},
            "versions": {
                "python": platform.python_version(),
                "spacy": spacy.__version__,
                "torch": torch.__version__,
                "scikit-learn": sklearn.__version__,
                "numpy": np.__version__,
                "thinc": thinc.__version__,
                # what else decides the floats: thread count and the CPU kernels torch picks
                "torch_threads": torch.get_num_threads(),
                "cpu_capability": torch.backends.cpu.get_cpu_capability(),
            },
        },
    )
    for run in run_list:
        train_docs, dev_docs, test_docs = ([docs[r.sid] for r in part] for part in (run.train, run.dev, run.test))
        train_gold, dev_gold, test_gold = (
            [record_label(r, task) for r in part] for part in (run.train, run.dev, run.test)
        )
        for i, name in enumerate(models, start=1):
            say(f"[{run.name}] {name} ({i}/{len(models)}): training on {len(train_docs)} sentences")
            model = build_model(name, labels, compared)
            started = time.perf_counter()
            model.fit(train_docs, train_gold, dev_docs, dev_gold)
            seconds = time.perf_counter() - started
            probs = model.predict_proba(test_docs)  # (n_test, n_labels)
            pred = [labels[j] for j in probs.argmax(axis=1)]
            scores = classification_scores(test_gold, pred, labels)
            row = {
                "task": task,
                "protocol": protocol,
                "run": run.name,
                "model": name,
                "family": families[name],
                "accuracy": scores["accuracy"],
                "macro_f1": scores["macro_f1"],
                "weighted_f1": scores["weighted_f1"],
                **{f"f1_{label}": s["f1"] for label, s in scores["per_class"].items()},
                "train_seconds": round(seconds, 2),
                "n_train": len(train_docs),
                "n_dev": len(dev_docs),
                "n_test": len(test_docs),
                **model.details(),
            }
            writer.add(
                row, _prediction_rows(name, run.name, run.test, test_gold, pred, probs, labels), scores["confusion"]
            )
            say(
                f"[{run.name}] {name}: accuracy {row['accuracy']:.3f}, macro-F1 {row['macro_f1']:.3f}, "
                f"weighted-F1 {row['weighted_f1']:.3f} ({seconds:.1f} s)"
            )
    return load_comparison(output_dir)


def _prediction_rows(
    model: str,
    run: str,
    records: Sequence[SentenceRecord],
    gold: Sequence[str],
    pred: Sequence[str],
    probs: np.ndarray,
    labels: Sequence[str],
) -> list[dict]:
    """One JSON-ready dict per test sentence: ids, text, gold, pred, confidence (p of pred), p_gold, probs."""
    rows = []
    for record, g, p, row in zip(records, gold, pred, probs):
        by_label = {label: round(float(v), 4) for label, v in zip(labels, row)}
        rows.append(
            {
                "model": model,
                "run": run,
                "sid": record.sid,
                "article_id": record.article_id,
                "text": record.text,
                "gold": g,
                "pred": p,
                "confidence": by_label[p],
                "p_gold": by_label[g],
                "probs": by_label,
            }
        )
    return rows
