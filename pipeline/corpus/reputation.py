"""Parser for KNBC corpus2: the 評判 (reputation / sentiment) annotations, one TSV file per theme.

Each line: ``S-ID<TAB>sentence<TAB>holders<TAB>expressions<TAB>types<TAB>targets``. A sentence with
several annotations joins them inside each of the last four fields with a literal backslash-n
(two characters, not a newline). A type is a category and, for most categories, a polarity:
``批評＋`` (U+FF0B) or ``批評−`` (U+2212). 当為 (what ought to be done) and 要望 (a request) carry
no polarity. See manual.pdf, section 8.1.
"""

from __future__ import annotations

from dataclasses import dataclass

from pipeline.errors import CorpusFormatError

POLAR_CATEGORIES = ("批評", "メリット", "感情", "採否", "出来事")
UNPOLAR_CATEGORIES = ("当為", "要望")
POSITIVE, NEGATIVE = "＋", "−"  # U+FF0B, U+2212
SEPARATOR = "\\n"  # a literal backslash followed by n
N_COLUMNS = 6


@dataclass
class Reputation:
    """One 評判 annotation; ``start``/``end`` locate the expression in the sentence (None if absent)."""

    holder: str
    expression: str
    category: str
    polarity: int  # +1, -1, or 0 for 当為 / 要望
    target: str
    start: int | None
    end: int | None

    @property
    def label(self) -> str:
        """A span label: the category with an ASCII sign, e.g. ``批評+``, ``感情-``, ``当為``."""
        return self.category + {1: "+", -1: "-", 0: ""}[self.polarity]

    @property
    def target_text(self) -> str:
        """The target as written in the sentence ('' when only implied, ``[...]``)."""
        return self.target.split("[", 1)[0]

    @property
    def target_referent(self) -> str:
        """What the target refers to: the bracketed part of ``それ[迷ってこその京都]`` or ``[著者]``."""
        if "[" in self.target and self.target.endswith("]"):
            return self.target[self.target.index("[") + 1 : -1]
        return self.target


@dataclass
class ReputationRow:
    """One corpus2 line: a sentence with its 評判 annotations."""

    sid: str
    text: str
    reputations: list[Reputation]
    path: str
    line: int


def parse_type(value: str, path: str, line: int) -> tuple[str, int]:
    """Split a type such as ``批評＋`` into (category, polarity)."""
    if value in UNPOLAR_CATEGORIES:
        return value, 0
    category, sign = value[:-1], value[-1:]
    if category in POLAR_CATEGORIES and sign in (POSITIVE, NEGATIVE):
        return category, 1 if sign == POSITIVE else -1
    expected = [c + s for c in POLAR_CATEGORIES for s in (POSITIVE, NEGATIVE)] + list(UNPOLAR_CATEGORIES)
    raise CorpusFormatError(path, line, f"unknown 評判 type {value!r}; expected one of {expected}")


def _split(value: str) -> list[str]:
    return value.split(SEPARATOR) if value else []


def parse_reputation_tsv(text: str, path: str) -> list[ReputationRow]:
    """Parse one corpus2 TSV file; ``path`` is used in error messages."""
    rows = []
    for lineno, line in enumerate(text.split("\n"), start=1):
        if not line:
            continue
        columns = line.split("\t")
        if len(columns) != N_COLUMNS:
            raise CorpusFormatError(
                path, lineno, f"expected {N_COLUMNS} tab-separated columns (id, sentence, holder, "
                f"expression, type, target), found {len(columns)}"
            )
        sid, sentence, holders, expressions, types, targets = columns
        if not sid or not sentence:
            raise CorpusFormatError(path, lineno, "empty sentence id or sentence text")
        parts = [_split(holders), _split(expressions), _split(types), _split(targets)]
        if len({len(p) for p in parts}) != 1:
            raise CorpusFormatError(
                path, lineno, "holder, expression, type and target list different numbers of annotations "
                f"({', '.join(str(len(p)) for p in parts)})"
            )
        reputations = []
        for holder, expression, type_, target in zip(*parts):
            category, polarity = parse_type(type_, path, lineno)
            start = sentence.find(expression) if expression else -1
            reputations.append(
                Reputation(
                    holder=holder,
                    expression=expression,
                    category=category,
                    polarity=polarity,
                    target=target,
                    start=start if start >= 0 else None,
                    end=start + len(expression) if start >= 0 else None,
                )
            )
        rows.append(ReputationRow(sid=sid, text=sentence, reputations=reputations, path=path, line=lineno))
    return rows
