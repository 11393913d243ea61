"""knbc-pipeline: GiNZA tokenization and recurrent networks on the KNB corpus, as spaCy components.

``pipeline.load()`` gives the trained pipeline: ``nlp("京都の紅葉がきれいでした。").cats``;
``pipeline.classify(texts)``, ``pipeline.generate(texts)`` and ``pipeline.similar(word)`` are what the
``knbc classify``, ``knbc generate`` and ``knbc similar`` commands print (see :mod:`pipeline.api`).
Importing the package is light: torch and spaCy load with the first of these calls.
"""

from pipeline.version import __version__  # noqa: F401

_LAZY = {"load": "pipeline.loading", "classify": "pipeline.api", "generate": "pipeline.api", "similar": "pipeline.api"}
__all__ = ["__version__", *_LAZY]


def __getattr__(name: str):
    """``pipeline.load``, ``pipeline.classify``, ``pipeline.generate``, ``pipeline.similar``, imported on first use."""
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'pipeline' has no attribute {name!r}")
