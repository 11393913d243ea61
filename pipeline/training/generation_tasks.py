"""The three generation tasks on the shared article split: data, training, and saving with metrics."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from functools import lru_cache
from pathlib import Path
from typing import Any, Mapping

from pipeline.corpus import shipped_corpus
from pipeline.corpus.splits import load_splits
from pipeline.errors import UsageError
from pipeline.ginza import blank_japanese
from pipeline.models.generator import LanguageModelGenerator, Seq2SeqGenerator
from pipeline.models.vocabulary import Pair, Vocabulary, continuation_pairs, keyword_pairs
from pipeline.training.generation import (
    GenerationSettings,
    LMOptions,
    Seq2SeqOptions,
    article_streams,
    train_language_model,
    train_seq2seq,
)
from pipeline.training.settings import checked_dataclass, provenance, read_config

TASKS = ("keywords", "continuation", "lm")
SPLITS = ("train", "dev", "test")


@lru_cache(maxsize=1)
def split_docs() -> dict:
    """split -> (records, GiNZA Docs) for the shared article split, tokenized once per process."""
    corpus, splits = shipped_corpus(), load_splits()
    tokenizer = blank_japanese().tokenizer
    out = {}
    for split in SPLITS:
        records = splits.select(corpus.sentences, split)
        out[split] = (records, list(tokenizer.pipe(r.text for r in records)))
    return out


def task_pairs(task: str, split: str) -> list[Pair]:
    """keywords → sentence or sentence → next-sentence pairs of one split."""
    records, docs = split_docs()[split]
    if task == "keywords":
        return keyword_pairs(records, docs)
    if task == "continuation":
        return continuation_pairs(records, docs)
    raise UsageError(f"unknown Seq2Seq task {task!r}; expected keywords or continuation")


def split_articles(split: str) -> tuple[list[list[list[str]]], list[str]]:
    """(articles as lists of token lists, their themes) of one split, in article order."""
    records, docs = split_docs()[split]
    articles: dict[str, list[list[str]]] = {}
    themes: dict[str, str] = {}
    for record, doc in zip(records, docs):
        if len(doc):
            articles.setdefault(record.article_id, []).append([t.text for t in doc if not t.is_space])
            themes[record.article_id] = record.theme
    return list(articles.values()), [themes[a] for a in articles]


SECTIONS = ("generator", "options", "training")  # of a generator's config
# the flags of `knbc train-generator` that set one key of a generator's config each
GENERATOR_FLAGS = {"seed": "training.seed", "max_epochs": "training.max_epochs", "patience": "training.patience",
                   "hidden_size": "options.hidden_size", "attention": "options.attention", "copy": "options.copy"}


@dataclass
class GeneratorConfig:
    """What a generator's config file (models/configs/generator-*.cfg, lm.cfg) says, overrides applied."""

    task: str
    options: Seq2SeqOptions | LMOptions
    settings: GenerationSettings
    recorded: dict  # the config file, the overrides, where each setting came from (for metrics.json)


def load_generator_config(path: str | Path, overrides: Mapping[str, Any] | None = None) -> GeneratorConfig:
    """The task, network options and training settings of the config at ``path`` with ``overrides``
    (dotted keys: ``training.max_epochs``, ``options.hidden_size``, ...); a :class:`UsageError` names a
    key the task's options or the training settings do not have, or a value of the wrong type."""
    overrides = dict(overrides or {})
    config = read_config(path, overrides, known=lambda config, key: key.split(".")[0] in SECTIONS and key.count(".") == 1)
    task = config.get("generator", {}).get("task")
    if task not in TASKS:
        raise UsageError(f"{path}: [generator] task must be one of {list(TASKS)}, not {task!r}")
    options_class = LMOptions if task == "lm" else Seq2SeqOptions
    options = checked_dataclass(options_class, config.get("options", {}), "options")
    settings = checked_dataclass(GenerationSettings, config.get("training", {}), "training")
    if getattr(options, "copy", False) and options.attention == "none":
        raise UsageError("options.copy = true needs attention: set options.copy = false (--no-copy) too")
    keys = {**{f"options.{f.name}": f"options.{f.name}" for f in fields(options_class)},
            **{f"training.{f.name}": f"training.{f.name}" for f in fields(GenerationSettings) if f.name != "metric"}}
    return GeneratorConfig(task, options, settings, provenance(path, config, overrides, keys))


def train_generator(config_path: str | Path, out: str | Path, overrides: Mapping[str, Any] | None = None,
                    progress: bool = True) -> dict:
    """Train the generator that the config at ``config_path`` describes (``overrides`` applied) and save it
    with its metrics, which record the config, the overrides and where each setting came from."""
    config = load_generator_config(config_path, overrides)
    options = {"lm_options" if config.task == "lm" else "seq2seq_options": config.options}
    return train_task(config.task, out, **options, settings=config.settings, progress=progress,
                      recorded=config.recorded)


def train_task(task: str, out: str | Path, seq2seq_options: Seq2SeqOptions | None = None,
               lm_options: LMOptions | None = None, settings: GenerationSettings | None = None,
               progress: bool = True, recorded: dict | None = None) -> dict:
    """Train a generator for ``task`` on the train split (best epoch on dev), save it and its metrics
    (with ``recorded``: what :func:`train_generator` says of the settings' origin)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    if task == "lm":
        options = lm_options or LMOptions()
        settings = settings or GenerationSettings(batch_size=16)
        train_articles, train_themes = split_articles("train")
        vocab = Vocabulary.build((s for a in train_articles for s in a), min_count=options.min_count)
        streams = {s: article_streams(*split_articles(s), vocab) for s in ("train", "dev")}
        model, result = train_language_model(streams["train"], streams["dev"], vocab, options, settings,
                                             log_path=out / "train_log.jsonl", progress=progress)
        LanguageModelGenerator(model, vocab, options).save(out)
        described = asdict(options)
    else:
        options = seq2seq_options or Seq2SeqOptions()
        settings = settings or GenerationSettings()
        model, vocab, result = train_seq2seq(task_pairs(task, "train"), task_pairs(task, "dev"), options, settings,
                                              log_path=out / "train_log.jsonl", progress=progress)
        Seq2SeqGenerator(model, vocab, options, task).save(out)
        described = asdict(options)
    metrics = {
        "task": task,
        "data": "KNBC v1.0, shipped article split (corpora/knbc/splits/train.txt, dev.txt)",
        "options": described,
        "settings": asdict(settings),
        **(recorded or {}),
        "vocabulary": len(vocab),
        "best_epoch": result.best_epoch,
        "dev": result.dev_scores,
        "train_seconds": result.seconds,
        "history": result.history,
    }
    (out / "metrics.json").write_text(json.dumps(metrics, ensure_ascii=False, indent=2), encoding="utf-8")
    return metrics
