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
SUDACHI_MAX_BYTES = 49149  # SudachiPy refuses longer input


def ginza_pipe_names() -> list[str]:
    """The names of the pipes the installed ja_ginza package ships."""
    meta = get_model_meta(get_package_path(GINZA_MODEL))
    return list(meta.get("pipeline", []))


@lru_cache(maxsize=2)
def load_ginza(tokenizer_only: bool = True) -> Language:
    """ja_ginza with its vocab and vectors; with ``tokenizer_only`` all its pipes are left out."""
    return spacy.load(GINZA_MODEL, exclude=ginza_pipe_names() if tokenizer_only else [])
