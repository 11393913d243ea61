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


def protocol_runs(
    sentences: Sequence[SentenceRecord], splits: Splits, protocol: str, runs: int | None = None
) -> list[Run]:
    """The runs of ``protocol`` over ``sentences``: all of them, or the first ``runs`` folds / seeds."""
    if protocol not in PROTOCOLS:
        raise UsageError(f"unknown protocol {protocol!r}; expected one of {list(PROTOCOLS)}")
    if runs is not None and runs < 1:
        raise UsageError(f"runs must be >= 1, got {runs}")
    sentences = list(sentences)
    if protocol == "split":
        return [Run("split", *(splits.select(sentences, name) for name in ("train", "dev", "test")))]
    result = []
    for k in range(N_FOLDS if protocol == "cv5" else len(PEER_SEEDS))[:runs]:
        if protocol == "cv5":
            rest, test = splits.fold(sentences, k)
            result.append(Run(f"fold{k}", *carve_dev_articles(rest, DEV_SEED + k), test))
        else:
            seed = PEER_SEEDS[k]
            rest, test = splits.peer_split(sentences, seed)
            result.append(Run(f"seed{seed}", *carve_dev_sentences(rest, DEV_SEED + seed), test))
    return result
