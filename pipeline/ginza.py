"""The GiNZA pipeline this project builds on, loaded once per process.

Our components need only GiNZA's tokenizer (SudachiPy, split mode C) and the ja_ginza static
vectors; GiNZA's parser and NER are about 50x slower and stay off unless asked for.
"""

from __future__ import annotations

from functools import lru_cache

import spacy
from spacy.language import Language
from spacy.util import get_model_meta, get_package_path
from spacy.vectors import Vectors
from spacy.vocab import Vocab

GINZA_MODEL = "ja_ginza"
TOKENIZER_CONFIG = {"nlp": {"tokenizer": {"@tokenizers": "knbc.JapaneseTokenizer.v1", "split_mode": "C"}}}


def ginza_pipe_names() -> list[str]:
    """The names of the pipes the installed ja_ginza package ships."""
    meta = get_model_meta(get_package_path(GINZA_MODEL))
    return list(meta.get("pipeline", []))


@lru_cache(maxsize=2)
def load_ginza(tokenizer_only: bool = True) -> Language:
    """ja_ginza with its vocab and vectors; with ``tokenizer_only`` all its pipes are left out."""
    return spacy.load(GINZA_MODEL, exclude=ginza_pipe_names() if tokenizer_only else [])


def blank_japanese() -> Language:
    """An empty Japanese pipeline with GiNZA's tokenizer settings (no pipes, no vectors).

    Our trained pipelines start from this: their components give the pipeline's vocab the ja_ginza
    vectors when they are made (:func:`use_ginza_vectors`), and the vectors are not saved with the
    pipeline, so saved pipelines stay small.
    """
    import pipeline.tokenizer  # noqa: F401  (registers knbc.JapaneseTokenizer.v1)

    return spacy.blank("ja", config=TOKENIZER_CONFIG)


def ginza_vocab():
    """The vocab of ja_ginza, holding its 300-d static vectors (loaded once per process)."""
    return load_ginza().vocab


class GinzaVectors(Vectors):
    """ja_ginza's vector table in a pipeline's vocab: shared with ja_ginza's vocab (not copied) and
    left out of what the pipeline saves (``to_disk`` / ``to_bytes`` write nothing, a pickle names the
    class): a loaded or unpickled pipeline gets it from the installed ja_ginza package again."""

    def __init__(self):
        table = ginza_vocab().vectors
        super().__init__(data=table.data, name=table.name)
        self.key2row = table.key2row  # hashes -> rows, shared

    def to_disk(self, path, *, exclude=()) -> None:
        """Nothing: the table comes from the ja_ginza package."""

    def from_disk(self, path, *, exclude=()) -> "GinzaVectors":
        return self

    def to_bytes(self, *, exclude=()) -> bytes:
        return b""

    def from_bytes(self, data, *, exclude=()) -> "GinzaVectors":
        return self

    def __reduce__(self):
        return (GinzaVectors, ())


def ginza_vectors_tensor():
    """ja_ginza's vector table as a float32 tensor (rows, 300): what a generator over the pretrained LM reads."""
    from pipeline.models.features import vectors_table

    return vectors_table(ginza_vocab())


def use_ginza_vectors(vocab: Vocab) -> Vocab:
    """Give ``vocab`` (a pipeline's) the ja_ginza vectors as :class:`GinzaVectors`, unless it has vectors
    already; the Docs the pipeline makes then carry them (``doc.vocab.vectors``). Returns ``vocab``."""
    if not vocab.vectors.shape[0]:
        vocab.vectors = GinzaVectors()
    return vocab
