"""``knbc_vectors``: ja_ginza's static vectors on every Doc, found by text, then lemma, then norm.

spaCy looks a token's vector up by its text only (私は焼肉をよく食べる: 焼肉 and よく get zeros).
This component sets spaCy's user hooks on each Doc so that ``token.vector``, ``token.has_vector``,
``span.vector``, ``doc.vector`` (means over all tokens, as spaCy takes them), their
``has_vector`` and ``similarity`` (cosine) use :class:`pipeline.models.features.VectorLookup` on the
ja_ginza table; ``token._.vector_source`` says which string found the vector (``"text"``,
``"lemma"``, ``"norm"``) or None. Setting the hooks costs three dict updates per Doc; the
lookups run only when a vector is read.

spaCy does not serialise hooks: a Doc read back from bytes (or from ``nlp.pipe(n_process=N)``)
gets them again from ``nlp.get_pipe("knbc_vectors")(doc)``.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

import numpy as np
from spacy.language import Language
from spacy.tokens import Doc, Span, Token

from pipeline.ginza import blank_japanese, ginza_vocab, use_ginza_vectors
from pipeline.models.features import (
    LOOKUP_FIELDS,
    NO_VECTOR,
    VECTORS_CFG_KEY,
    NearestWords,
    VectorLookup,
    check_vectors_record,
)

SOURCE_HOOK = "knbc_vector_source"  # doc.user_token_hooks: which lookup stage found a token's vector


def _vector_source(token: Token) -> str | None:
    hook = token.doc.user_token_hooks.get(SOURCE_HOOK)
    return hook(token) if hook is not None else None


if not Token.has_extension("vector_source"):
    Token.set_extension("vector_source", getter=_vector_source)


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    """The cosine of two vectors, 0.0 when either is all zeros."""
    norms = float(np.linalg.norm(a)) * float(np.linalg.norm(b))
    return float(np.dot(a, b) / norms) if norms else 0.0


def _similarity(item, other) -> float:
    return cosine(item.vector, other.vector)


class VectorHooks:
    """Holds the ja_ginza vector table and sets the vector hooks on each Doc (see the module docstring)."""

    def __init__(self, name: str = "knbc_vectors", vocab=None):
        self.name = name
        self.lookup = VectorLookup(vocab if vocab is not None else ginza_vocab())
        self.table = np.asarray(self.lookup.vocab.vectors.data)  # (rows, width), shared, not copied
        self._zeros = np.zeros(self.table.shape[1], dtype=self.table.dtype)
        self._token_hooks = {"vector": self.token_vector, "has_vector": self.token_has_vector,
                             "similarity": _similarity, SOURCE_HOOK: self.token_source}
        self._span_hooks = {"vector": self.span_vector, "has_vector": self.span_has_vector, "similarity": _similarity}
        self._doc_hooks = {"vector": self.span_vector, "has_vector": self.span_has_vector, "similarity": _similarity}

    def __call__(self, doc: Doc) -> Doc:
        doc.user_token_hooks.update(self._token_hooks)
        doc.user_span_hooks.update(self._span_hooks)
        doc.user_hooks.update(self._doc_hooks)
        return doc

    def token_vector(self, token: Token) -> np.ndarray:
        """The token's ja_ginza vector (zeros when none of its strings has one)."""
        row = self.lookup.row(token)
        return self.table[row] if row != NO_VECTOR else self._zeros

    def token_has_vector(self, token: Token) -> bool:
        """Whether the token's text, lemma or norm has a vector."""
        return self.lookup.row(token) != NO_VECTOR

    def token_source(self, token: Token) -> str | None:
        """Which of the token's strings found its vector: ``"text"``, ``"lemma"``, ``"norm"`` or None."""
        stage, _ = self.lookup.stage(token)
        return LOOKUP_FIELDS[stage] if stage >= 0 else None

    def _rows(self, span: Span | Doc) -> np.ndarray:
        doc = span if isinstance(span, Doc) else span.doc
        rows = self.lookup.rows(doc)  # (n_tokens,), -1 = none
        return rows if isinstance(span, Doc) else rows[span.start : span.end]

    def span_vector(self, span: Span | Doc) -> np.ndarray:
        """The mean of the tokens' vectors (tokens without one count as zeros, as in spaCy)."""
        rows = self._rows(span)
        if not len(rows):
            return self._zeros
        found = rows[rows != NO_VECTOR]
        return self.table[found].sum(axis=0) / len(rows) if len(found) else self._zeros

    def span_has_vector(self, span: Span | Doc) -> bool:
        """Whether any token of the span (or Doc) has a vector."""
        return bool((self._rows(span) != NO_VECTOR).any())

    def to_disk(self, path, exclude=()) -> None:
        """The record of the vector table (name, package version, shape, hash) in ``path/cfg``: the vectors
        themselves come from the ja_ginza package."""
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        (path / "cfg").write_text(json.dumps({VECTORS_CFG_KEY: self.record}, indent=2), encoding="utf-8")

    def from_disk(self, path, exclude=()) -> "VectorHooks":
        """Check the saved record against the installed vectors (:class:`VectorsMismatchError` when
        they differ; a folder without one loads with a warning)."""
        from pipeline.resources import read_json_object

        cfg = Path(path) / "cfg"
        saved = read_json_object(cfg).get(VECTORS_CFG_KEY) if cfg.is_file() else None
        check_vectors_record(saved, self.record, str(path))
        return self

    @property
    def record(self) -> dict:
        """The record of the vector table these hooks read."""
        from pipeline.components.architectures import pipeline_vectors_record

        return pipeline_vectors_record(self.lookup.vocab)

    def __reduce__(self):
        return (VectorHooks, (self.name,))  # a worker process reloads the table from ja_ginza


@Language.factory("knbc_vectors", assigns=["token.vector", "doc.vector", "token._.vector_source"], default_config={})
def make_knbc_vectors(nlp: Language, name: str) -> VectorHooks:
    """Create a ``knbc_vectors`` component (see :class:`VectorHooks`) over the pipeline's vectors (ja_ginza's,
    given to its vocab when it has none)."""
    return VectorHooks(name, use_ginza_vectors(nlp.vocab))


class _NearestGinzaWords(NearestWords):
    """:class:`NearestWords` over ja_ginza's table, querying through GiNZA's tokenizer."""

    def __init__(self):
        super().__init__(ginza_vocab())
        self.tokenizer = blank_japanese().tokenizer

    def similar(self, word: str, top: int = 10, tokenizer=None) -> list[tuple[str, float]]:
        return super().similar(word, top, tokenizer or self.tokenizer)


@lru_cache(maxsize=1)
def nearest_words() -> NearestWords:
    """Nearest-word search over ja_ginza's vectors (built once per process)."""
    return _NearestGinzaWords()
