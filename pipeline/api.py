"""What Python users call, and what ``knbc classify``, ``knbc generate`` and ``knbc similar`` wrap.

>>> import pipeline
>>> pipeline.classify(["京都の紅葉がきれいでした。"])[0]["theme"]
'京都観光'
>>> pipeline.generate(["京都 紅葉 きれい"])[0]["generated"]  # models/generator-keywords
'...'

Each function loads its model on every call; to call one many times, keep what it loads:
``nlp = load(...)`` with :func:`classify_pipe`, or a :class:`TextGenerator`.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, TypeVar

from pipeline.errors import UsageError

Context = TypeVar("Context")
DEFAULT_GENERATOR = "models/generator-keywords"
NO_CONTENT_NOTE = "no content words to generate from"


def classify_pipe(nlp, items: Iterable[tuple[str, Context]]) -> Iterator[tuple[dict, Context]]:
    """``({"text", <classifier>: best label (None for a text without tokens), "cats"}, context)`` for each
    ``(text, context)`` of ``items``, lazily, through ``nlp``'s classifiers only."""
    from pipeline.loading import classifier_names

    classifiers = classifier_names(nlp)
    others = [name for name in nlp.pipe_names if name not in classifiers]
    for doc, context in nlp.pipe(items, as_tuples=True, disable=others):
        record: dict[str, Any] = {"text": doc.text}
        for name in classifiers:
            labels = nlp.get_pipe(name).labels
            record[name] = max(labels, key=lambda label: doc.cats[label]) if len(doc) else None  # "" has no label
        record["cats"] = {label: round(score, 4) for label, score in doc.cats.items()}
        yield record, context


def classify(texts: Iterable[str], model: str | Path | None = None) -> list[dict]:
    """Each text's best label per classifier and its scores: ``[{"text", "theme", "sentiment", "cats"}, ...]``
    with the pipeline at ``model`` (default: models/knbc)."""
    from pipeline.loading import DEFAULT_PIPELINE, load

    nlp = load(model or DEFAULT_PIPELINE)
    return [record for record, _ in classify_pipe(nlp, ((text, None) for text in texts))]


def check_theme(theme: str | None) -> None:
    """Raise :class:`UsageError` unless ``theme`` is None or one of the four KNBC themes."""
    from pipeline.corpus.labels import THEME_IDS

    if theme is not None and theme not in THEME_IDS:
        raise UsageError(f"unknown theme {theme!r}; expected one of {', '.join(THEME_IDS)}")


class TextGenerator:
    """A loaded generator with its tokenizer, theme and decoding: ``generator(text)`` → a record.

    The record is ``{"input", "generated"}``, with a ``"note"`` when there was nothing to generate from
    (``generated`` is then ``""``) or the generator warned (e.g. an input cut to its longest source).
    ``theme`` (one of the four KNBC themes) is what a continuation model's source and the LM are given;
    without it a continuation model gets no theme token and the LM writes in :data:`DEFAULT_THEME`.
    """

    def __init__(self, model: str | Path | None = None, theme: str | None = None, decoding=None,
                 overrides: dict[str, Any] | None = None):
        """``decoding``: a :class:`~pipeline.models.generator.Decoding` (default: the one the generator was
        tuned with on dev data, else beam search with the bigram block); ``overrides``: settings of it to
        change (e.g. ``{"beam_size": 8}``, what ``knbc generate``'s flags give)."""
        from dataclasses import replace

        from pipeline.ginza import blank_japanese
        from pipeline.loading import set_torch_threads
        from pipeline.ginza import ginza_vectors_tensor
        from pipeline.models.generator import DEFAULT_NO_REPEAT_NGRAM, Decoding, load_generator
        from pipeline.resources import shipped_path

        check_theme(theme)
        self.theme = theme
        set_torch_threads()  # as pipeline.load(): one thread unless KNBC_TORCH_THREADS says otherwise
        self.generator = load_generator(model or shipped_path(DEFAULT_GENERATOR), ginza_vectors_tensor)
        base = decoding or self.generator.decoding or Decoding(no_repeat_ngram=DEFAULT_NO_REPEAT_NGRAM)
        self.decoding = replace(base, **(overrides or {}))
        self.decoding.check()
        self.tokenizer = blank_japanese().tokenizer

    def __call__(self, text: str) -> dict:
        from pipeline.corpus.labels import DEFAULT_THEME

        source = self.generator.source_for(self.tokenizer(text), self.theme)
        record: dict[str, Any] = {"input": text, "generated": ""}
        if not self.generator.has_input(source):
            record["note"] = NO_CONTENT_NOTE
            return record
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            result = self.generator.generate(source, self.decoding, theme=self.theme or DEFAULT_THEME)
        record["generated"] = result.text
        if caught:
            record["note"] = str(caught[0].message)
        return record


def generate(texts: Iterable[str], model: str | Path | None = None, theme: str | None = None,
             decoding=None) -> list[dict]:
    """One record per text (see :class:`TextGenerator`) from the generator folder ``model`` (default:
    models/generator-keywords), decoded with ``decoding`` (a :class:`pipeline.models.generator.Decoding`;
    default beam search)."""
    generator = TextGenerator(model, theme, decoding)
    return [generator(text) for text in texts]


def similar(word: str, top: int = 10) -> list[tuple[str, float]]:
    """The ``top`` words nearest to ``word`` in ja_ginza's vectors, ``[(word, cosine), ...]`` best first
    (the word is looked up by its text, then its lemma, then its normalized form)."""
    from pipeline.components.vectors import nearest_words

    return nearest_words().similar(word, top)
