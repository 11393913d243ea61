"""``knbc_generator``: a trained Seq2Seq as a spaCy component writing ``doc._.generated`` and ``doc._.attention``.

- ``task = "keywords"``: the Doc's content words (nouns, verbs, adjectives as lemmas) → a blog sentence.
  ``nlp("京都 紅葉 きれい")._.generated`` is a sentence.
- ``task = "continuation"``: the Doc's last sentence (with its theme, from ``doc.cats`` when a theme
  classifier ran first) → the next sentence: a whole post is continued at its end, not after its title.

- a language model (``models/lm``): continues the Doc's text in its theme (``doc.cats`` when a
  theme classifier ran first, else ``default_theme``); ``doc._.attention`` is then None.

The component knows no kind of generator: it asks the :class:`~pipeline.models.generator.Generator`
what it reads from the Doc (``source_for``) and for a ``generate``.

``doc._.attention`` is ``{"source": [...], "target": [...], "weights": [[...]]}`` (one row per
generated token, summing to one over the source). A Doc with nothing to generate from (no tokens,
or no content word for ``keywords``) gets ``""`` and a warning.

Generation is lazy by default (factory setting ``lazy = true``): the component only leaves a
reference to itself on the Doc, and the generator runs the first time ``doc._.generated`` or
``doc._.attention`` is read, its result cached in ``doc.user_data``. A Doc nobody asks costs
nothing, so ``nlp.pipe`` runs at the classifiers' speed. The reference is the component itself in
``doc.user_hooks`` (which keeps it alive as long as the Doc) and its ``key`` string in
``doc.user_data`` (what survives ``to_bytes``, a DocBin with user data and ``nlp.pipe(n_process=N)``, resolved in
this process's registry of live components); a Doc whose component is gone reads None.
``lazy = false`` generates in ``__call__``, e.g. to generate inside ``nlp.pipe``'s worker processes.
"""

from __future__ import annotations

import os
import uuid
import warnings
import weakref
from pathlib import Path

from spacy.language import Language
from spacy.tokens import Doc

from pipeline.components.workers import one_thread_in_workers
from pipeline.corpus.labels import DEFAULT_THEME, theme_from_cats
from pipeline.ginza import ginza_vectors_tensor
from pipeline.models.generator import DEFAULT_NO_REPEAT_NGRAM, Decoding, Generator, load_generator

REF_KEY = "knbc_generator"  # doc.user_data: that component's key; doc.user_hooks: the component
RESULT_KEY = "knbc_generated"  # doc.user_data: the cached (generated, attention) of that Doc
_COMPONENTS: "weakref.WeakValueDictionary[str, GeneratorComponent]" = weakref.WeakValueDictionary()


def _result(doc: Doc) -> tuple | None:
    """``(generated, attention)`` of ``doc``: cached, or generated now by the component that saw it."""
    cached = doc.user_data.get(RESULT_KEY)
    if cached is None:
        component = doc.user_hooks.get(REF_KEY) or _COMPONENTS.get(doc.user_data.get(REF_KEY, ""))
        if component is None:
            return None
        cached = doc.user_data[RESULT_KEY] = component.generate(doc)
    return cached


def _get_generated(doc: Doc) -> str | None:
    result = _result(doc)
    return None if result is None else result[0]


def _get_attention(doc: Doc) -> dict | None:
    result = _result(doc)
    return None if result is None else result[1]


def _set_generated(doc: Doc, value: str | None) -> None:
    doc.user_data[RESULT_KEY] = (value, (doc.user_data.get(RESULT_KEY) or (None, None))[1])


def _set_attention(doc: Doc, value: dict | None) -> None:
    doc.user_data[RESULT_KEY] = ((doc.user_data.get(RESULT_KEY) or (None, None))[0], value)


Doc.set_extension("generated", getter=_get_generated, setter=_set_generated, force=True)
Doc.set_extension("attention", getter=_get_attention, setter=_set_attention, force=True)


class GeneratorComponent:
    """Generates for each Doc, lazily by default (see the module docstring)."""

    def __init__(self, name: str, decoding: Decoding, default_theme: str = DEFAULT_THEME, lazy: bool = True):
        decoding.check()
        self.name, self.decoding, self.default_theme, self.lazy = name, decoding, default_theme, lazy
        self.generator: Generator | None = None
        self.key = f"{name}:{uuid.uuid4().hex}"
        self.owner_pid = os.getpid()  # the process it was made in (see one_thread_in_workers)
        _COMPONENTS[self.key] = self

    def __setstate__(self, state: dict) -> None:
        """Unpickled (a spawned ``nlp.pipe`` worker): the same key, registered in this process."""
        self.__dict__.update(state)
        _COMPONENTS[self.key] = self

    def __call__(self, doc: Doc) -> Doc:
        if self.generator is None:
            raise ValueError(f"component {self.name!r} has no model: load one with from_disk or set_generator")
        doc.user_data.pop(RESULT_KEY, None)
        doc.user_data[REF_KEY] = self.key
        doc.user_hooks[REF_KEY] = self
        if not self.lazy:
            doc.user_data[RESULT_KEY] = self.generate(doc)
        return doc

    def generate(self, doc: Doc) -> tuple[str, dict | None]:
        """``(generated text, attention)`` for ``doc`` (what ``doc._.generated`` and ``doc._.attention`` read)."""
        self.owner_pid = one_thread_in_workers(self.owner_pid)  # one torch thread in a worker process
        theme = theme_from_cats(doc.cats)
        source = self.generator.source_for(doc, theme)
        if not self.generator.has_input(source):
            warnings.warn(f"{self.name}: nothing to generate from in {doc.text[:30]!r} (no content words)", stacklevel=3)
            return "", None
        result = self.generator.generate(source, self.decoding, theme=theme or self.default_theme)
        return result.new_text, result.attention_map()

    def set_generator(self, generator: Generator) -> None:
        """Use a trained generator (e.g. straight after training)."""
        self.generator = generator

    def to_disk(self, path: str | Path, exclude=()) -> None:
        """Save the generator (JSON + state_dict)."""
        if self.generator is None:
            raise ValueError(f"component {self.name!r} has no model to save")
        self.generator.save(path)

    def from_disk(self, path: str | Path, exclude=()) -> "GeneratorComponent":
        """Load the generator saved by :meth:`to_disk`."""
        self.generator = load_generator(path, ginza_vectors_tensor)
        return self




@Language.factory(
    "knbc_generator",
    assigns=["doc._.generated", "doc._.attention"],
    default_config={"method": "beam", "beam_size": 4, "max_length": 60, "length_penalty": 0.6,
                    "no_repeat_ngram": DEFAULT_NO_REPEAT_NGRAM, "temperature": 1.0, "top_k": 0, "top_p": 1.0,
                    "seed": 0, "default_theme": DEFAULT_THEME, "lazy": True},
)
def make_knbc_generator(nlp: Language, name: str, method: str, beam_size: int, max_length: int,
                        length_penalty: float, default_theme: str, lazy: bool,
                        no_repeat_ngram: int = DEFAULT_NO_REPEAT_NGRAM, temperature: float = 1.0, top_k: int = 0,
                        top_p: float = 1.0, seed: int = 0) -> GeneratorComponent:
    """Create a ``knbc_generator`` component; its model comes from ``from_disk`` or ``set_generator``.

    With ``lazy`` (the default) it generates when ``doc._.generated`` is first read, else in ``__call__``.
    The decoding settings are those of :class:`~pipeline.models.generator.Decoding`; ``knbc assemble`` writes
    the decoding a generator was tuned with on dev data into them.
    """
    decoding = Decoding(method, beam_size, max_length, length_penalty, temperature, top_k, top_p, seed,
                        no_repeat_ngram)
    return GeneratorComponent(name, decoding, default_theme, lazy)
