"""Train one classifier component from a config file, on the shipped KNBC split or on a user's data,
and save it with its metrics and the data it saw."""

from __future__ import annotations

import json
import os
import shutil
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Any, Mapping, Sequence

import spacy
from confection import ConfigValidationError
from spacy.training import Example

from pipeline.corpus import shipped_corpus
from pipeline.corpus.splits import SPLITS_DIR, load_splits
from pipeline.errors import UsageError
from pipeline.loading import save_pipeline
from pipeline.training.data import (
    TASKS,
    DataError,
    docbin_examples,
    labelled_texts_to_examples,
    read_labelled_texts,
    task_examples,
)
from pipeline.training.loop import CLASSIFIER_METRICS, TrainResult, TrainSettings, classifier_scores, train_component
from pipeline.training.tagging import (
    TAGGER_METRICS,
    TAGGER_TASKS,
    SpanAlignment,
    read_span_file,
    record_examples,
    tagger_scores,
    train_tagger,
)
from pipeline.training.settings import checked_dataclass, has_key, lookup, provenance, read_config


def _user_examples(nlp, path: Path, label_set: Sequence[str] | None) -> list[Example]:
    if path.suffix == ".spacy":
        return docbin_examples(nlp, path, label_set)
    pairs = read_labelled_texts(path)
    labels = label_set or sorted({label for _, label in pairs})
    unknown = sorted({label for _, label in pairs} - set(labels))
    if unknown:
        raise DataError(f"{path}: labels {unknown} are not among {list(labels)}")
    return labelled_texts_to_examples(nlp, pairs, labels)


def load_task_data(nlp, task: str | None, train: Path | None, dev: Path | None, test: Path | None):
    """(train, dev, test, description): the KNBC task on the shipped split, or the user's files."""
    if train is None:
        if task not in TASKS:
            raise DataError(f"no --train file given and {task!r} is not a KNBC task {sorted(TASKS)}")
        corpus, splits = shipped_corpus(), load_splits()
        parts = [task_examples(nlp, splits.select(corpus.sentences, s), task) for s in ("train", "dev", "test")]
        files = {s: str((SPLITS_DIR / f"{s}.txt").relative_to(SPLITS_DIR.parents[2])) for s in ("train", "dev", "test")}
        return (*parts, {"source": "KNBC v1.0, shipped article split", "split_files": files})
    if dev is None:
        raise DataError("--train needs a --dev file too (early stopping selects the best epoch on it)")
    label_set = TASKS.get(task) if task else None
    train_examples = _user_examples(nlp, train, label_set)
    found = sorted({k for eg in train_examples for k, v in eg.reference.cats.items() if v == 1.0})
    if len(found) < 2:
        raise DataError(f"{train}: a classifier needs at least two labels to learn, the training data has "
                        f"{len(found)}: {found}")
    label_set = label_set or found
    parts = [train_examples, _user_examples(nlp, dev, label_set)]
    parts.append(_user_examples(nlp, test, label_set) if test else [])
    return (*parts, {"source": "user files", "train": str(train), "dev": str(dev), "test": str(test) if test else None})


def _plain_scores(scores: dict) -> dict:
    return {k: (float(v) if isinstance(v, (int, float)) else v) for k, v in scores.items() if v is not None}


CLASSIFIER_KEYS = {  # each training setting of `knbc train` and where a classifier's config holds it
    "seed": "training.seed",
    "max_epochs": "training.max_epochs",
    "patience": "knbc.patience",  # in epochs (spaCy's training.patience counts steps)
    "batch_size": "training.batcher.size",
    "learn_rate": "training.optimizer.learn_rate",
    "grad_clip": "training.optimizer.grad_clip",
    "L2": "training.optimizer.L2",
    "metric": "training.score_weights",  # its heaviest key, {component}_{metric}
    "keep": "knbc.keep",  # best: early stopping on dev, the best epoch kept; last: every epoch, the last kept
    "refit": "knbc.refit",  # then retrain afresh on train + dev for the chosen epoch count (classifiers)
    "class_balance": "knbc.class_balance",  # loss weights (n / (K n_label)) ** class_balance (classifiers)
    "dev_in_train": "knbc.dev_in_train",  # dev joins train from the start (classifiers)
}
RECIPE_KEYS = ("keep", "refit", "class_balance", "dev_in_train")  # set with --set knbc.KEY=VALUE, not a flag
CLASSIFIER_ONLY = ("refit", "class_balance", "dev_in_train")  # what the taggers' loop does not do
# the flags of `knbc train` that set one key of the config each
TRAIN_FLAGS = {name: key for name, key in CLASSIFIER_KEYS.items() if name not in ("L2", "metric", *RECIPE_KEYS)}


def _settable(config, key: str) -> bool:
    """A key of the config, a training setting of :data:`CLASSIFIER_KEYS` in a section the config has (such as
    ``knbc.refit``), or an argument of a registered function whose block is in it (such as
    ``components.theme.model.members``; spaCy checks the name when it builds the pipeline)."""
    section, _, _ = key.rpartition(".")
    if key in CLASSIFIER_KEYS.values() and has_key(config, section):  # a training setting the file leaves at its default
        return True
    return has_key(config, key) or (has_key(config, section) and any(k.startswith("@") for k in lookup(config, section)))


def classifier_settings(config, component: str) -> TrainSettings:
    """The training settings a classifier's config holds (:data:`CLASSIFIER_KEYS`)."""
    values = {name: lookup(config, key) for name, key in CLASSIFIER_KEYS.items() if has_key(config, key)}
    weights = values.pop("metric", None) or {f"{component}_macro_f": 1.0}
    best = max(weights, key=weights.get)
    metric = best.removeprefix(f"{component}_")
    if metric not in CLASSIFIER_METRICS or best == metric:
        raise UsageError(f"training.score_weights: {best!r} is not one of "
                         f"{[f'{component}_{m}' for m in CLASSIFIER_METRICS]}, which knbc train selects epochs by")
    return checked_dataclass(TrainSettings, {**values, "metric": metric}, "training", CLASSIFIER_KEYS)


def train_from_config(
    config_path: str | Path,
    out: str | Path,
    overrides: Mapping[str, Any] | None = None,
    component: str | None = None,
    task: str | None = None,
    train: Path | None = None,
    dev: Path | None = None,
    test: Path | None = None,
    progress: bool = True,
) -> tuple[TrainResult, dict]:
    """Build the pipeline of ``config_path`` with ``overrides`` (dotted keys, e.g.
    ``{"training.max_epochs": 3}``), train ``component`` on the task data with the config's training
    settings (:func:`classifier_settings`), save to ``out``.

    Writes the pipeline (its config.cfg with the overrides), ``metrics.json`` (settings and where each
    came from, the network's options, history, dev and test scores, data) and ``train_log.jsonl``.
    Returns the training result and the metrics.
    """
    overrides = dict(overrides or {})
    config = read_config(config_path, overrides, known=_settable)
    try:
        nlp = spacy.util.load_model_from_config(config, auto_fill=True, validate=True)
    except ConfigValidationError as err:
        errors = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in err.errors) or err.title
        raise UsageError(f"{config_path}: {errors}") from None
    names = nlp.pipe_names
    component = component or (names[0] if len(names) == 1 else None)
    if component not in names:
        raise DataError(f"{config_path}: name the component to train with --component, one of {names}")
    if nlp.get_pipe_meta(component).factory == "knbc_tagger":
        return _train_tagger_from_config(nlp, config, config_path, overrides, component, task, train, dev, test,
                                         Path(out), progress)
    settings = classifier_settings(config, component)
    if task is None and train is None:  # on KNBC the component's name is its task; user data bring their own labels
        task = component if component in TASKS else None
    train_ex, dev_ex, test_ex, data = load_task_data(nlp, task, train, dev, test)
    recorded = {**provenance(config_path, config, overrides, CLASSIFIER_KEYS),
                "model": dict(nlp.config["components"][component].get("model", {}))}
    out = Path(out)
    with _removed_on_failure(out):
        out.mkdir(parents=True, exist_ok=True)
        return _train_and_save(nlp, component, task, train_ex, dev_ex, test_ex, data, out, settings, recorded, progress)


def tagger_settings(config, component: str) -> TrainSettings:
    """The training settings a tagger's config holds (:data:`CLASSIFIER_KEYS`); its epoch is selected by
    ``{component}_f`` (exact span F1, the default) or ``{component}_overlap_f``."""
    values = {name: lookup(config, key) for name, key in CLASSIFIER_KEYS.items() if has_key(config, key)}
    weights = values.pop("metric", None) or {f"{component}_f": 1.0}
    best = max(weights, key=weights.get)
    metric = best.removeprefix(f"{component}_")
    if metric not in TAGGER_METRICS or best == metric:
        raise UsageError(f"training.score_weights: {best!r} is not one of "
                         f"{[f'{component}_{m}' for m in TAGGER_METRICS]}, which knbc train selects a tagger's epochs by")
    default = TrainSettings()
    for name in CLASSIFIER_ONLY:
        if name in values and values[name] != getattr(default, name):
            raise UsageError(f"{CLASSIFIER_KEYS[name]}: a classifier's setting; a tagger trains without it")
    return checked_dataclass(TrainSettings, {**values, "metric": metric}, "training", CLASSIFIER_KEYS)


def load_tagger_data(nlp, spans_key: str | None, task: str | None, train: Path | None, dev: Path | None,
                     test: Path | None) -> tuple[list[Example], list[Example], list[Example], dict]:
    """(train, dev, test, description) of a tagger: KNBC's gold spans on the shipped split, or the user's
    files (JSONL with character offsets, or DocBins); alignment counts are in the description."""
    if train is None:
        if task not in TAGGER_TASKS:
            raise DataError(f"no --train file given and {task!r} is not a KNBC tagging task {sorted(TAGGER_TASKS)}")
        if TAGGER_TASKS[task] != spans_key:
            raise DataError(f"the KNBC {task} spans go to {TAGGER_TASKS[task] or 'doc.ents'}, but the component's "
                            f"spans_key is {spans_key!r}")
        from pipeline.corpus.export import AlignmentReport

        corpus, splits = shipped_corpus(), load_splits()
        report = AlignmentReport()
        parts = [record_examples(nlp, splits.select(corpus.sentences, s), report) for s in ("train", "dev", "test")]
        files = {s: str((SPLITS_DIR / f"{s}.txt").relative_to(SPLITS_DIR.parents[2])) for s in ("train", "dev", "test")}
        return (*parts, {"source": "KNBC v1.0, shipped article split", "split_files": files,
                         "alignment": report.lines()})
    if dev is None:
        raise DataError("--train needs a --dev file too (early stopping selects the best epoch on it)")
    alignment = SpanAlignment()
    parts = [read_span_file(nlp, path, spans_key, alignment) if path else [] for path in (train, dev, test)]
    return (*parts, {"source": "user files", "train": str(train), "dev": str(dev), "test": str(test) if test else None,
                     "alignment": alignment.summary()})


def _train_tagger_from_config(nlp, config, config_path, overrides, component: str, task: str | None,
                              train: Path | None, dev: Path | None, test: Path | None, out: Path,
                              progress: bool) -> tuple[TrainResult, dict]:
    settings = tagger_settings(config, component)
    spans_key = nlp.get_pipe(component).spans_key
    if task is None and train is None:
        task = component if component in TAGGER_TASKS else None
    train_ex, dev_ex, test_ex, data = load_tagger_data(nlp, spans_key, task, train, dev, test)
    recorded = {**provenance(config_path, config, overrides, CLASSIFIER_KEYS),
                "model": dict(nlp.config["components"][component].get("model", {}))}
    with _removed_on_failure(out):
        out.mkdir(parents=True, exist_ok=True)
        return _train_and_save(nlp, component, task, train_ex, dev_ex, test_ex, data, out, settings,
                               {"spans_key": spans_key, **recorded}, progress, train_tagger, tagger_scores)


@contextmanager
def _removed_on_failure(out: Path):
    """Remove ``out`` if the block fails and ``out`` did not exist before it (no empty or half-written
    model folder is left behind; a folder that was there is left alone)."""
    existed = out.exists()
    try:
        yield
    except BaseException:
        if not existed:
            shutil.rmtree(out, ignore_errors=True)
        raise


def _train_and_save(nlp, component: str, task: str | None, train_ex: list[Example], dev_ex: list[Example],
                    test_ex: list[Example], data: dict, out: Path, settings: TrainSettings, recorded: dict,
                    progress: bool, train=None, score=None) -> tuple[TrainResult, dict]:
    """Train ``component`` with ``train`` (default: the classifiers' loop; a tagger's), score it on ``test_ex``
    with ``score`` (default: the classifiers' scores), save the pipeline, metrics.json and train_log.jsonl."""
    train, score = train or train_component, score or classifier_scores
    result = train(nlp, component, train_ex, dev_ex, settings, log_path=out / "train_log.jsonl", progress=progress)
    test_scores = score(nlp, component, test_ex) if test_ex else {}
    metrics = {
        "component": component,
        "task": task,
        "labels": list(nlp.get_pipe(component).labels),
        "data": {**data, "n_train": len(train_ex), "n_dev": len(dev_ex), "n_test": len(test_ex),
                 # the sentences the saved weights were trained on (dev too with dev_in_train; a refit's: under refit)
                 "n_trained_on": len(train_ex) + (len(dev_ex) if getattr(settings, "dev_in_train", False) else 0)},
        "settings": asdict(settings),
        **recorded,
        "best_epoch": result.best_epoch,
        "train_seconds": result.seconds,
        "dev": _plain_scores(result.dev_scores),  # of the epoch kept in training (before a refit)
        "test": _plain_scores(test_scores),
        "history": result.history,
    }
    if result.refit is not None:  # the saved weights: afresh on train + dev for best_epoch epochs
        metrics["refit"] = {"n_train": len(train_ex) + len(dev_ex), "epochs": len(result.refit.history),
                            "train_seconds": result.refit.seconds, "history": result.refit.history}
    save_pipeline(nlp, out, task=task, component=component)
    (out / "metrics.json").write_text(json.dumps(metrics, ensure_ascii=False, indent=2), encoding="utf-8")
    return result, metrics


def assemble(model_dirs: Sequence[str | Path], out: str | Path, link: bool = False) -> Path:
    """One pipeline holding the components of several trained pipelines (e.g. theme + sentiment) and
    generators (folders with a ``generator.json``, added as ``knbc_generator`` components named after their task:
    ``generator_keywords``, ``generator_continuation``, ``generator_lm``). Two components of one name are a
    :class:`DataError`.

    ``knbc_vectors`` goes first and ``knbc_sentences`` right after it, so that ``spacy.load`` gives the Doc the
    vectors and the sentences (``doc.sents``) ``pipeline.load`` gives.

    With ``link`` the pipeline refers to its sources instead of copying their weights: each
    component folder of ``out`` is a relative symlink to the folder it came from (``spacy.load`` and
    ``spacy package`` follow it), so a repository keeps one copy of each model.
    """
    from pipeline.ginza import blank_japanese, ginza_vectors_tensor, use_ginza_vectors
    from pipeline.loading import check_model_dir
    from pipeline.models.generator import load_generator

    nlp = blank_japanese()
    use_ginza_vectors(nlp.vocab)  # the components' vectors, so that sourcing them keeps their vectors (no W113)
    sources: dict[str, Path] = {}  # component name -> the folder its weights come from
    origins: dict[str, str] = {}  # component name -> the model folder named on the command line
    for model_dir in model_dirs:
        if (Path(model_dir) / "generator.json").is_file():
            generator = load_generator(model_dir, ginza_vectors_tensor)
            name = f"generator_{getattr(generator, 'task', 'lm')}"  # a language model has no task
            if name in nlp.pipe_names:
                raise DataError(f"{model_dir}: a generator named {name!r} (from {origins[name]}) is already in "
                                "the pipeline; assemble one generator per task")
            config = {} if generator.decoding is None else asdict(generator.decoding)  # the decoding tuned on dev
            nlp.add_pipe("knbc_generator", name=name, config=config).set_generator(generator)
            sources[name], origins[name] = Path(model_dir), str(model_dir)
            continue
        check_model_dir(model_dir)
        source = spacy.load(model_dir)
        for name in source.pipe_names:
            if name in nlp.pipe_names:
                raise DataError(f"{model_dir}: a component named {name!r} is already in the pipeline")
            nlp.add_pipe(name, source=source)
            sources[name], origins[name] = Path(model_dir) / name, str(model_dir)
    if "knbc_vectors" not in nlp.pipe_names:  # ja_ginza's vectors on the Doc, for spacy.load as for pipeline.load
        nlp.add_pipe("knbc_vectors", first=True)
    if "knbc_sentences" not in nlp.pipe_names:  # doc.sents, for spacy.load as for pipeline.load (no weights)
        nlp.add_pipe("knbc_sentences", after="knbc_vectors")
    out = Path(out)
    for name in sources:  # links of an earlier assembly: never write through them into their sources
        if (out / name).is_symlink():
            (out / name).unlink()
    path = save_pipeline(nlp, out, components=origins)
    if link:
        for name, folder in sources.items():
            shutil.rmtree(out / name)
            (out / name).symlink_to(os.path.relpath(folder.resolve(), out.resolve()), target_is_directory=True)
    return path
