"""``knbc_post_classifier``: the hierarchical attention network over a whole post as a spaCy component.

For a Doc (a post) it sets

* ``doc.cats``: the post's theme, one probability per theme, summing to one (uniform for a Doc without tokens),
  written over a sentence classifier's theme scores only when the Doc has more than one sentence;
* for a Doc of one sentence whose ``doc.cats`` already hold every theme and sentiment (the sentence
  classifiers ran before it, as in ``models/knbc``), that sentence's ``span._.cats`` are those scores and
  the network does not run: with no neighbours to read, the sentence classifiers are the better ones
  (theme macro-F1 0.74 against 0.63, sentiment 0.43 against 0.42, on the 310 test sentences of the
  split, each read alone), and the pipeline is faster. ``reuse_sentence_cats = false`` runs the network anyway;
* per sentence ``span._.cats`` (its theme read in the post, and its sentiment read with its neighbours:
  ``{theme: p, ..., sentiment: p, ...}``, each group summing to one) and ``span._.attention`` (the
  sentence attention weight: the weights of a post's sentences sum to one);
* ``doc._.post_sentences``: the sentences it read, as Spans.

The sentences are ``doc.sents`` when the Doc has sentence annotation (a sentence splitter earlier in the
pipeline) and the whole Doc otherwise (one sentence, attention 1.0). Sentences after the first
``max_sentences`` (1000) are not read and get None; each sentence is read up to ``max_words`` tokens.
The results live in ``doc.user_data`` as plain lists (keyed by character offsets), so the Doc still
serializes; ``span._.cats`` of any other span is None.

The network (:class:`pipeline.nn.hierarchical.HierarchicalAttentionNetwork`) is saved as a state_dict
in fp16 next to its options and labels (``post_model.json``); the frozen ja_ginza table is not saved.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable, Iterator, Sequence

import torch
from spacy.language import Language
from spacy.tokens import Doc, Span
from spacy.util import registry

from pipeline.components.architectures import doc_features, pipeline_vectors_record
from pipeline.components.workers import one_thread_in_workers
from pipeline.ginza import use_ginza_vectors
from pipeline.models.features import check_vectors_record, vectors_table
from pipeline.models.posts import (
    PostFeatures,
    PostOptions,
    build_post_network,
    load_post_weights,
    pad_posts,
    post_sentences,
    read_post_model_info,
    save_post_model,
    split_features,
)

RESULTS_KEY = "knbc_post_sentences"  # doc.user_data: [[start_char, end_char, cats, attention], ...]
PREDICT_GROUP = 16  # posts per forward pass


def _sentence_result(span: Span) -> list | None:
    for start, end, cats, attention in span.doc.user_data.get(RESULTS_KEY, ()):
        if start == span.start_char and end == span.end_char:
            return [cats, attention]
    return None


def _span_cats(span: Span) -> dict | None:
    result = _sentence_result(span)
    return None if result is None else result[0]


def _span_attention(span: Span) -> float | None:
    result = _sentence_result(span)
    return None if result is None else result[1]


def _post_sentences(doc: Doc) -> list[Span]:
    return [doc.char_span(start, end) for start, end, _, _ in doc.user_data.get(RESULTS_KEY, ())]


Span.set_extension("cats", getter=_span_cats, force=True)
Span.set_extension("attention", getter=_span_attention, force=True)
Doc.set_extension("post_sentences", getter=_post_sentences, force=True)


@registry.architectures("knbc.HierarchicalClassifier.v1")
def build_hierarchical_classifier(
    cell: str = "lstm",
    word_hidden: int = 64,
    sentence_hidden: int = 64,
    attention_dim: int = 64,
    trainable_dim: int = 32,
    n_buckets: int = 20000,
    freeze_vectors: bool = True,
    dropout: float = 0.3,
    theme_from_post: bool = True,
    post_vote: bool = False,
    max_words: int = 128,
    max_sentences: int = 1000,
    vector_dim: int = 300,
) -> PostOptions:
    """The options of a hierarchical attention network (word ``cell`` + attention -> sentence vectors,
    sentence ``cell`` + attention -> post vector; heads for the post's theme and each sentence's theme and
    sentiment). The network itself is built when the labels are known (training) or loaded (from_disk)."""
    return PostOptions(cell=cell, word_hidden=word_hidden, sentence_hidden=sentence_hidden, attention_dim=attention_dim,
                       trainable_dim=trainable_dim, n_buckets=n_buckets, freeze_vectors=freeze_vectors,
                       dropout=dropout, theme_from_post=theme_from_post, post_vote=post_vote, max_words=max_words,
                       max_sentences=max_sentences, vector_dim=vector_dim)


class PostClassifier:
    """Classifies a post and each of its sentences (see the module docstring)."""

    def __init__(self, vocab, name: str, options: PostOptions, reuse_sentence_cats: bool = True):
        self.vocab, self.name, self.options = vocab, name, options
        self.reuse_sentence_cats = reuse_sentence_cats
        self.themes: list[str] = []
        self.sentiments: list[str] = []
        self.network = None
        self.vectors_record: dict | None = None
        self.owner_pid = os.getpid()

    @property
    def labels(self) -> tuple[str, ...]:
        """The post's labels (the themes)."""
        return tuple(self.themes)

    def new_network(self, themes: Sequence[str], sentiments: Sequence[str]):
        """A freshly drawn network for these labels, over the pipeline's vectors; it becomes the component's."""
        self.themes, self.sentiments = list(themes), list(sentiments)
        self.network = build_post_network(self.options, vectors_table(self.vocab), len(self.themes), len(self.sentiments))
        self.network.eval()
        self.vectors_record = pipeline_vectors_record(self.vocab)
        return self.network

    def features(self, doc: Doc) -> tuple[list[Span], PostFeatures]:
        """The sentences the network reads and their features (computed once per Doc, kept on it)."""
        sentences = post_sentences(doc)[: self.options.max_sentences]
        return sentences, split_features(doc_features(doc, self.options.n_buckets), sentences)

    def __call__(self, doc: Doc) -> Doc:
        return next(self.pipe([doc]))

    def pipe(self, docs: Iterable[Doc], batch_size: int = PREDICT_GROUP) -> Iterator[Doc]:
        docs = iter(docs)
        while True:
            group = [doc for _, doc in zip(range(max(batch_size, 1)), docs)]
            if not group:
                return
            self.set_annotations(group, self.predict(group))
            yield from group

    def predict(self, docs: Sequence[Doc]) -> list[dict]:
        """For each Doc: ``{"sentences": [Span], "post": [p per theme], "theme": [[...]], "sentiment": [[...]],
        "attention": [w per sentence]}`` (plain lists)."""
        if self.network is None:
            raise ValueError(f"component {self.name!r} has no model: train it or load one with from_disk")
        self.owner_pid = one_thread_in_workers(self.owner_pid)
        sentences = [post_sentences(doc)[: self.options.max_sentences] for doc in docs]
        uniform = [1.0 / len(self.themes)] * len(self.themes)
        results: list[dict] = [{"sentences": [], "post": uniform, "theme": [], "sentiment": [], "attention": []}
                               for _ in docs]
        present = []  # the Docs the network reads: with sentences, and no result from the sentence classifiers
        for i, (doc, found) in enumerate(zip(docs, sentences)):
            reused = self._sentence_classifiers_result(doc, found)
            if reused is not None:
                results[i] = reused
            elif found:
                present.append(i)
        present.sort(key=lambda i: len(sentences[i]))
        features = {i: split_features(doc_features(docs[i], self.options.n_buckets), sentences[i]) for i in present}
        self.network.eval()
        with torch.inference_mode():
            for start in range(0, len(present), PREDICT_GROUP):
                group = present[start:start + PREDICT_GROUP]
                batch = pad_posts([features[i] for i in group], self.options.max_words, self.options.max_sentences)
                out = self.network(*batch.args())
                post = torch.softmax(out["post"], -1).tolist()
                theme = torch.softmax(out["sentence_theme"], -1).tolist()
                sentiment = torch.softmax(out["sentence_sentiment"], -1).tolist()
                attention = out["attention"].tolist()
                for row, i in enumerate(group):
                    n = len(sentences[i])
                    results[i] = {"sentences": sentences[i], "post": post[row], "theme": theme[row][:n],
                                  "sentiment": sentiment[row][:n], "attention": attention[row][:n]}
        return results

    def _sentence_classifiers_result(self, doc: Doc, sentences: Sequence[Span]) -> dict | None:
        """The result for a one-sentence Doc from the sentence classifiers' ``doc.cats`` (see the module
        docstring), or None when the network must run (more sentences, a label missing, or turned off)."""
        if not self.reuse_sentence_cats or len(sentences) != 1:
            return None
        if not all(label in doc.cats for label in (*self.themes, *self.sentiments)):
            return None
        themes = [float(doc.cats[label]) for label in self.themes]
        sentiments = [float(doc.cats[label]) for label in self.sentiments]
        return {"sentences": list(sentences), "post": themes, "theme": [themes], "sentiment": [sentiments],
                "attention": [1.0]}

    def set_annotations(self, docs: Sequence[Doc], results: Sequence[dict]) -> None:
        for doc, result in zip(docs, results):
            # a post's theme; a one-sentence Doc keeps a sentence classifier's (better on one sentence:
            # theme macro-F1 0.74 against 0.64 for this network on the test sentences of the split)
            if len(result["sentences"]) > 1 or not any(label in doc.cats for label in self.themes):
                doc.cats = {**doc.cats, **{label: float(p) for label, p in zip(self.themes, result["post"])}}
            doc.user_data[RESULTS_KEY] = [
                [span.start_char, span.end_char,
                 {**{t: float(p) for t, p in zip(self.themes, theme)},
                  **{s: float(p) for s, p in zip(self.sentiments, sentiment)}},
                 float(weight)]
                for span, theme, sentiment, weight in zip(result["sentences"], result["theme"], result["sentiment"],
                                                          result["attention"])
            ]

    def to_disk(self, path: str | Path, exclude=()) -> None:
        """Save ``post_model.json`` (options, labels, the vectors' record) and ``post_model.pt`` (fp16)."""
        if self.network is None:
            raise ValueError(f"component {self.name!r} has no model to save")
        info = {"themes": self.themes, "sentiments": self.sentiments,
                "vectors": self.vectors_record or pipeline_vectors_record(self.vocab)}
        save_post_model(path, self.network, self.options, info)

    def from_disk(self, path: str | Path, exclude=()) -> "PostClassifier":
        """Load what :meth:`to_disk` saved; a model trained with other vectors is a ``VectorsMismatchError``,
        a missing or damaged file a ``ModelError`` naming it."""
        info = read_post_model_info(path)
        self.options = PostOptions.from_dict(info["options"])
        self.new_network(info["themes"], info["sentiments"])
        load_post_weights(path, self.network)
        self.network.eval()
        check_vectors_record(info.get("vectors"), pipeline_vectors_record(self.vocab), f"{path}")
        self.vectors_record = info.get("vectors")
        return self


DEFAULT_POST_MODEL = {"@architectures": "knbc.HierarchicalClassifier.v1"}


@Language.factory(
    "knbc_post_classifier",
    assigns=["doc.cats", "span._.cats", "span._.attention", "doc._.post_sentences"],
    default_config={"model": DEFAULT_POST_MODEL, "reuse_sentence_cats": True},
)
def make_knbc_post_classifier(nlp: Language, name: str, model: PostOptions,
                              reuse_sentence_cats: bool = True) -> PostClassifier:
    """Create a ``knbc_post_classifier`` (see :class:`PostClassifier`); its network comes from training
    (``new_network``) or ``from_disk``. The pipeline's vocab gets ja_ginza's vectors when it has none.
    ``reuse_sentence_cats``: a one-sentence Doc takes its sentence's classes from the sentence classifiers
    that ran before (``doc.cats``) instead of running the network."""
    use_ginza_vectors(nlp.vocab)
    return PostClassifier(nlp.vocab, name, model, reuse_sentence_cats)
