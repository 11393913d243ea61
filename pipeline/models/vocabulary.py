"""Generation data from the corpus: keyword → sentence pairs, sentence → next-sentence pairs, LM streams.

Everything is over GiNZA tokens (``blank_japanese()``'s tokenizer). Keywords are the content words
of a sentence — nouns, proper nouns, verbs and adjectives — as lemmas, in sentence order.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Iterable, Sequence

from spacy.tokens import Doc

from pipeline.corpus.labels import THEME_IDS  # noqa: F401  (re-exported for the generators)
from pipeline.corpus.records import SentenceRecord

CONTENT_POS = frozenset({"NOUN", "PROPN", "VERB", "ADJ"})
PAD, UNK, BOS, EOS = "<pad>", "<unk>", "<s>", "</s>"
SPECIALS = (PAD, UNK, BOS, EOS)


def theme_token(theme: str) -> str:
    """The source token that tells a continuation model the article's theme, e.g. ``<京都観光>``."""
    return f"<{theme}>"


def keywords(doc: Doc) -> list[str]:
    """The content words of ``doc`` (nouns, proper nouns, verbs, adjectives) as lemmas, in order."""
    return [t.lemma_ for t in doc if t.pos_ in CONTENT_POS and not t.is_space]


@dataclass
class Pair:
    """One source → target example, as token strings; ``theme`` is the article's theme."""

    sid: str
    source: list[str]
    target: list[str]
    theme: str


def keyword_pairs(records: Sequence[SentenceRecord], docs: Sequence[Doc]) -> list[Pair]:
    """keywords → sentence pairs; sentences without any content word are left out."""
    pairs = []
    for record, doc in zip(records, docs):
        source = keywords(doc)
        if source and len(doc):
            pairs.append(Pair(record.sid, source, [t.text for t in doc], record.theme))
    return pairs


def continuation_pairs(records: Sequence[SentenceRecord], docs: Sequence[Doc]) -> list[Pair]:
    """(theme token + sentence) → next sentence of the same article (parentheticals and empty sentences skipped)."""
    by_sid = {r.sid: (r, d) for r, d in zip(records, docs)}
    ordered = [by_sid[r.sid] for r in records if not r.is_parenthetical and len(by_sid[r.sid][1])]
    pairs = []
    for (record, doc), (next_record, next_doc) in zip(ordered, ordered[1:]):
        if record.article_id == next_record.article_id:
            source = [theme_token(record.theme)] + [t.text for t in doc]
            pairs.append(Pair(next_record.sid, source, [t.text for t in next_doc], record.theme))
    return pairs


class Vocabulary:
    """Token strings ↔ ids; ids 0-3 are <pad>, <unk>, <s>, </s>."""

    def __init__(self, tokens: Iterable[str] = ()):
        self.itos: list[str] = list(SPECIALS)
        self.stoi: dict[str, int] = {s: i for i, s in enumerate(SPECIALS)}
        for token in tokens:
            if token not in self.stoi:
                self.stoi[token] = len(self.itos)
                self.itos.append(token)

    @classmethod
    def build(cls, token_lists: Iterable[Sequence[str]], min_count: int = 2, max_size: int | None = None) -> "Vocabulary":
        """The tokens seen at least ``min_count`` times, most frequent first (ties by string)."""
        counts = Counter(token for tokens in token_lists for token in tokens)
        ranked = sorted((t for t, c in counts.items() if c >= min_count and t not in SPECIALS), key=lambda t: (-counts[t], t))
        return cls(ranked[:max_size] if max_size is not None else ranked)

    def __len__(self) -> int:
        return len(self.itos)

    def encode(self, tokens: Sequence[str]) -> list[int]:
        """Ids of ``tokens``; unknown tokens get the <unk> id."""
        return [self.stoi.get(t, self.stoi[UNK]) for t in tokens]

    def to_dict(self) -> dict:
        """A JSON-serializable form."""
        return {"tokens": self.itos[len(SPECIALS) :]}

    @classmethod
    def from_dict(cls, data: dict) -> "Vocabulary":
        """The inverse of :meth:`to_dict`."""
        return cls(data["tokens"])
