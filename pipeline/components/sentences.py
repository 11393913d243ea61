"""``knbc_sentences``: sentence boundaries of blog text on every Doc, from the tokens alone (no parser).

The rules are :mod:`pipeline.sentences`' (sentence-final marks and their repeated forms, line breaks,
closing brackets, emoticons and quotations); this component sets ``token.is_sent_start`` on every token
from them, so that ``doc.sents`` works. A sentence start that falls inside a token moves to the next
token. The component has no weights: what it saves is a small ``cfg`` naming it (so that a model folder
holds a folder for each of its components).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy
from spacy.attrs import IDX, SENT_START
from spacy.language import Language
from spacy.tokens import Doc

from pipeline.sentences import sentence_start_tokens

CFG = {"rules": "pipeline.sentences", "version": 1}
NOT_START = numpy.uint64(2**64 - 1)  # SENT_START -1 (not a sentence start) as spaCy's arrays hold it


class SentenceSplitter:
    """Sets ``token.is_sent_start`` on each Doc by :func:`pipeline.sentences.sentence_start_tokens`."""

    def __init__(self, name: str = "knbc_sentences"):
        self.name = name

    def __call__(self, doc: Doc) -> Doc:
        """Set every token's ``is_sent_start`` (True or False) in one array write: setting them one by one
        costs time quadratic in the Doc's length in spaCy (each setter scans the Doc)."""
        if not len(doc):
            return doc
        values = numpy.full((len(doc), 1), NOT_START, dtype=numpy.uint64)
        values[sentence_start_tokens(doc.to_array(IDX).tolist(), doc.text), 0] = 1
        doc.from_array([SENT_START], values)
        return doc

    def pipe(self, docs, batch_size: int = 128):
        """The Docs of ``docs``, each split as by ``__call__``."""
        for doc in docs:
            yield self(doc)

    def to_disk(self, path, exclude=()) -> None:
        """``path/cfg``: which rules the component applies (there are no weights)."""
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        (path / "cfg").write_text(json.dumps(CFG, indent=2), encoding="utf-8")

    def from_disk(self, path, exclude=()) -> "SentenceSplitter":
        """Nothing to read: the rules are the installed package's."""
        return self

    def to_bytes(self, exclude=()) -> bytes:
        return json.dumps(CFG).encode("utf-8")

    def from_bytes(self, data: bytes, exclude=()) -> "SentenceSplitter":
        return self


@Language.factory("knbc_sentences", assigns=["token.is_sent_start"], default_config={})
def make_knbc_sentences(nlp: Language, name: str) -> SentenceSplitter:
    """Create a ``knbc_sentences`` component (see :class:`SentenceSplitter`)."""
    return SentenceSplitter(name)
