"""``knbc_generator``: a trained Seq2Seq as a spaCy component writing ``doc._.generated`` and ``doc._.attention``.

- ``task = "keywords"``: the Doc's content words (nouns, verbs, adjectives as lemmas) → a blog sentence.
  ``nlp("京都 紅葉 きれい")._.generated`` is a sentence.
- ``task = "continuation"``: the Doc's tokens (with its theme, from ``doc.cats`` when a theme
  classifier ran first) → the next sentence.

- a language model (``models/lm``): continues the Doc's text in its theme (``doc.cats`` when a
  theme classifier ran first, else ``default_theme``); ``doc._.attention`` is then None.

``doc._.attention`` is ``{"source": [...], "target": [...], "weights": [[...]]}`` (one row per
generated token, summing to one over the source). A Doc with nothing to generate from (no tokens,
or no content word for ``keywords``) gets ``""`` and a warning.
"""

from __future__ import annotations

import warnings
from pathlib import Path

from spacy.language import Language
from spacy.tokens import Doc

from pipeline.corpus.export import THEME_LABELS
from pipeline.generation.data import keywords, theme_token
from pipeline.generation.generator import Decoding, LanguageModelGenerator, Seq2SeqGenerator, load_generator

for _name in ("generated", "attention"):
    if not Doc.has_extension(_name):
        Doc.set_extension(_name, default=None)


def continuation_source(doc: Doc) -> list[str]:
    """A continuation model's source: the theme token (when ``doc.cats`` has a theme) and the tokens."""
    themes = {label: doc.cats[label] for label in THEME_LABELS if label in doc.cats}
    prefix = [theme_token(max(themes, key=themes.get))] if themes else []
    return prefix + [t.text for t in doc if not t.is_space]


class GeneratorComponent:
    """Runs a :class:`Seq2SeqGenerator` on each Doc (see the module docstring)."""

    def __init__(self, name: str, decoding: Decoding, default_theme: str = "京都観光"):
        decoding.check()
        self.name, self.decoding, self.default_theme = name, decoding, default_theme
        self.generator: Seq2SeqGenerator | LanguageModelGenerator | None = None

    def __call__(self, doc: Doc) -> Doc:
        if self.generator is None:
            raise ValueError(f"component {self.name!r} has no model: load one with from_disk or set_generator")
        if isinstance(self.generator, LanguageModelGenerator):
            return self._continue_text(doc)
        source = keywords(doc) if self.generator.task == "keywords" else continuation_source(doc)
        if not [t for t in source if not t.startswith("<")]:
            warnings.warn(f"{self.name}: nothing to generate from in {doc.text[:30]!r} (no content words)", stacklevel=2)
            doc._.generated, doc._.attention = "", None
            return doc
        result = self.generator.generate(source, self.decoding)
        doc._.generated = result.text
        doc._.attention = {"source": result.source, "target": result.tokens, "weights": result.attention}
        return doc

    def _continue_text(self, doc: Doc) -> Doc:
        """The language model continues the Doc's text (in its theme, from ``doc.cats`` when known)."""
        themes = {label: doc.cats[label] for label in THEME_LABELS if label in doc.cats}
        theme = max(themes, key=themes.get) if themes else self.default_theme
        prompt = [t.text for t in doc if not t.is_space]
        result = self.generator.generate(prompt, theme, self.decoding)
        doc._.generated = result.text[len("".join(prompt)) :]  # the continuation only
        doc._.attention = None  # a language model attends to nothing
        return doc

    def set_generator(self, generator: Seq2SeqGenerator | LanguageModelGenerator) -> None:
        """Use a trained generator (e.g. straight after training)."""
        self.generator = generator

    def to_disk(self, path: str | Path, exclude=()) -> None:
        """Save the generator (JSON + state_dict)."""
        if self.generator is None:
            raise ValueError(f"component {self.name!r} has no model to save")
        self.generator.save(path)

    def from_disk(self, path: str | Path, exclude=()) -> "GeneratorComponent":
        """Load the generator saved by :meth:`to_disk`."""
        self.generator = load_generator(path)
        return self


@Language.factory(
    "knbc_generator",
    assigns=["doc._.generated", "doc._.attention"],
    default_config={"method": "beam", "beam_size": 4, "max_length": 60, "length_penalty": 0.6,
                    "default_theme": "京都観光"},
)
def make_knbc_generator(nlp: Language, name: str, method: str, beam_size: int, max_length: int,
                        length_penalty: float, default_theme: str) -> GeneratorComponent:
    """Create a ``knbc_generator`` component; its model comes from ``from_disk`` or ``set_generator``."""
    return GeneratorComponent(name, Decoding(method, beam_size, max_length, length_penalty), default_theme)
