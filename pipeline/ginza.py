"""The GiNZA pipeline this project builds on, loaded once per process.

Our components need only GiNZA's tokenizer (SudachiPy, split mode C) and the ja_ginza static
vectors; GiNZA's parser and NER are about 50x slower and stay off unless asked for.
"""

from __future__ import annotations

from functools import lru_cache

import spacy
from spacy.language import Language
from spacy.util import get_model_meta, get_package_path

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

    Our trained pipelines start from this: the ja_ginza vectors are read from the ja_ginza package
    by the components themselves (:func:`ginza_vocab`), so saved pipelines stay small.
    """
    import pipeline.tokenizer  # noqa: F401  (registers knbc.JapaneseTokenizer.v1)

    return spacy.blank("ja", config=TOKENIZER_CONFIG)


def ginza_vocab():
    """The vocab of ja_ginza, holding its 300-d static vectors (loaded once per process)."""
    return load_ginza().vocab
