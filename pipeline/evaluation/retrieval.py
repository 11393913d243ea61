"""Retrieval baseline for keywords → sentence generation: answer with the training sentence whose keywords match best.

Keywords are compared as sets. The best training pair has the most keywords in common with the query;
ties go to the higher Jaccard similarity (overlap / union, i.e. fewer keywords not asked for), then to
the shorter sentence (in characters), then to the earlier pair. A query sharing no keyword with any pair
gets the shortest training sentence (the earliest among equals) by the same rule.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence


class KeywordRetriever:
    """Nearest training sentence by keyword overlap, from ``(keywords, sentence)`` training pairs."""

    def __init__(self, train_pairs: Sequence[tuple[Sequence[str], str]]) -> None:
        if not train_pairs:
            raise ValueError("no training pairs to retrieve from")
        self._keywords = [frozenset(keywords) for keywords, _ in train_pairs]
        self._sentences = [sentence for _, sentence in train_pairs]
        self._index: dict[str, list[int]] = defaultdict(list)  # keyword -> pairs that have it
        for i, keywords in enumerate(self._keywords):
            for keyword in keywords:
                self._index[keyword].append(i)
        self._fallback = min(range(len(self._sentences)), key=lambda i: (len(self._sentences[i]), i))

    def retrieve(self, keywords: Sequence[str]) -> str:
        """The training sentence whose keywords overlap most with ``keywords`` (ties as in the module doc)."""
        query = frozenset(keywords)
        overlap: dict[int, int] = defaultdict(int)
        for keyword in query:
            for i in self._index.get(keyword, ()):
                overlap[i] += 1
        if not overlap:
            return self._sentences[self._fallback]
        best = min(
            overlap,
            key=lambda i: (-overlap[i], -overlap[i] / len(query | self._keywords[i]), len(self._sentences[i]), i),
        )
        return self._sentences[best]

    def retrieve_batch(self, queries: Sequence[Sequence[str]]) -> list[str]:
        """:meth:`retrieve` for each keyword list of ``queries``."""
        return [self.retrieve(keywords) for keywords in queries]
