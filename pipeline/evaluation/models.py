"""The compared models by name, and the hyperparameters that the caller chooses.

- baselines: ``majority``, ``tfidf_lr``, ``mean_vectors_lr`` (the mean of the tokens' ja_ginza
  vectors, text → lemma → norm lookup, + LR with C chosen on dev; see :mod:`pipeline.evaluation.baselines`);
- spaCy's own text classifiers: ``spacy_bow`` (spacy.TextCatBOW.v3, unigrams),
  ``spacy_ensemble`` (spacy.TextCatEnsemble.v2 with the tok2vec of spaCy's default textcat config,
  no static vectors) and ``spacy_ensemble_vectors``: the same with ``include_static_vectors = true``
  and ja_ginza's vectors in the vocab, as a spaCy user with vectors configures it (spaCy looks
  vectors up by the token's text);
- our ``knbc.RNNClassifier.v1`` variants: ``rnn``, ``gru``, ``lstm`` (final state), ``bilstm``
  (final states of both directions), ``bilstm_attention`` (self-attention pooling), and
  ``bilstm_attention_ensemble``: 5 ``bilstm_attention`` members with a hashed unigram + bigram bag
  next to the recurrent states (``ngram_dim`` 64) and dropout 0.5, their probabilities averaged
  (each member trained on its own loss). The options a variant sets (:data:`RECURRENT_VARIANTS`)
  take precedence over :data:`DEFAULT_HYPERPARAMS`, and hyperparameters the caller passes over both.

Every neural model trains through :func:`pipeline.training.loop.train_component` with the same
training settings (batch size, learning rate, epochs, patience, seed).
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping, Sequence
from dataclasses import fields
from typing import Any

import numpy as np
from spacy.pipeline.textcat import single_label_bow_config, single_label_default_config
from spacy.tokens import Doc
from thinc.api import Config

import pipeline.components  # noqa: F401  (registers knbc_textcat)
from pipeline.components.architectures import build_rnn_classifier
from pipeline.errors import UsageError
from pipeline.evaluation.baselines import (
    Classifier,
    MajorityClass,
    MeanVectorLogisticRegression,
    TfidfLogisticRegression,
)
from pipeline.ginza import blank_japanese, ginza_vocab
from pipeline.training.data import make_examples
from pipeline.training.loop import TrainResult, TrainSettings, train_component

RECURRENT_VARIANTS: dict[str, dict[str, Any]] = {
    "rnn": {"cell": "rnn", "bidirectional": False, "pooling": "last"},
    "gru": {"cell": "gru", "bidirectional": False, "pooling": "last"},
    "lstm": {"cell": "lstm", "bidirectional": False, "pooling": "last"},
    "bilstm": {"cell": "lstm", "bidirectional": True, "pooling": "last"},
    "bilstm_attention": {"cell": "lstm", "bidirectional": True, "pooling": "attention"},
    "bilstm_attention_ensemble": {
        "cell": "lstm",
        "bidirectional": True,
        "pooling": "attention",
        "members": 5,
        "ngram_dim": 64,
        "dropout": 0.5,
    },
}
FAMILIES: dict[str, str] = {
    "majority": "baseline",
    "tfidf_lr": "baseline",
    "mean_vectors_lr": "baseline",
    "spacy_bow": "spacy",
    "spacy_ensemble": "spacy",
    "spacy_ensemble_vectors": "spacy",
    **{name: "recurrent" for name in RECURRENT_VARIANTS},
}
MODELS = tuple(FAMILIES)
DEFAULT_HYPERPARAMS: dict[str, Any] = {
    "hidden_size": 64,
    "trainable_dim": 64,
    "dropout": 0.3,
    "batch_size": 64,
    "learn_rate": 3e-3,
    "max_epochs": 8,
    "patience": 2,
}
COMPONENT = "task"  # the classifier's name in its pipeline: its dev score is f"{COMPONENT}_macro_f"
TRAIN_KEYS = {f.name for f in fields(TrainSettings)} - {"metric"}
RNN_KEYS = set(inspect.signature(build_rnn_classifier).parameters) - {"nO", *RECURRENT_VARIANTS["rnn"]}


def _bow_model() -> dict:
    # ngram_size stays 1: with 2, thinc's NumpyOps.ngrams fails on Docs without tokens (titles such as
    # "［携帯電話］" whose text is empty once the theme marker is removed)
    return Config().from_str(single_label_bow_config)["model"]


def _ensemble_model(static_vectors: bool = False) -> dict:
    model = Config().from_str(single_label_default_config)["model"]  # tok2vec: include_static_vectors = false
    model["tok2vec"]["embed"]["include_static_vectors"] = static_vectors
    return model


class PipelineClassifier(Classifier):
    """A spaCy text classifier component in a blank GiNZA pipeline, trained by ``train_component``."""

    def __init__(
        self, labels: Sequence[str], factory: str, config: dict, settings: TrainSettings, vectors: bool = False
    ):
        self.labels = list(labels)
        self.settings = settings
        self.nlp = blank_japanese()
        if vectors:  # spaCy's StaticVectors read the vectors of the Docs' vocab (see with_vectors)
            self.nlp.vocab.vectors = ginza_vocab().vectors
        self.nlp.add_pipe(factory, name=COMPONENT, config=config)
        self.result: TrainResult | None = None

    def fit(self, docs: Sequence[Doc], gold: Sequence[str], dev_docs: Sequence[Doc], dev_gold) -> PipelineClassifier:
        """Train on (docs, gold), keeping the epoch with the best dev macro-F1."""
        train = make_examples(docs, gold, self.labels)
        dev = make_examples(dev_docs, dev_gold, self.labels)
        self.result = train_component(self.nlp, COMPONENT, train, dev, self.settings, progress=False)
        return self

    def predict_proba(self, docs: Sequence[Doc]) -> np.ndarray:
        """``doc.cats`` of copies of the Docs (the shared Docs stay unannotated): (n_docs, n_labels)."""
        predicted = self.nlp.get_pipe(COMPONENT).pipe(doc.copy() for doc in docs)
        rows = [[doc.cats[label] for label in self.labels] for doc in predicted]
        return np.array(rows, dtype=float).reshape(len(docs), len(self.labels))

    def details(self) -> dict:
        """The epoch kept (best dev macro-F1) and the number of epochs run."""
        return {"best_epoch": self.result.best_epoch, "epochs": len(self.result.history)}


def split_hyperparams(hyperparams: Mapping[str, Any] | None = None) -> tuple[TrainSettings, dict[str, Any]]:
    """(training settings of every neural model, options of our recurrent variants) from
    :data:`DEFAULT_HYPERPARAMS` updated with ``hyperparams``.

    Training keys are the fields of ``TrainSettings`` (batch_size, learn_rate, max_epochs, patience,
    seed, ...); model keys are options of ``knbc.RNNClassifier.v1`` other than those that define a
    variant (cell, bidirectional, pooling).
    """
    merged = {**DEFAULT_HYPERPARAMS, **(hyperparams or {})}
    unknown = set(merged) - TRAIN_KEYS - RNN_KEYS
    if unknown:
        raise UsageError(f"unknown hyperparameters {sorted(unknown)}; expected some of {sorted(TRAIN_KEYS | RNN_KEYS)}")
    settings = TrainSettings(**{k: v for k, v in merged.items() if k in TRAIN_KEYS})
    return settings, {k: v for k, v in merged.items() if k in RNN_KEYS}


def build_model(name: str, labels: Sequence[str], hyperparams: Mapping[str, Any] | None = None) -> Classifier:
    """An untrained model of one of :data:`MODELS` over ``labels``."""
    if name not in FAMILIES:
        raise UsageError(f"unknown model {name!r}; expected some of {list(MODELS)}")
    if name == "majority":
        return MajorityClass(labels)
    if name == "tfidf_lr":
        return TfidfLogisticRegression(labels)
    if name == "mean_vectors_lr":
        return MeanVectorLogisticRegression(labels)
    settings, rnn_options = split_hyperparams(hyperparams)
    if name in RECURRENT_VARIANTS:
        chosen = {k: v for k, v in (hyperparams or {}).items() if k in RNN_KEYS}  # the caller's own options
        model = {"@architectures": "knbc.RNNClassifier.v1", **rnn_options, **RECURRENT_VARIANTS[name], **chosen}
        return PipelineClassifier(labels, "knbc_textcat", {"model": model}, settings)
    scorer = {"@scorers": "knbc.named_cats_scorer.v1", "name": COMPONENT}
    vectors = name == "spacy_ensemble_vectors"
    model = _bow_model() if name == "spacy_bow" else _ensemble_model(static_vectors=vectors)
    return PipelineClassifier(labels, "textcat", {"model": model, "scorer": scorer}, settings, vectors=vectors)


def with_vectors(nlp):
    """``nlp`` with ja_ginza's static vectors in its vocab, so that the Docs it makes carry them
    (spaCy's ``StaticVectors`` layer reads ``doc.vocab.vectors``); returns ``nlp``."""
    nlp.vocab.vectors = ginza_vocab().vectors
    return nlp
