"""Non-neural baselines over the same GiNZA Docs as the neural models: majority class and TF-IDF + LR.

Both implement :class:`Classifier`, the interface of every compared model: ``fit(docs, gold,
dev_docs, dev_gold)`` and ``predict_proba(docs)`` -> (n_docs, n_labels) in the order of ``labels``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from spacy.tokens import Doc
from threadpoolctl import threadpool_limits

from pipeline.evaluation.metrics import classification_scores

C_GRID = (0.25, 1.0, 4.0, 16.0, 64.0)  # candidates for the inverse regularization of TF-IDF + LR


class Classifier:
    """The interface of every compared model: labels, fit, predict_proba (predict is its argmax), details."""

    labels: list[str]

    def fit(self, docs: Sequence[Doc], gold: Sequence[str], dev_docs: Sequence[Doc] | None, dev_gold) -> Classifier:
        raise NotImplementedError

    def predict_proba(self, docs: Sequence[Doc]) -> np.ndarray:
        raise NotImplementedError

    def predict(self, docs: Sequence[Doc]) -> list[str]:
        """The most probable label of each Doc (ties: the first in ``labels``)."""
        return [self.labels[i] for i in self.predict_proba(docs).argmax(axis=1)]

    def details(self) -> dict:
        """What training chose (e.g. the best epoch), as extra columns of the results table."""
        return {}


class MajorityClass(Classifier):
    """Predicts the most frequent training label (ties: the first in ``labels``) for every Doc.

    Its probabilities are the training label frequencies.
    """

    def __init__(self, labels: Sequence[str]):
        self.labels = list(labels)
        self.prior = np.full(len(self.labels), 1.0 / len(self.labels))

    def fit(self, docs: Sequence[Doc], gold: Sequence[str], dev_docs=None, dev_gold=None) -> MajorityClass:
        """Count the training labels (the dev set is not used)."""
        counts = Counter(gold)
        self.prior = np.array([counts[label] for label in self.labels], dtype=float) / len(gold)
        return self

    def predict_proba(self, docs: Sequence[Doc]) -> np.ndarray:
        """The training label frequencies for each Doc: (n_docs, n_labels)."""
        return np.tile(self.prior, (len(docs), 1))


def doc_norms(doc: Doc) -> list[str]:
    """The features of TF-IDF: GiNZA's normalized token forms (Sudachi ``norm``: ケータイ -> 携帯)."""
    return [token.norm_ for token in doc if not token.is_space]


class TfidfLogisticRegression(Classifier):
    """TF-IDF over token uni- and bigrams (GiNZA norms, sublinear tf) + multinomial logistic regression.

    With ``C=None`` the inverse regularization is picked from ``C_GRID`` by macro-F1 on the dev set
    (the dev set the neural models use for early stopping) and kept in ``self.C``.
    """

    def __init__(self, labels: Sequence[str], C: float | None = None, ngram_range: tuple[int, int] = (1, 2)):
        self.labels = list(labels)
        self.candidates = C_GRID if C is None else (C,)
        self.C = C
        self.ngram_range = ngram_range
        self.vectorizer = TfidfVectorizer(analyzer=self._ngrams, sublinear_tf=True)
        self.classifier: LogisticRegression | None = None

    def _ngrams(self, doc: Doc) -> list[str]:
        tokens = doc_norms(doc)
        low, high = self.ngram_range
        return [" ".join(tokens[i : i + n]) for n in range(low, high + 1) for i in range(len(tokens) - n + 1)]

    def fit(
        self, docs: Sequence[Doc], gold: Sequence[str], dev_docs: Sequence[Doc] | None = None, dev_gold=None
    ) -> TfidfLogisticRegression:
        """Fit on ``docs``; with ``C=None``, choose C by dev macro-F1 (ties: the smaller C)."""
        tune = len(self.candidates) > 1
        if tune and dev_docs is None:
            raise ValueError("choosing C needs a dev set: pass dev_docs and dev_gold, or fix C")
        features = self.vectorizer.fit_transform(docs)  # (n_docs, n_ngrams), sparse
        best: tuple[float, float, LogisticRegression] | None = None
        for c in self.candidates:
            with threadpool_limits(1):  # multithreaded BLAS is 10x slower here when other work holds the cores
                self.classifier = LogisticRegression(C=c, solver="newton-cg", max_iter=1000).fit(features, list(gold))
            score = classification_scores(dev_gold, self.predict(dev_docs), self.labels)["macro_f1"] if tune else 0.0
            if best is None or score > best[0]:
                best = (score, c, self.classifier)
        _, self.C, self.classifier = best
        return self

    def predict_proba(self, docs: Sequence[Doc]) -> np.ndarray:
        """Class probabilities (n_docs, n_labels); labels unseen in training get 0."""
        probs = self.classifier.predict_proba(self.vectorizer.transform(docs))  # (n_docs, n_classes_seen)
        out = np.zeros((len(docs), len(self.labels)))
        for j, label in enumerate(self.classifier.classes_):
            out[:, self.labels.index(label)] = probs[:, j]
        return out

    def details(self) -> dict:
        """The chosen inverse regularization, ``lr_C``."""
        return {"lr_C": self.C}
