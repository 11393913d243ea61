"""Sentence boundaries of Japanese blog text from the characters alone (no parser, no torch).

:func:`sentence_starts` gives the character offsets where sentences begin. The rules, in order:

* A line break ends a sentence (blog sentences often end at a line break without punctuation);
  blank lines and the spaces around them belong to the sentence before.
* A run of sentence-final marks ends a sentence: 。．！？!? and their full-width or repeated forms
  (！！, ？！, 。。。), and the ellipses … ‥ ・・・ ... when they stand last.
* What follows the marks stays with the sentence: closing brackets and quotes (」』）】), emoticons
  and kaomoji ((^^), （笑）, ♪, ☆, ｗ, 笑), and spaces.
* Symbols such as ♪ ☆ ★ ♡ end a sentence where they follow its words and words follow them
  (``メールって素敵♪特に…``).
* Nothing inside brackets or quotes that close on the same line ends a sentence (「…。…」, （…。）),
  nor a period between digits (１８．９円) or in Latin text (Ｐ.Ｓ., www.example.jp), nor a mark
  that a quoting particle or a sentence-final particle continues (``すごい！と思った``).

:func:`boundary_scores` compares predicted with gold boundaries (precision, recall, F1).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable

# closing -> opening bracket; any closer matches the nearest opener of its own kind
BRACKETS = {"」": "「", "』": "『", "）": "（", ")": "(", "】": "【", "〕": "〔", "］": "［", "]": "[", "〉": "〈",
            "》": "《", "”": "“", "’": "‘", "｝": "｛", "}": "{"}
OPENERS = frozenset(BRACKETS.values())
CLOSERS = frozenset(BRACKETS)
LINE_BREAKS = frozenset("\n\r\u2028\u2029\x0b\x0c\x85")
SPACES = frozenset(" \t\u3000\xa0")
STRONG_MARKS = frozenset("。！？!?｡")
PERIODS = frozenset("．.")  # sentence-final except between digits or in Latin text
ELLIPSES = frozenset("…‥")
# symbols that close a sentence when words come before and after them
SENTENCE_SYMBOLS = frozenset("♪♫♬☆★♡♥❤◎〓")  # 〓: KNBC's stand-in for an emoji
# what may trail a sentence's final mark (besides closing brackets, spaces and kaomoji)
TRAILING_SYMBOLS = SENTENCE_SYMBOLS | frozenset("〜~ー―－✨♂♀⌒^＾;；_＿'`´゜゛゚*＊")
LAUGHTER = frozenset("笑爆ｗwＷW")
_NOT_LAUGHTER = {"笑": "顔いうえわっおみ", "爆": "発弾撃破音走睡買"}  # 笑顔, 笑う, 爆発 ...
# a bracketed group with no letters in it, or one word of feeling: a kaomoji or an aside like （笑）
_KAOMOJI = re.compile(r"[（(](?:[^\w\n()（）]{1,12}|[^\n()（）]{0,3}[^\w\s\n()（）][^\n()（）]{0,12}?|[笑爆泣汗涙怒喜照恥苦謎]{1,2})[）)]")
# a particle that continues the sentence after a mark: 「すごい！と思った」「なに？って感じ」
_CONTINUATION = re.compile(r"(?:と[、，]|って|とか|など|なんて|みたいな|的)")
_MARK_RUNS = re.compile(r"[。！？!?｡]+")
_ORZ = re.compile(r"(?i:orz|otl|ｏｒｚ|ＯＲＺ|ＯＴＬ)")
_DIGIT = re.compile(r"[0-9０-９]")
_LATIN = re.compile(r"[A-Za-zＡ-Ｚａ-ｚ0-9０-９]")


def _bracket_spans(text: str) -> list[bool]:
    """For each character, whether it lies strictly inside a bracket pair that closes on its line."""
    inside = [False] * len(text)
    stack: list[tuple[str, int]] = []
    for i, char in enumerate(text):
        if char in LINE_BREAKS:
            stack.clear()
        elif char in OPENERS:
            stack.append((char, i))
        elif char in CLOSERS:
            opener = BRACKETS[char]
            for depth in range(len(stack) - 1, -1, -1):
                if stack[depth][0] == opener:
                    for k in range(stack[depth][1] + 1, i):
                        inside[k] = True
                    del stack[depth:]
                    break
    return inside


def _closing_bracket(text: str, i: int) -> int:
    """The offset just past the bracket that closes the one opened at ``i`` on the same line, or -1."""
    opener, depth = text[i], 0
    for j in range(i, len(text)):
        char = text[j]
        if char in LINE_BREAKS:
            return -1
        if char == opener:
            depth += 1
        elif char in CLOSERS and BRACKETS[char] == opener:
            depth -= 1
            if not depth:
                return j + 1
    return -1


def _is_latin(char: str) -> bool:
    return bool(char) and bool(_LATIN.match(char))


def _is_period_mark(text: str, i: int) -> bool:
    """Whether the ．/. at ``i`` ends a sentence: not after a digit (１８．９円, a list number １．), not inside
    Latin text (www.example.jp) and not after a single Latin letter (Ｐ．Ｈ．Ｓ．)."""
    before = text[i - 1] if i else ""
    after = text[i + 1] if i + 1 < len(text) else ""
    if after in PERIODS or before in PERIODS:
        return True  # ．． or ...: an ellipsis
    if _DIGIT.match(before or " "):
        return False
    if _is_latin(before) and (_is_latin(after) or i < 2 or not _is_latin(text[i - 2])):
        return False
    return True


def _is_mark(text: str, i: int) -> bool:
    char = text[i]
    return char in STRONG_MARKS or char in ELLIPSES or (char in PERIODS and _is_period_mark(text, i)) or (
        char == "・" and i + 1 < len(text) and text[i + 1] == "・")


def _mark_run_end(text: str, i: int) -> int:
    """The end of the run of sentence-final marks (ellipses and ・・ included) starting at ``i``."""
    n = len(text)
    while i < n and (_is_mark(text, i) or text[i] == "・" and text[i - 1] == "・" or text[i] in PERIODS):
        i += 1
    return i


def _laughter_end(text: str, i: int) -> int:
    """The end of a run of laughter (笑, 爆, ｗ) at ``i`` that trails a sentence, or ``i`` if there is none."""
    j = i
    while j < len(text) and text[j] in LAUGHTER:
        j += 1
    if j == i:
        return i
    after = text[j] if j < len(text) else ""
    if after and after in _NOT_LAUGHTER.get(text[j - 1], ""):
        return i  # 笑顔, 爆発: a word
    if text[i] in "ｗwＷW" and _is_latin(after):
        return i  # www.example.jp
    return j


def _trailer_end(text: str, i: int, marked: bool = True) -> int:
    """The end of what trails a sentence's final mark from ``i``: closing brackets, symbols, spaces, more marks,
    kaomoji, laughter and, right after a mark (``marked``), a bracketed aside that closes on the line."""
    n = len(text)
    while i < n:
        char = text[i]
        if char in CLOSERS or char in TRAILING_SYMBOLS or char in SPACES or char in STRONG_MARKS or char in ELLIPSES:
            i += 1
            continue
        kaomoji = _KAOMOJI.match(text, i)
        if kaomoji:
            i = kaomoji.end()
            continue
        if marked and char in "（(":
            closed = _closing_bracket(text, i)
            if closed > 0:
                i = closed
                continue
        if _ORZ.match(text, i):
            i = _ORZ.match(text, i).end()
            continue
        laughter = _laughter_end(text, i)
        if laughter > i:
            i = laughter
            continue
        break
    return i


def _is_ellipsis_run(text: str, start: int, end: int) -> bool:
    """Whether the marks ``text[start:end]`` are only an ellipsis (…, ・・・, ．．, ...)."""
    return all(char in ELLIPSES or char in PERIODS or char == "・" for char in text[start:end])


def _weak_end(text: str, i: int, start: int) -> int:
    """The end of a symbol, kaomoji or laughter at ``i`` that closes a sentence begun at ``start`` without a
    mark (``素敵♪``, ``楽しかった(^^)``, ``行きましたｗ``, ``着きました笑``), or ``i`` if there is none."""
    if i == start or not _has_word(text, start, i) or text[i - 1] in SPACES:
        return i
    char = text[i]
    if char in SENTENCE_SYMBOLS:
        return i + 1
    kaomoji = _KAOMOJI.match(text, i)
    if kaomoji and not _has_word(text, kaomoji.start() + 1, kaomoji.end() - 1, kana_only=True):
        return kaomoji.end()
    if char in "＾^" and i + 1 < len(text) and text[i + 1] in "＾^":
        return i + 2
    if char in LAUGHTER and _is_kana(text[i - 1]):
        return _laughter_end(text, i)
    return i


def _is_kana(char: str) -> bool:
    return "\u3041" <= char <= "\u30ff"


def _has_word(text: str, start: int, end: int, kana_only: bool = False) -> bool:
    """Whether ``text[start:end]`` has a letter or digit (with ``kana_only``: a kana or kanji)."""
    if kana_only:
        return any(_is_kana(char) or "\u4e00" <= char <= "\u9fff" for char in text[start:end])
    return any(char.isalnum() for char in text[start:end])


def breaks_lines_after_sentences(text: str) -> bool:
    """Whether ``text`` has two line breaks or more, and at least one for every two runs of sentence-final marks
    (。！？): a text written a sentence a line, where an ellipsis with words after it on its line is inside a
    sentence."""
    marks = len(_MARK_RUNS.findall(text))
    breaks = sum(1 for char in text if char in LINE_BREAKS)
    return breaks >= 2 and 2 * breaks >= marks


def sentence_starts(text: str, ellipsis_ends: bool | None = None) -> list[int]:
    """The character offsets at which the sentences of ``text`` begin, the first one included (see the module
    docstring for the rules). A sentence starts at its first character that is not a space or a line break;
    a text of spaces only has no sentence.

    An ellipsis (…, ・・・) with words after it on its line ends a sentence when ``ellipsis_ends``; by default
    it does unless the text is written a sentence a line (:func:`breaks_lines_after_sentences`)."""
    n = len(text)
    lined = not ellipsis_ends if ellipsis_ends is not None else breaks_lines_after_sentences(text)
    inside = _bracket_spans(text)
    starts: list[int] = []
    at_start = True  # looking for the first character of a sentence
    i = 0
    while i < n:
        char = text[i]
        if at_start:
            if char in SPACES or char in LINE_BREAKS:
                i += 1
                continue
            starts.append(i)
            at_start = False
        if char in LINE_BREAKS:
            at_start = True
            i += 1
            continue
        if inside[i]:
            i += 1
            continue
        if _is_mark(text, i) and i > starts[-1]:
            end = _mark_run_end(text, i)
            after = _trailer_end(text, end)
            exclaimed = any(mark in "！？!?" for mark in text[i:end])
            if after < n and text[after] not in LINE_BREAKS and not (exclaimed and _CONTINUATION.match(text, after)) \
                    and not (lined and _is_ellipsis_run(text, i, end)):
                starts.append(after)
            i = max(after, i + 1)
            continue
        weak = _weak_end(text, i, starts[-1])
        if weak > i:
            after = _trailer_end(text, weak, marked=False)
            if after < n and text[after] not in LINE_BREAKS and text[after].isalnum() \
                    and not _CONTINUATION.match(text, after):
                starts.append(after)
            i = after
            continue
        i += 1
    return starts


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """``(start, end)`` character offsets of each sentence; each ends where the next begins (the spaces and
    line breaks after a sentence are its own), the last at the end of ``text``."""
    starts = sentence_starts(text)
    return [(start, starts[k + 1] if k + 1 < len(starts) else len(text)) for k, start in enumerate(starts)]


def split_sentences(text: str) -> list[str]:
    """The sentences of ``text``, each without the spaces and line breaks that follow it."""
    return [text[start:end].rstrip() for start, end in sentence_spans(text)]


def token_sentence_starts(token_starts: Iterable[int], text: str) -> list[bool]:
    """For tokens beginning at the character offsets ``token_starts`` (ascending) of ``text``, whether each
    starts a sentence: the first token does, and so does the first token at or after each sentence start
    (a sentence start inside a token moves to the next token)."""
    token_starts = list(token_starts)
    flags = [False] * len(token_starts)
    if not flags:
        return flags
    flags[0] = True
    k = 0
    for start in sentence_starts(text)[1:]:
        while k < len(token_starts) and token_starts[k] < start:
            k += 1
        if k == len(token_starts):
            break
        flags[k] = True
    return flags


@dataclass(frozen=True)
class BoundaryScores:
    """Boundary precision, recall and F1 with the counts they come from."""

    true_positives: int
    false_positives: int
    false_negatives: int

    @property
    def precision(self) -> float:
        predicted = self.true_positives + self.false_positives
        return self.true_positives / predicted if predicted else 1.0

    @property
    def recall(self) -> float:
        gold = self.true_positives + self.false_negatives
        return self.true_positives / gold if gold else 1.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    def __add__(self, other: "BoundaryScores") -> "BoundaryScores":
        return BoundaryScores(self.true_positives + other.true_positives, self.false_positives + other.false_positives,
                              self.false_negatives + other.false_negatives)

    def as_dict(self) -> dict:
        """The counts and the three scores, for JSON."""
        return {"precision": self.precision, "recall": self.recall, "f1": self.f1, "true_positives": self.true_positives,
                "false_positives": self.false_positives, "false_negatives": self.false_negatives}


def boundary_scores(gold: Iterable[int], predicted: Iterable[int]) -> BoundaryScores:
    """Compare sentence boundaries given as character offsets (the start of every sentence but the first;
    offset 0 and the end of the text are no boundaries and are ignored if given)."""
    gold_set = {offset for offset in gold if offset > 0}
    predicted_set = {offset for offset in predicted if offset > 0}
    return BoundaryScores(len(gold_set & predicted_set), len(predicted_set - gold_set), len(gold_set - predicted_set))
