"""Interpolated modified Kneser–Ney n-gram language model (Chen & Goodman 1998), pure Python.

Each sentence is padded as ``<s> w1 ... wm </s>``; ``<s>`` is only ever context, ``</s>`` is
predicted like a word. Counts follow KenLM: the highest order uses raw counts, lower orders use
continuation counts (the number of distinct words seen before the n-gram) except for n-grams that
start with ``<s>``, which have no word before them and keep raw counts. Every order subtracts three
discounts D1, D2, D3+ (from its counts of counts) and gives the freed mass to the next lower order;
the unigrams interpolate with the uniform distribution over the vocabulary.

Unknown words: training words seen fewer than ``min_count`` times are replaced by ``<unk>`` (default 2:
training singletons become ``<unk>``, so it gets real contexts as a rare word), and any word outside the
vocabulary is read as ``<unk>`` when scoring. ``<unk>`` is always in the vocabulary, and the uniform floor
gives every vocabulary word positive probability, so perplexity is always finite. Perplexities are only
comparable between models with the same vocabulary (same training data and ``min_count``).
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Sequence

BOS, EOS, UNK = "<s>", "</s>", "<unk>"
_FALLBACK_DISCOUNTS = (0.5, 1.0, 1.5)


def _discounts(adjusted: Counter) -> tuple[float, float, float]:
    """D1, D2, D3+ of one order from its counts of counts n1..n4 (Chen & Goodman 1998).

    Where the estimate is undefined or leaves the range 0 < Dk < k (a tiny corpus, or orders with no
    singletons such as unigrams after ``<unk>`` mapping), KenLM's fallback (0.5, 1.0, 1.5) is used.
    """
    n = Counter(count for count in adjusted.values() if count <= 4)
    if not all(n[k] for k in (1, 2, 3, 4)):
        return _FALLBACK_DISCOUNTS
    y = n[1] / (n[1] + 2 * n[2])
    discounts = tuple(k - (k + 1) * y * n[k + 1] / n[k] for k in (1, 2, 3))
    return discounts if all(0 < d < k for k, d in zip((1, 2, 3), discounts)) else _FALLBACK_DISCOUNTS


class KneserNeyLM:
    """Interpolated modified Kneser–Ney language model of ``order`` (default trigram).

    Training words seen fewer than ``min_count`` times become ``<unk>`` (1 keeps them all).
    """

    def __init__(self, order: int = 3, min_count: int = 2) -> None:
        if order < 1:
            raise ValueError(f"order must be at least 1, not {order}")
        self.order = order
        self.min_count = min_count
        self.vocab: frozenset[str] = frozenset()
        self._counts: list[dict[tuple[str, ...], int]] = []  # [k-1]: adjusted count of each k-gram
        self._discounts: list[tuple[float, float, float]] = []
        self._contexts: list[dict[tuple[str, ...], tuple[int, float]]] = []  # [k-1]: context -> (total, freed mass)

    def fit(self, sentences: Sequence[Sequence[str]]) -> KneserNeyLM:
        """Count the n-grams of tokenized sentences and estimate the discounts; returns self."""
        frequency = Counter(word for sentence in sentences for word in sentence)
        self.vocab = frozenset({UNK, EOS} | {w for w, c in frequency.items() if c >= self.min_count})
        raw: list[Counter] = [Counter() for _ in range(self.order)]
        for sentence in sentences:
            tokens = [BOS, *self._known(sentence), EOS]
            for i in range(1, len(tokens)):
                for k in range(1, min(self.order, i + 1) + 1):
                    raw[k - 1][tuple(tokens[i - k + 1 : i + 1])] += 1
        self._counts, self._discounts, self._contexts = [], [], []
        for k in range(1, self.order + 1):
            adjusted = raw[k - 1] if k == self.order else self._continuation(raw[k - 1], raw[k])
            discounts = _discounts(adjusted)
            contexts: dict[tuple[str, ...], list[float]] = defaultdict(lambda: [0, 0.0])
            for ngram, count in adjusted.items():
                stats = contexts[ngram[:-1]]
                stats[0] += count
                stats[1] += discounts[min(count, 3) - 1]
            self._counts.append(dict(adjusted))
            self._discounts.append(discounts)
            self._contexts.append({context: (total, freed) for context, (total, freed) in contexts.items()})
        return self

    @staticmethod
    def _continuation(raw: Counter, higher: Counter) -> Counter:
        """Adjusted counts of one order: distinct left extensions, or the raw count after ``<s>``."""
        adjusted = Counter({ngram: count for ngram, count in raw.items() if ngram[0] == BOS})
        for ngram in higher:
            adjusted[ngram[1:]] += 1
        return adjusted

    def _known(self, words: Sequence[str]) -> list[str]:
        return [w if w in self.vocab or w == BOS else UNK for w in words]

    def prob(self, context: Sequence[str], word: str) -> float:
        """P(word | context); context is the preceding tokens (start a sentence with ``<s>``)."""
        if not self.vocab:
            raise RuntimeError("fit the model before scoring")
        history = tuple(self._known(context[-(self.order - 1) :] if self.order > 1 else []))
        word = word if word in self.vocab else UNK
        p = 1 / len(self.vocab)
        for k in range(1, len(history) + 2):
            context_k = history[len(history) - k + 1 :]
            stats = self._contexts[k - 1].get(context_k)
            if stats is None:
                break  # a longer context is unseen as well
            total, freed = stats
            count = self._counts[k - 1].get((*context_k, word), 0)
            seen = (count - self._discounts[k - 1][min(count, 3) - 1]) / total if count else 0.0
            p = seen + freed / total * p
        return p

    def logprob(self, context: Sequence[str], word: str) -> float:
        """Natural log of P(word | context)."""
        return math.log(self.prob(context, word))

    def perplexity(self, sentences: Sequence[Sequence[str]]) -> float:
        """exp of the mean negative log-probability per token, ``</s>`` included and ``<s>`` not."""
        if not sentences:
            raise ValueError("no sentences to score")
        total, tokens = 0.0, 0
        for sentence in sentences:
            padded = [BOS, *sentence, EOS]
            for i in range(1, len(padded)):
                total -= self.logprob(padded[max(0, i - self.order + 1) : i], padded[i])
                tokens += 1
        return math.exp(total / tokens)
