"""The data splits every component and report shares, stored as id lists under ``corpora/knbc/splits``.

- ``train`` / ``dev`` / ``test``: article ids, about 80/10/10 of the 249 articles, stratified by
  theme; the sentences of one article never cross splits.
- ``cv5``: a 5-fold cross-validation grouped by article and stratified by theme (fold k's test
  articles in ``cv5/fold{k}.txt``); a 25-article test set alone swings macro-F1 by about ±0.1.
- ``peer``: the protocol of published KNBC results, a random 10% sentence-level test split,
  stratified by theme, for seeds 0-4 (``peer/seed{s}.txt`` lists the test sentence ids).

``make_splits`` derives them deterministically from the corpus; ``knbc corpus splits`` writes them
and ``--check`` verifies that the stored lists are what the code derives.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

from pipeline.corpus.archive import CORPUS_DIR
from pipeline.corpus.records import Corpus, SentenceRecord

SPLITS_DIR = CORPUS_DIR / "splits"
SPLIT_SEED = 20091
N_FOLDS = 5
PEER_SEEDS = (0, 1, 2, 3, 4)
HELD_OUT_FRACTION = 0.1


@dataclass(frozen=True)
class Splits:
    """Article-level train/dev/test, cross-validation folds, and peer-protocol sentence test sets."""

    train: frozenset[str]
    dev: frozenset[str]
    test: frozenset[str]
    folds: tuple[frozenset[str], ...]  # test articles of each fold
    peer: dict[int, frozenset[str]]  # seed -> test sentence ids

    def split_of(self, article_id: str) -> str:
        """'train', 'dev' or 'test' for an article id."""
        for name in ("train", "dev", "test"):
            if article_id in getattr(self, name):
                return name
        raise KeyError(f"article {article_id!r} is in no split")

    def fold_of(self, article_id: str) -> int:
        """The cross-validation fold whose test set holds the article."""
        for k, fold in enumerate(self.folds):
            if article_id in fold:
                return k
        raise KeyError(f"article {article_id!r} is in no fold")

    def select(self, sentences: list[SentenceRecord], split: str) -> list[SentenceRecord]:
        """The sentences of the articles of one split ('train', 'dev', 'test')."""
        articles = getattr(self, split)
        return [s for s in sentences if s.article_id in articles]

    def fold(self, sentences: list[SentenceRecord], k: int) -> tuple[list[SentenceRecord], list[SentenceRecord]]:
        """(train, test) sentences of cross-validation fold ``k``."""
        held = self.folds[k]
        return [s for s in sentences if s.article_id not in held], [s for s in sentences if s.article_id in held]

    def peer_split(self, sentences: list[SentenceRecord], seed: int) -> tuple[list[SentenceRecord], list[SentenceRecord]]:
        """(train, test) sentences of the peer protocol for one seed."""
        held = self.peer[seed]
        return [s for s in sentences if s.sid not in held], [s for s in sentences if s.sid in held]


def _by_theme(items: dict[str, str]) -> dict[str, list[str]]:
    """Group ids by theme, each group sorted, themes in sorted order."""
    grouped: dict[str, list[str]] = {}
    for item, theme in sorted(items.items()):
        grouped.setdefault(theme, []).append(item)
    return dict(sorted(grouped.items()))


def make_splits(corpus: Corpus, seed: int = SPLIT_SEED) -> Splits:
    """Derive every split from the corpus, deterministically (same corpus and seed, same splits)."""
    article_theme = {s.article_id: s.theme for s in corpus.sentences}
    rng = random.Random(seed)
    train: set[str] = set()
    dev: set[str] = set()
    test: set[str] = set()
    folds: list[set[str]] = [set() for _ in range(N_FOLDS)]
    next_fold = 0
    for articles in _by_theme(article_theme).values():
        rng.shuffle(articles)
        n_held = round(len(articles) * HELD_OUT_FRACTION)
        test.update(articles[:n_held])
        dev.update(articles[n_held : 2 * n_held])
        train.update(articles[2 * n_held :])
        for article in articles:  # round-robin, carried across themes so folds stay balanced
            folds[next_fold].add(article)
            next_fold = (next_fold + 1) % N_FOLDS
    sentence_theme = {s.sid: s.theme for s in corpus.sentences}
    peer: dict[int, frozenset[str]] = {}
    for peer_seed in PEER_SEEDS:
        peer_rng = random.Random(peer_seed)
        held: set[str] = set()
        for sids in _by_theme(sentence_theme).values():
            peer_rng.shuffle(sids)
            held.update(sids[: round(len(sids) * HELD_OUT_FRACTION)])
        peer[peer_seed] = frozenset(held)
    return Splits(
        train=frozenset(train),
        dev=frozenset(dev),
        test=frozenset(test),
        folds=tuple(frozenset(f) for f in folds),
        peer=peer,
    )


def _split_files(splits: Splits) -> dict[str, frozenset[str]]:
    files = {"train.txt": splits.train, "dev.txt": splits.dev, "test.txt": splits.test}
    files.update({f"cv{N_FOLDS}/fold{k}.txt": fold for k, fold in enumerate(splits.folds)})
    files.update({f"peer/seed{seed}.txt": held for seed, held in splits.peer.items()})
    return files


def write_splits(splits: Splits, directory: Path = SPLITS_DIR) -> list[Path]:
    """Write the id lists, one id a line, sorted; return the paths written."""
    written = []
    for name, ids in _split_files(splits).items():
        path = directory / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("".join(f"{i}\n" for i in sorted(ids)), encoding="utf-8")
        written.append(path)
    return written


def _read_ids(path: Path) -> frozenset[str]:
    if not path.is_file():
        raise FileNotFoundError(f"split file {path} is missing; run `knbc corpus splits` to write it")
    return frozenset(line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip())


def load_splits(directory: Path = SPLITS_DIR) -> Splits:
    """Read the stored splits."""
    return Splits(
        train=_read_ids(directory / "train.txt"),
        dev=_read_ids(directory / "dev.txt"),
        test=_read_ids(directory / "test.txt"),
        folds=tuple(_read_ids(directory / f"cv{N_FOLDS}" / f"fold{k}.txt") for k in range(N_FOLDS)),
        peer={seed: _read_ids(directory / "peer" / f"seed{seed}.txt") for seed in PEER_SEEDS},
    )


def compare_splits(stored: Splits, derived: Splits) -> list[str]:
    """The names of the split files whose ids differ between two Splits (empty: identical)."""
    derived_files = _split_files(derived)
    return [name for name, ids in _split_files(stored).items() if derived_files[name] != ids]
