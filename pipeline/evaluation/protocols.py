"""Evaluation protocols: which sentences train, select the epoch (dev) and test each run.

- ``cv5``: the 5 article-grouped folds; dev = ~10% of the training *articles* of each theme.
- ``peer``: the 5 peer seeds (random 10% sentence-level test); dev = ~10% of the training
  sentences of each theme.
- ``split``: the shipped train/dev/test articles, one run.

Dev sets are carved from the training part only, deterministically (seeded by the run index),
so a test sentence is never used for early stopping or tuning.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from pipeline.corpus.records import SentenceRecord
from pipeline.corpus.splits import N_FOLDS, PEER_SEEDS, Splits
from pipeline.errors import UsageError

PROTOCOLS = ("cv5", "peer", "split")
DEV_FRACTION = 0.1
DEV_SEED = 7411
SUBSAMPLE_SEED = 2711  # + the run's index: which training articles a --train-fraction keeps


@dataclass(frozen=True)
class Run:
    """One train/dev/test partition of a protocol (``name``: 'fold0', 'seed3', 'split')."""

    name: str
    train: list[SentenceRecord]
    dev: list[SentenceRecord]
    test: list[SentenceRecord]


def _carve(
    records: Sequence[SentenceRecord], unit: Callable[[SentenceRecord], str], seed: int, fraction: float
) -> tuple[list[SentenceRecord], list[SentenceRecord]]:
    """(train, dev): ~``fraction`` of the units (articles or sentences) of each theme go to dev.

    A theme with a single unit keeps it in train; the split is the same for the same records and seed.
    """
    themes: dict[str, set[str]] = {}
    for record in records:
        themes.setdefault(record.theme, set()).add(unit(record))
    rng = random.Random(seed)
    held: set[str] = set()
    for theme in sorted(themes):
        units = sorted(themes[theme])
        rng.shuffle(units)
        if len(units) > 1:
            held.update(units[: max(1, round(len(units) * fraction))])
    train = [r for r in records if unit(r) not in held]
    dev = [r for r in records if unit(r) in held]
    if not dev:
        raise ValueError(f"cannot carve a dev set out of {len(records)} training sentences: too few articles")
    return train, dev


def carve_dev_articles(records: Sequence[SentenceRecord], seed: int, fraction: float = DEV_FRACTION):
    """(train, dev) with ~``fraction`` of each theme's articles in dev (an article never straddles)."""
    return _carve(records, lambda r: r.article_id, seed, fraction)


def carve_dev_sentences(records: Sequence[SentenceRecord], seed: int, fraction: float = DEV_FRACTION):
    """(train, dev) with ~``fraction`` of each theme's sentences in dev."""
    return _carve(records, lambda r: r.sid, seed, fraction)


def subsample_articles(records: Sequence[SentenceRecord], fraction: float, seed: int) -> list[SentenceRecord]:
    """The sentences of ~``fraction`` of the articles of each theme (at least one article per theme), in
    their order. The articles are drawn in a fixed shuffled order (seeded), so a smaller fraction keeps
    a subset of a larger one's articles: a learning curve adds data rather than swapping it."""
    if not 0.0 < fraction <= 1.0:
        raise UsageError(f"the training fraction must be in (0, 1], not {fraction}")
    if fraction == 1.0:
        return list(records)
    themes: dict[str, list[str]] = {}
    for record in records:
        articles = themes.setdefault(record.theme, [])
        if record.article_id not in articles:
            articles.append(record.article_id)
    rng = random.Random(seed)
    kept: set[str] = set()
    for theme in sorted(themes):
        articles = sorted(themes[theme])
        rng.shuffle(articles)
        kept.update(articles[: max(1, round(len(articles) * fraction))])
    return [r for r in records if r.article_id in kept]


def protocol_runs(
    sentences: Sequence[SentenceRecord], splits: Splits, protocol: str, runs: int | None = None,
    train_fraction: float = 1.0,
) -> list[Run]:
    """The runs of ``protocol`` over ``sentences``: all of them, or the first ``runs`` folds / seeds.

    With ``train_fraction`` < 1 each run trains on that fraction of its training articles
    (:func:`subsample_articles`, seeded by the run's index: the same for every model); its dev and test
    sentences stay as they are."""
    if protocol not in PROTOCOLS:
        raise UsageError(f"unknown protocol {protocol!r}; expected one of {list(PROTOCOLS)}")
    if runs is not None and runs < 1:
        raise UsageError(f"runs must be >= 1, got {runs}")
    sentences = list(sentences)
    if protocol == "split":
        train, dev, test = (splits.select(sentences, name) for name in ("train", "dev", "test"))
        return [Run("split", subsample_articles(train, train_fraction, SUBSAMPLE_SEED), dev, test)]
    result = []
    for k in range(N_FOLDS if protocol == "cv5" else len(PEER_SEEDS))[:runs]:
        if protocol == "cv5":
            rest, test = splits.fold(sentences, k)
            train, dev = carve_dev_articles(rest, DEV_SEED + k)
            result.append(Run(f"fold{k}", subsample_articles(train, train_fraction, SUBSAMPLE_SEED + k), dev, test))
        else:
            seed = PEER_SEEDS[k]
            rest, test = splits.peer_split(sentences, seed)
            train, dev = carve_dev_sentences(rest, DEV_SEED + seed)
            result.append(Run(f"seed{seed}", subsample_articles(train, train_fraction, SUBSAMPLE_SEED + k), dev, test))
    return result
