"""The one training loop: seeded, shuffled minibatches through ``nlp.update``, gradient clipping,
evaluation on dev after each epoch, early stopping that keeps the best epoch, a progress bar and a
JSONL metrics log."""

from __future__ import annotations

import json
import random
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Sequence

from spacy.language import Language
from spacy.training import Example
from spacy.util import fix_random_seed, minibatch
from thinc.api import Adam
from tqdm.auto import tqdm

from pipeline.training.metrics import classification_scores


@dataclass
class TrainSettings:
    """How to train one component."""

    max_epochs: int = 15
    patience: int = 3  # epochs without a better dev score before stopping
    batch_size: int = 32
    learn_rate: float = 2e-3
    grad_clip: float = 1.0
    L2: float = 1e-6
    seed: int = 0
    metric: str = "macro_f"  # the dev score that selects the best epoch: {component}_{metric} (classifier_scores)
    keep: str = "best"  # best: the best dev epoch, early stopping by patience; last: all max_epochs, the last kept
    refit: bool = False  # after selecting the epoch on dev, retrain afresh on train + dev for that many epochs
    class_balance: float = 0.0  # (knbc_textcat) weight each example's loss by (n / (K n_label)) ** this, mean 1
    dev_in_train: bool = False  # train on train + dev from the start (with keep = "last": no selection on dev)

    def __post_init__(self):
        if self.max_epochs < 1 or self.batch_size < 1 or self.patience < 0:
            raise ValueError(f"max_epochs and batch_size must be >= 1 and patience >= 0: {self}")
        if self.keep not in ("best", "last"):
            raise ValueError(f"keep must be 'best' or 'last', not {self.keep!r}")
        if self.class_balance < 0:
            raise ValueError(f"class_balance must be >= 0, not {self.class_balance}")
        if self.refit and self.dev_in_train:
            raise ValueError("refit and dev_in_train exclude each other: refit adds dev to train after selecting the epoch")


@dataclass
class TrainResult:
    """What a training run did: per-epoch history, the chosen epoch, and its dev scores."""

    best_epoch: int
    best_score: float
    dev_scores: dict
    history: list[dict] = field(default_factory=list)
    seconds: float = 0.0
    refit: TrainResult | None = None  # with settings.refit: the run on train + dev that made the final weights


def train_component(
    nlp: Language,
    component: str,
    train: Sequence[Example],
    dev: Sequence[Example],
    settings: TrainSettings = TrainSettings(),
    log_path: str | Path | None = None,
    progress: bool = True,
) -> TrainResult:
    """Initialize and train ``nlp``'s ``component`` on ``train``, keeping its best epoch on ``dev``
    (``keep = "best"``, early stopping) or its last (``keep = "last"``: all ``max_epochs``).

    With ``settings.refit`` the component is then initialized afresh and trained on train + dev for the
    epoch count chosen on dev (its last epoch kept): the returned result is the selection run's, with the
    refit run in ``result.refit`` (its dev scores are on data it was trained on). With
    ``settings.dev_in_train`` dev joins train from the start. ``settings.class_balance`` > 0 weighs
    each example's loss by its gold label (:func:`class_weights` of the training examples), for
    components that read ``class_weight`` (``knbc_textcat``).

    Same data, settings and seed give the same model. The other components are left untouched.
    """
    if not train:
        raise ValueError("no training examples")
    if not dev:
        raise ValueError("no dev examples: early stopping needs a dev set")
    if settings.dev_in_train:
        train = [*train, *dev]
    result = _train_once(nlp, component, train, dev, settings, log_path, progress)
    if settings.refit:
        refit = replace(settings, max_epochs=result.best_epoch, keep="last", refit=False)
        if progress:
            tqdm.write(f"refit: {result.best_epoch} epochs on train + dev ({len(train) + len(dev)} examples)")
        result.refit = _train_once(nlp, component, [*train, *dev], dev, refit, None, progress)
    return result


def _train_once(nlp: Language, component: str, train: Sequence[Example], dev: Sequence[Example],
                settings: TrainSettings, log_path: str | Path | None, progress: bool) -> TrainResult:
    """One initialization and epoch loop of :func:`train_component` (no refit)."""
    fix_random_seed(settings.seed)
    pipe = nlp.get_pipe(component)
    pipe.initialize(lambda: train, nlp=nlp)
    pipe.class_weight = class_weights(train, list(pipe.labels), settings.class_balance)
    optimizer = Adam(settings.learn_rate, grad_clip=settings.grad_clip, L2=settings.L2, use_averages=False)
    others = [name for name in nlp.pipe_names if name != component]
    rng = random.Random(settings.seed)
    order = list(train)

    def train_epoch(epoch: int) -> float:
        rng.shuffle(order)
        losses: dict[str, float] = {}
        batches = length_bucketed_batches(order, settings.batch_size, rng)
        bar = tqdm(batches, desc=f"{component} epoch {epoch}", leave=False, disable=not progress)
        for batch in bar:
            nlp.update(batch, sgd=optimizer, losses=losses, exclude=others)
            bar.set_postfix(loss=f"{losses.get(component, 0.0):.3f}")
        return losses.get(component, 0.0)

    return run_epochs(
        f"{component}_{settings.metric}",
        settings,
        train_epoch,
        evaluate=lambda: classifier_scores(nlp, component, dev),
        snapshot=pipe.to_bytes,
        restore=pipe.from_bytes,
        log_path=log_path,
        progress=progress,
    )


def class_weights(examples: Sequence[Example], labels: Sequence[str], alpha: float) -> dict[str, float] | None:
    """Per-label loss weights ``(n / (K n_label)) ** alpha`` over the gold labels of ``examples``
    (n examples, K labels; a label without examples counts once), scaled so that the mean weight
    over the examples is 1; None for ``alpha`` 0 (every example weighs the same)."""
    if alpha <= 0 or not examples or not labels:
        return None
    gold = [max(labels, key=lambda label: eg.reference.cats.get(label, 0.0)) for eg in examples]
    counts = {label: max(1, gold.count(label)) for label in labels}
    weight = {label: (len(gold) / (len(labels) * n)) ** alpha for label, n in counts.items()}
    mean = sum(weight[g] for g in gold) / len(gold)
    return {label: w / mean for label, w in weight.items()}


def run_epochs(
    key: str,
    settings: TrainSettings,
    train_epoch: Callable[[int], float],
    evaluate: Callable[[], dict],
    snapshot: Callable[[], Any],
    restore: Callable[[Any], Any],
    log_path: str | Path | None = None,
    progress: bool = True,
) -> TrainResult:
    """The epoch loop every trainer shares: train an epoch, score dev, log, keep the best, stop early.

    ``train_epoch(epoch)`` returns the epoch's loss; ``evaluate()`` returns dev scores in which
    ``key`` is the one that selects the best epoch (higher is better); ``snapshot()`` captures the
    model and ``restore(snapshot)`` brings the best one back at the end. Each epoch is a line of
    ``log_path`` (JSONL).
    """
    started = time.perf_counter()
    best: tuple[float, int, Any, dict] | None = None
    history: list[dict] = []
    log = Path(log_path).open("w", encoding="utf-8") if log_path else None
    try:
        for epoch in range(1, settings.max_epochs + 1):
            loss = train_epoch(epoch)
            scores = evaluate()
            score = float(scores.get(key) or 0.0)
            entry = {"epoch": epoch, "loss": loss, "dev": score, "seconds": round(time.perf_counter() - started, 2)}
            history.append(entry)
            if log:
                log.write(json.dumps({**entry, "dev_scores": scores}, ensure_ascii=False) + "\n")
                log.flush()
            if progress:
                tqdm.write(f"epoch {epoch}: loss {loss:.4f}, dev {key} {score:.4f}")
            if settings.keep == "last":
                if epoch == settings.max_epochs:
                    best = (score, epoch, snapshot(), scores)
            elif best is None or score > best[0]:
                best = (score, epoch, snapshot(), scores)
            elif epoch - best[1] >= settings.patience:
                break
    finally:
        if log:
            log.close()
    restore(best[2])
    return TrainResult(
        best_epoch=best[1],
        best_score=best[0],
        dev_scores=best[3],
        history=history,
        seconds=round(time.perf_counter() - started, 2),
    )


def length_bucketed_batches(
    items: Sequence,
    batch_size: int,
    rng: random.Random | None,
    length: Callable[[Any], int] = lambda eg: len(eg.predicted),
    window: int = 20,
) -> list[list]:
    """Minibatches of similar lengths, in random order when ``rng`` is given.

    Items are cut into windows of ``window`` batches, sorted by ``length`` inside each window, and
    the batches shuffled: a recurrent network then steps through about the typical length of a
    batch rather than its longest member's, which makes an epoch several times faster.
    """
    batches = []
    for start in range(0, len(items), batch_size * window):
        chunk = sorted(items[start : start + batch_size * window], key=length)
        batches.extend(list(batch) for batch in minibatch(chunk, size=batch_size))
    if rng is not None:
        rng.shuffle(batches)
    return batches


CLASSIFIER_METRICS = ("macro_f", "weighted_f", "accuracy")  # the keys of classifier_scores a run can select by


def classifier_scores(nlp: Language, component: str, examples: Sequence[Example]) -> dict:
    """Scores of ``component``'s single-label predictions on copies of the examples' Docs, keyed
    ``{component}_macro_f`` (the macro-F1 of :func:`pipeline.training.metrics.classification_scores`,
    the one the evaluation reports), ``_accuracy``, ``_weighted_f``, ``_per_class`` and ``_confusion``.

    The predicted label is the highest of ``doc.cats`` (the first in label order on a tie), the gold
    label the reference's highest. The component's own ``score()`` (spaCy's scorer, for ``spacy
    evaluate``) counts a label absent from gold and predictions as F 0; this does not.
    """
    pipe = nlp.get_pipe(component)
    labels = list(pipe.labels)
    docs = pipe.pipe(eg.predicted.copy() for eg in examples)
    pred = [max(labels, key=lambda label: doc.cats.get(label, 0.0)) for doc in docs]
    gold = [max(labels, key=lambda label: eg.reference.cats.get(label, 0.0)) for eg in examples]
    scores = classification_scores(gold, pred, labels)
    names = {"macro_f1": "macro_f", "weighted_f1": "weighted_f"}
    return {f"{component}_{names.get(key, key)}": value for key, value in scores.items()}
