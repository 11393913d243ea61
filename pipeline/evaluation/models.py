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
  (each member trained on its own loss). They are the ``[variants.*]`` sections of a config file
  (:data:`VARIANTS_CONFIG`, models/configs/variants.cfg), each over the file's shared ``[model]``
  options; its ``[training]`` holds the training settings. Overrides (``--set``) are keys of that file.

Every neural model trains through :func:`pipeline.training.loop.train_component` with the same
training settings (batch size, learning rate, epochs, patience, seed).
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
from spacy.pipeline.textcat import single_label_bow_config, single_label_default_config
from spacy.tokens import Doc
from thinc.api import Config

import pipeline.components  # noqa: F401  (registers knbc_textcat)
from pipeline.components.architectures import build_rnn_classifier, build_rnn_classifier_v2
from pipeline.errors import UsageError
from pipeline.evaluation.baselines import (
    Classifier,
    MajorityClass,
    MeanVectorLogisticRegression,
    TfidfLogisticRegression,
)
from pipeline.ginza import blank_japanese, ginza_vocab
from pipeline.resources import CHECKOUT_DIR
from pipeline.training.data import make_examples
from pipeline.training.loop import TrainResult, TrainSettings, train_component
from pipeline.training.settings import checked_dataclass, read_config

VARIANTS_CONFIG = CHECKOUT_DIR / "models" / "configs" / "variants.cfg"  # the variants of reports/
BUILT_IN: dict[str, str] = {  # model -> family, for the models that are not recurrent variants
    "majority": "baseline",
    "tfidf_lr": "baseline",
    "mean_vectors_lr": "baseline",
    "spacy_bow": "spacy",
    "spacy_ensemble": "spacy",
    "spacy_ensemble_vectors": "spacy",
}
COMPONENT = "task"  # the classifier's name in its pipeline: its dev score is f"{COMPONENT}_macro_f"
TRAIN_KEYS = {f.name for f in fields(TrainSettings)} - {"metric"}
ARCHITECTURES = {"knbc.RNNClassifier.v1": build_rnn_classifier, "knbc.RNNClassifier.v2": build_rnn_classifier_v2}
ARCHITECTURE_KEY = "architecture"  # a variant's registered architecture (default v1), e.g. "knbc.RNNClassifier.v2"
RNN_KEYS = {key for builder in ARCHITECTURES.values() for key in inspect.signature(builder).parameters} - {"nO"}
RNN_KEYS = RNN_KEYS | {ARCHITECTURE_KEY}


@dataclass
class ComparedModels:
    """The models a comparison can train: the built-in ones and the recurrent variants of a config file."""

    settings: TrainSettings  # of every neural model, unless its variant has its own ([training])
    rnn_options: dict[str, Any]  # knbc.RNNClassifier.v1 options every variant starts from ([model])
    variants: dict[str, dict[str, Any]]  # variant -> the options that make it ([variants.NAME])
    recorded: dict[str, Any]  # the config file, the overrides, and each variant's section
    variant_settings: dict[str, TrainSettings] = field(default_factory=dict)  # [variants.NAME.training] over [training]

    @property
    def families(self) -> dict[str, str]:
        """Every model's family (baseline | spacy | recurrent), the built-in models first."""
        return {**BUILT_IN, **{name: "recurrent" for name in self.variants}}

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self.families)


def _known(config, key: str) -> bool:
    section, *rest = key.split(".")
    if section == "training":
        return rest[0] in TRAIN_KEYS and len(rest) == 1
    if section == "model":
        return rest[0] in RNN_KEYS and len(rest) == 1
    if section != "variants" or not rest or rest[0] not in config.get("variants", {}):
        return False
    if len(rest) == 3 and rest[1] == "training":  # variants.NAME.training.KEY: a section the file has
        return rest[2] in TRAIN_KEYS and "training" in config["variants"][rest[0]]
    return len(rest) == 2 and rest[1] in RNN_KEYS


def load_compared_models(path: str | Path | None = None, overrides: Mapping[str, Any] | None = None) -> ComparedModels:
    """The training settings and recurrent variants of the config at ``path`` (default
    :data:`VARIANTS_CONFIG`) with ``overrides`` (dotted keys: ``training.max_epochs``,
    ``model.hidden_size``, ``variants.gru.layers``); a :class:`UsageError` names an unknown key."""
    path = Path(path or VARIANTS_CONFIG)
    overrides = dict(overrides or {})
    config = read_config(path, overrides, known=_known)
    shared = dict(config.get("training", {}))
    settings = checked_dataclass(TrainSettings, shared, "training")
    sections = {"model": dict(config.get("model", {})),
                **{f"variants.{name}": dict(options) for name, options in config.get("variants", {}).items()}}
    variant_settings = {}  # a variant's own training settings: [variants.NAME.training] over [training]
    for section, options in sections.items():
        own = options.pop("training", None)
        if own is not None:
            variant_settings[section[len("variants."):]] = checked_dataclass(
                TrainSettings, {**shared, **dict(own)}, f"{section}.training")
    for section, options in sections.items():
        unknown = sorted(set(options) - RNN_KEYS)
        if unknown:
            raise UsageError(f"{path}: unknown setting '{section}.{unknown[0]}'; expected some of {sorted(RNN_KEYS)}")
    for name in config.get("variants", {}):  # its options without its own [training] (popped above)
        _variant_model(name, {**sections["model"], **sections[f"variants.{name}"]}, path)
    clash = sorted(set(config.get("variants", {})) & set(BUILT_IN))
    if clash:
        raise UsageError(f"{path}: variant {clash[0]!r} has the name of a built-in model")
    shown = path.resolve().relative_to(CHECKOUT_DIR) if path.resolve().is_relative_to(CHECKOUT_DIR) else path
    recorded = {"config": str(shown), "overrides": overrides,
                "variant_configs": {name: f"{shown} [variants.{name}]" for name in config.get("variants", {})}}
    variants = {name[len("variants."):]: options for name, options in sections.items() if name != "model"}
    return ComparedModels(settings, sections["model"], variants, recorded, variant_settings)


def _variant_model(name: str, options: dict[str, Any], where: str | Path = "variants") -> dict:
    """The model config of a recurrent variant: its ``architecture`` (default v1) with the options it takes;
    a :class:`UsageError` names an unknown architecture or an option it does not take."""
    options = dict(options)
    architecture = options.pop(ARCHITECTURE_KEY, "knbc.RNNClassifier.v1")
    if architecture not in ARCHITECTURES:
        raise UsageError(f"{where}: variant {name!r}: unknown architecture {architecture!r}; "
                         f"expected one of {list(ARCHITECTURES)}")
    unknown = sorted(set(options) - set(inspect.signature(ARCHITECTURES[architecture]).parameters))
    if unknown:
        raise UsageError(f"{where}: variant {name!r}: {architecture} has no setting {unknown[0]!r}")
    return {"@architectures": architecture, **options}


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
        self._make = (factory, config, vectors)
        self.nlp = self._pipeline()
        self.result: TrainResult | None = None

    def _pipeline(self):
        factory, config, vectors = self._make
        nlp = blank_japanese()
        if vectors:
            nlp.vocab.vectors = ginza_vocab().vectors
        nlp.add_pipe(factory, name=COMPONENT, config=config)
        return nlp

    def fit(self, docs: Sequence[Doc], gold: Sequence[str], dev_docs: Sequence[Doc], dev_gold) -> PipelineClassifier:
        """Train on (docs, gold) with the settings' recipe (:func:`train_component`: the epoch with
        the best dev macro-F1, or the last; a refit on train + dev; class weights)."""
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
        details = {"best_epoch": self.result.best_epoch, "epochs": len(self.result.history),
                   "dev_history": " ".join(f"{h['dev']:.3f}" for h in self.result.history)}
        if self.result.refit is not None:
            details["refit_epochs"] = len(self.result.refit.history)
        return details


def build_model(name: str, labels: Sequence[str], compared: ComparedModels | None = None) -> Classifier:
    """An untrained model of ``compared.names`` (default: those of :data:`VARIANTS_CONFIG`) over ``labels``."""
    compared = compared or load_compared_models()
    if name not in compared.families:
        raise UsageError(f"unknown model {name!r}; expected some of {list(compared.names)}")
    if name == "majority":
        return MajorityClass(labels)
    if name == "tfidf_lr":
        return TfidfLogisticRegression(labels)
    if name == "mean_vectors_lr":
        return MeanVectorLogisticRegression(labels)
    settings = compared.variant_settings.get(name, compared.settings)
    if name in compared.variants:
        model = _variant_model(name, {**compared.rnn_options, **compared.variants[name]})
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
