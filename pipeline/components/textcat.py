"""``knbc_textcat``: a recurrent text classifier as a spaCy pipeline component.

It is spaCy's single-label ``TextCategorizer`` (training, ``doc.cats``, serialization) with a
recurrent model (``knbc.RNNClassifier.v1``), scores named after the component so that several
instances (theme, sentiment) live in one pipeline, and defined results for empty input.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, Optional

import numpy
import torch
from spacy.language import Language
from spacy.pipeline.textcat import TextCategorizer
from spacy.scorer import Scorer
from spacy.tokens import Doc
from spacy.training import Example
from spacy.util import registry
from thinc.api import Config, Model

from pipeline.components.architectures import pipeline_vectors_record, use_vectors  # (also registers the architecture)
from pipeline.components.workers import one_thread_in_workers
from pipeline.ginza import use_ginza_vectors
from pipeline.models.features import VECTORS_CFG_KEY, check_vectors_record

DEFAULT_MODEL_CONFIG = """
[model]
@architectures = "knbc.RNNClassifier.v1"
cell = "lstm"
bidirectional = true
layers = 1
hidden_size = 128
dropout = 0.3
pooling = "attention"
trainable_dim = 64
n_buckets = 20000
freeze_vectors = true
max_length = 512
"""
DEFAULT_MODEL = Config().from_str(DEFAULT_MODEL_CONFIG)["model"]
PREDICT_GROUP = 64  # Docs per forward pass at prediction time


def score_named_cats(examples: Iterable[Example], *, name: str, labels: Iterable[str], **kwargs) -> Dict[str, Any]:
    """spaCy's cats scores (macro P/R/F, per-label P/R/F, AUC) over ``labels``, keyed ``{name}_...``.

    spaCy's own keys are there too (``cats_score``, ``cats_score_desc`` naming this component,
    ``cats_f_per_type``, ...), so that ``spacy evaluate`` shows the classifier's macro-F and its
    per-label table. A pipeline with several classifiers shares those keys: spaCy keeps the last
    component's (its name is in ``cats_score_desc``); the ``{name}_...`` keys keep every one.
    """
    scores = Scorer.score_cats(examples, "cats", labels=labels, multi_label=False, **kwargs)
    named = {f"{name}_{key.removeprefix('cats_')}": value for key, value in scores.items()}
    return {**scores, "cats_score_desc": f"macro F, {name}", **named}


@registry.scorers("knbc.named_cats_scorer.v1")
def make_named_cats_scorer(name: Optional[str] = None) -> Callable:
    """The registered scorer of ``knbc_textcat``.

    With ``name`` it also serves spaCy's own ``textcat`` (which does not pass its name), so that
    both kinds of classifier report the same keys (``{name}_macro_f``).
    """
    if name is None:
        return score_named_cats

    def score(examples: Iterable[Example], *, labels: Iterable[str], multi_label: bool = False, **kwargs):
        return score_named_cats(examples, name=name, labels=labels, **kwargs)

    return score


class RecurrentTextCategorizer(TextCategorizer):
    """A single-label text classifier over GiNZA tokens and ja_ginza vectors.

    ``doc.cats`` gets one probability per label, summing to one. A Doc with no tokens (``""``)
    gets equal scores for every label. Whitespace, emoji, symbols or non-Japanese text are
    tokenized as usual and classified like any other text.
    """

    def predict(self, docs: Iterable[Doc]):
        """Class probabilities (n_docs, n_labels); uniform for Docs without tokens.

        Docs go through the network in groups of similar length (fewer recurrent steps wasted on
        padding); the scores come back in the order of ``docs``. torch runs in inference mode (no
        autograd bookkeeping at all: 6-9% faster than thinc's ``no_grad`` here).
        """
        self.owner_pid = one_thread_in_workers(getattr(self, "owner_pid", None))  # one torch thread in a worker
        docs = list(docs)
        scores = numpy.full((len(docs), len(self.labels)), 1.0 / max(len(self.labels), 1), dtype="f")
        present = sorted((i for i, doc in enumerate(docs) if len(doc)), key=lambda i: len(docs[i]))
        if not self.labels:
            return scores
        with torch.inference_mode():
            for start in range(0, len(present), PREDICT_GROUP):
                group = present[start : start + PREDICT_GROUP]
                scores[group] = self.model.ops.to_numpy(self.model.predict([docs[i] for i in group]))
        return scores

    def initialize(self, get_examples, *, nlp=None, labels=None, positive_label=None) -> None:
        """spaCy's ``initialize``; then a ``knbc.RNNClassifier.v2`` that fine-tunes a pretrained LM learns
        the size of the training set, which its schedule counts epochs by (see ``ScheduledPyTorchShim``)."""
        super().initialize(get_examples, nlp=nlp, labels=labels, positive_label=positive_label)
        shims = [shim for node in self.model.walk() for shim in node.shims if hasattr(shim, "start_schedule")]
        if shims:
            n_examples = sum(1 for _ in get_examples())
            for shim in shims:
                shim.start_schedule(n_examples)

    def get_loss(self, examples: Iterable[Example], scores):
        """spaCy's loss, each example's gradient scaled by the weight of its gold label when the
        component has ``class_weight`` ({label: weight}; an experiment of knbc evaluate)."""
        loss, d_scores = super().get_loss(examples, scores)
        class_weight = getattr(self, "class_weight", None)
        if not class_weight:
            return loss, d_scores
        truths, _ = self._examples_to_truth(examples)
        weights = numpy.asarray([class_weight.get(label, 1.0) for label in self.labels], dtype="f")
        rows = self.model.ops.asarray(numpy.asarray(truths) @ weights)  # (B,) the gold label's weight
        d_scores = d_scores * rows[:, None]
        return float((d_scores ** 2).mean()), d_scores

    def score(self, examples: Iterable[Example], **kwargs) -> Dict[str, Any]:
        """Scores over this component's labels, keyed by its name (e.g. ``theme_macro_f``)."""
        return self.scorer(examples, name=self.name, labels=self.labels, **kwargs)

    def to_disk(self, path, *, exclude=tuple()) -> None:
        """spaCy's ``to_disk``, with the record of the vectors it was trained with in its ``cfg``
        (the pipeline's, i.e. the installed ja_ginza's, unless it was loaded with a record)."""
        self.cfg.setdefault(VECTORS_CFG_KEY, pipeline_vectors_record(self.vocab))
        super().to_disk(path, exclude=exclude)

    def from_disk(self, path, *, exclude=tuple()) -> "RecurrentTextCategorizer":
        """spaCy's ``from_disk``, refusing a model trained with other vectors than the pipeline's
        (:class:`pipeline.errors.VectorsMismatchError`); a model without a record loads with a warning.
        A missing, truncated or corrupt ``cfg`` or ``model`` is a :class:`pipeline.errors.ModelError` naming
        the file, with ``spacy.load`` as with ``pipeline.load``."""
        try:
            super().from_disk(path, exclude=exclude)
        except Exception:
            from pipeline.components.files import check_component_files

            check_component_files(Path(path), trained=True)  # raises ModelError naming the damaged file
            raise  # the files look sound: a bug, which keeps its traceback
        check_vectors_record(self.cfg.get(VECTORS_CFG_KEY), pipeline_vectors_record(self.vocab), f"{path}")
        return self


@Language.factory(
    "knbc_textcat",
    assigns=["doc.cats"],
    default_config={"model": DEFAULT_MODEL, "scorer": {"@scorers": "knbc.named_cats_scorer.v1"}},
    # scores are keyed by the instance's name ({name}_macro_f), which a factory cannot name here:
    # configs list them under [training.score_weights]
    default_score_weights={},
)
def make_knbc_textcat(nlp: Language, name: str, model: Model, scorer: Optional[Callable]) -> RecurrentTextCategorizer:
    """Create a ``knbc_textcat`` component (see :class:`RecurrentTextCategorizer`): its networks read the
    vectors of the pipeline's vocab, which gets ja_ginza's when it has none (:func:`use_ginza_vectors`)."""
    use_vectors(model, use_ginza_vectors(nlp.vocab))
    component = RecurrentTextCategorizer(nlp.vocab, model, name, threshold=0.0, scorer=scorer)
    component.owner_pid = os.getpid()  # the process it was made in (see one_thread_in_workers)
    return component
