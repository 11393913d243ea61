"""Non-neural baselines over the same GiNZA Docs as the neural models: majority class, TF-IDF + LR, and
the mean of the tokens' ja_ginza vectors + LR.

Each implements :class:`Classifier`, the interface of every compared model: ``fit(docs, gold,
dev_docs, dev_gold)`` and ``predict_proba(docs)`` -> (n_docs, n_labels) in the order of ``labels``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler
from spacy.tokens import Doc
from spacy.vocab import Vocab
from threadpoolctl import threadpool_limits

from pipeline.training.metrics import classification_scores
from pipeline.ginza import ginza_vocab
from pipeline.models.features import NO_VECTOR, VectorLookup

# candidates for the inverse regularization of logistic regression: half-decades from 0.001 to 100, as a
# scikit-learn user tunes C (standardized mean vectors want C near 0.01, TF-IDF features near 10)
C_GRID = (0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0, 30.0, 100.0)


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


class LogisticRegressionBaseline(Classifier):
    """Multinomial logistic regression over features that a subclass computes from Docs.

    With ``C=None`` the inverse regularization is picked from ``C_GRID`` by macro-F1 on the dev set
    (the dev set the neural models use for early stopping) and kept in ``self.C``.
    """

    def __init__(self, labels: Sequence[str], C: float | None = None):
        self.labels = list(labels)
        self.candidates = C_GRID if C is None else (C,)
        self.C = C
        self.classifier: LogisticRegression | None = None

    def fit_features(self, docs: Sequence[Doc]):
        """Learn what the features need from the training Docs; return their features (n_docs, n_features)."""
        raise NotImplementedError

    def features(self, docs: Sequence[Doc]):
        """The features of ``docs`` (n_docs, n_features), with what :meth:`fit_features` learnt."""
        raise NotImplementedError

    def fit(self, docs: Sequence[Doc], gold: Sequence[str], dev_docs: Sequence[Doc] | None = None, dev_gold=None):
        """Fit on ``docs``; with ``C=None``, choose C by dev macro-F1 (ties: the smaller C)."""
        tune = len(self.candidates) > 1
        if tune and dev_docs is None:
            raise ValueError("choosing C needs a dev set: pass dev_docs and dev_gold, or fix C")
        features = self.fit_features(docs)
        dev_features = self.features(dev_docs) if tune else None
        best: tuple[float, float, LogisticRegression] | None = None
        for c in self.candidates:
            with threadpool_limits(1):  # multithreaded BLAS is 10x slower here when other work holds the cores
                self.classifier = LogisticRegression(C=c, solver="newton-cg", max_iter=1000).fit(features, list(gold))
            if tune:
                pred = [self.labels[i] for i in self._proba(dev_features).argmax(axis=1)]
                score = classification_scores(dev_gold, pred, self.labels)["macro_f1"]
            else:
                score = 0.0
            if best is None or score > best[0]:
                best = (score, c, self.classifier)
        _, self.C, self.classifier = best
        return self

    def _proba(self, features) -> np.ndarray:
        probs = self.classifier.predict_proba(features)  # (n_docs, n_classes_seen)
        out = np.zeros((probs.shape[0], len(self.labels)))
        for j, label in enumerate(self.classifier.classes_):
            out[:, self.labels.index(label)] = probs[:, j]
        return out

    def predict_proba(self, docs: Sequence[Doc]) -> np.ndarray:
        """Class probabilities (n_docs, n_labels); labels unseen in training get 0."""
        return self._proba(self.features(docs))

    def details(self) -> dict:
        """The chosen inverse regularization, ``lr_C``."""
        return {"lr_C": self.C}


class TfidfLogisticRegression(LogisticRegressionBaseline):
    """TF-IDF over token uni- and bigrams (GiNZA norms, sublinear tf) + multinomial logistic regression
    (C chosen on dev, see :class:`LogisticRegressionBaseline`)."""

    def __init__(self, labels: Sequence[str], C: float | None = None, ngram_range: tuple[int, int] = (1, 2)):
        super().__init__(labels, C)
        self.ngram_range = ngram_range
        self.vectorizer = TfidfVectorizer(analyzer=self._ngrams, sublinear_tf=True)

    def _ngrams(self, doc: Doc) -> list[str]:
        tokens = doc_norms(doc)
        low, high = self.ngram_range
        return [" ".join(tokens[i : i + n]) for n in range(low, high + 1) for i in range(len(tokens) - n + 1)]

    def fit_features(self, docs: Sequence[Doc]):
        return self.vectorizer.fit_transform(docs)  # (n_docs, n_ngrams), sparse

    def features(self, docs: Sequence[Doc]):
        return self.vectorizer.transform(docs)


class MeanVectorLogisticRegression(LogisticRegressionBaseline):
    """The mean of the tokens' ja_ginza vectors (text → lemma → norm lookup, tokens without a vector
    left out, zeros for a Doc with none) + multinomial logistic regression (C chosen on dev).

    The features are standardized with the training set's mean and spread, as a scikit-learn user
    would before a regularized linear model.
    """

    def __init__(self, labels: Sequence[str], C: float | None = None, vocab: Vocab | None = None):
        super().__init__(labels, C)
        self.vocab = vocab
        self.scaler = StandardScaler()

    def _mean_vectors(self, docs: Sequence[Doc]) -> np.ndarray:
        if self.vocab is None:
            self.vocab = ginza_vocab()
        lookup = VectorLookup(self.vocab)
        table = np.asarray(self.vocab.vectors.data)  # (n_rows, width)
        out = np.zeros((len(docs), table.shape[1]), dtype=np.float32)
        for i, doc in enumerate(docs):
            rows = lookup.rows(doc)
            rows = rows[rows != NO_VECTOR]
            if len(rows):
                out[i] = table[rows].mean(axis=0)
        return out

    def fit_features(self, docs: Sequence[Doc]) -> np.ndarray:
        return self.scaler.fit_transform(self._mean_vectors(docs))

    def features(self, docs: Sequence[Doc]) -> np.ndarray:
        return self.scaler.transform(self._mean_vectors(docs))
