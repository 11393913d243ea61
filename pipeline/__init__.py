"""knbc-pipeline: GiNZA tokenization and recurrent networks on the KNB corpus, as spaCy components.

``pipeline.load()`` gives the trained pipeline: ``nlp("京都の紅葉がきれいでした。").cats``.
"""

from pipeline.version import __version__  # noqa: F401


def load(*args, **kwargs):
    """Load a trained pipeline (see :func:`pipeline.loading.load`)."""
    from pipeline.loading import load as _load

    return _load(*args, **kwargs)


def similar(word: str, top: int = 10) -> list:
    """The ``top`` words nearest to ``word`` in ja_ginza's vectors, ``[(word, cosine), ...]`` best first
    (the word is looked up by its text, then its lemma, then its normalized form)."""
    from pipeline.components.vectors import nearest_words

    return nearest_words().similar(word, top)
