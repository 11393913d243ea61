"""Sentence boundaries of Japanese blog text from the characters alone (no parser, no torch).

:func:`sentence_starts` gives the character offsets where sentences begin; :func:`sentence_start_tokens`
maps them onto tokens (what the ``knbc_sentences`` component sets). The rules:

* A line break ends a sentence (blog sentences often end at a line break without punctuation); blank
  lines and the spaces around them belong to the sentence before.
* A run of sentence-final marks ends a sentence: 。．！？!? and their full-width or repeated forms
  (！！, ？！, 。。。). What follows the marks stays with the sentence: closing brackets and quotes
  (」』）), emoticons and kaomoji ((^^), （笑）, ヾ(＊´∀｀＊)ノ, ＾＾), ♪ ☆ and the like, laughter (笑, ｗｗ,
  but not 笑顔), orz, and spaces.
* Not a sentence end: anything inside brackets or quotes that close on the same line (「…。…」, （…。）);
  a period after a digit (１８．９円, a list number １．) or a single Latin letter (Ｐ．Ｈ．Ｓ．) or inside
  Latin text (www.example.jp); ！ or ？ followed by a quoting or sentence-final particle (すごい！と思った,
  散歩？？かな).
* A quotation whose last character is a mark ends the sentence when no particle follows it
  (「そうだ、京都、行こう。」見るたびに… splits after 」; 「行こう。」と言った does not).
* A sentence that is a bracketed aside after a mark ends at its closing bracket (…。（私は行かないけど）次は…).
* Symbols (♪ ☆ ★ ♡ ◎ 〓), kaomoji and laughter end a sentence without a mark when words come before and
  after them (メールって素敵♪特に…, 行きましたｗやっぱり).
* An ellipsis (… ‥ ・・・ ．．．) with words after it on its line ends a sentence in running text, unless a
  particle follows it (…って思った); in text written a sentence a line it does not. After 。！？ it opens the
  next sentence (なんて。…そんな日本語ないか).

Measured against KNBC's hand-made sentence boundaries: ``knbc evaluate-splitter`` (README, "Sentences on the
Doc"). :func:`boundary_scores` compares predicted with gold boundaries (precision, recall, F1).
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass
from typing import Iterable, Sequence

# closing -> opening bracket; a closer matches the nearest opener of its own kind
BRACKETS = {"」": "「", "』": "『", "）": "（", ")": "(", "】": "【", "〕": "〔", "］": "［", "]": "[", "〉": "〈",
            "》": "《", "”": "“", "’": "‘", "｝": "｛", "}": "{"}
OPENERS = frozenset(BRACKETS.values())
CLOSERS = frozenset(BRACKETS)
LINE_BREAKS = frozenset("\n\r\u2028\u2029\x0b\x0c\x85")
SPACES = frozenset(" \t\u3000\xa0")
STRONG_MARKS = frozenset("。！？!?｡")
PERIODS = frozenset("．.")  # sentence-final except after a digit, inside Latin text or after one Latin letter
ELLIPSES = frozenset("…‥")
# symbols that close a sentence when words come before and after them (〓: KNBC's stand-in for an emoji)
SENTENCE_SYMBOLS = frozenset("♪♫♬☆★♡♥❤◎〓")
# what may trail a sentence's final mark (besides closing brackets, spaces, kaomoji and laughter)
TRAILING_SYMBOLS = SENTENCE_SYMBOLS | frozenset("〜~ー―－✨♂♀⌒^＾;；_＿'`´゜゛゚*＊")
LAUGHTER = frozenset("笑爆ｗwＷW")
_NOT_LAUGHTER = {"笑": "顔いうえわっおみ", "爆": "発弾撃破音走睡買"}  # 笑顔, 笑う, 爆発 ...: words, not laughter
# a kaomoji or a one-word aside: a bracketed group with a symbol and at most a few letters ((^^), (´・ω・`), （＾□＾；）)
# or a word of feeling (（笑）, (汗)); arms and sparkles around it (ヾ(＊´∀｀＊)ノ”)
_KAOMOJI = re.compile(r"[ヾ〜]?[（(](?:[^\w\n()（）？！?!]{1,12}|[^\n()（）]{0,3}[^\w\s()（）？！?!][^\n()（）]{0,12}?"
                      r"|[笑爆泣汗涙怒喜照恥苦謎]{1,2})[）)][ノﾉゞ彡”〃]*")
# what continues a sentence after ！ or ？ on the same line: 「すごい！と思った」「なに？って感じ」「散歩？？かな」
_CONTINUATION = re.compile(r"(?:と|って|かな|かも|など|なんて|みたいな|的|が(?![、，んば]))")
# what continues a sentence after an ellipsis: 「…って考えると」「…みたいな感じ」「・・・、」
_AFTER_ELLIPSIS = re.compile(r"(?:[、，]|って|と|みたいな|など|じゃ|だ|で(?!も)|は|が|を|に|の|し)")
# what continues a sentence after a closing quote: 「…。」と言った
_AFTER_QUOTE = re.compile(r"(?:と|って|っ|など|なんて|みたいな|の|が|を|に|は|も|で|や|か|より|まで|から|だ|です|じゃ|[、，])")
QUOTE_CLOSERS = frozenset("」』”")
MAX_BRACKET_SEARCH = 8  # how far down the open brackets a closer looks for its opener (linear time on any text)
_ELLIPSIS_ONLY = re.compile(r"[…‥．.・]+")
_EXCLAMATION = re.compile(r"[！？!?]")
_LINE_BREAK = re.compile("[" + "".join(sorted(LINE_BREAKS)) + "]")
_MARK_RUNS = re.compile(r"[。！？!?｡]+")
_ORZ = re.compile(r"(?i:orz|otl|ｏｒｚ|ＯＴＬ)")
_DIGIT = re.compile(r"[0-9０-９]")
_LATIN = re.compile(r"[A-Za-zＡ-Ｚａ-ｚ0-9０-９]")
_WORD = re.compile(r"[^\W_]")  # a letter or digit (kana and kanji included)
_KANA_OR_KANJI = re.compile(r"[\u3041-\u30ff\u4e00-\u9fff]")
_TEXT = re.compile(r"[^ \t\u3000\xa0\n\r\u2028\u2029\x0b\x0c\x85]")  # neither a space nor a line break
_BRACKET_OR_BREAK = re.compile("[" + re.escape("".join(OPENERS | CLOSERS | LINE_BREAKS)) + "]")
# where a rule may apply: a line break, a mark, a symbol, an opening bracket (kaomoji), laughter
_CANDIDATE = re.compile("[" + re.escape("".join(LINE_BREAKS | STRONG_MARKS | PERIODS | ELLIPSES | SENTENCE_SYMBOLS
                                                 | LAUGHTER | QUOTE_CLOSERS)) + "・（(＾^ヾ〜]")


def _bracket_spans(text: str) -> list[tuple[int, int]]:
    """The disjoint spans ``(open, close)`` of the outermost bracket pairs that close on their own line (a closer
    matches the nearest opener of its kind among the last ``MAX_BRACKET_SEARCH`` still open)."""
    spans: list[tuple[int, int]] = []
    stack: list[tuple[str, int]] = []
    for match in _BRACKET_OR_BREAK.finditer(text):
        char, i = match.group(), match.start()
        if char in LINE_BREAKS:
            stack.clear()
        elif char in CLOSERS:
            depth = next((k for k in range(len(stack) - 1, max(len(stack) - MAX_BRACKET_SEARCH, 0) - 1, -1)
                          if stack[k][0] == BRACKETS[char]), None)
            if depth is None:
                continue  # a closer with no opener of its kind near: a kaomoji's arm, a list number 1)
            start = stack[depth][1]
            del stack[depth:]
            while spans and spans[-1][0] > start:
                spans.pop()  # pairs nested in this one
            spans.append((start, i))
        elif char in OPENERS:
            stack.append((char, i))
    return spans


def _inside(spans: list[tuple[int, int]], i: int) -> bool:
    """Whether offset ``i`` lies strictly inside one of the sorted disjoint ``spans``."""
    k = bisect.bisect_left(spans, (i, -1)) - 1
    return k >= 0 and spans[k][0] < i < spans[k][1]


def _closing_paren(text: str, i: int, spans: list[tuple[int, int]]) -> int:
    """The offset just past the bracket that closes the one opened at ``i`` (on its line), or 0."""
    k = bisect.bisect_left(spans, (i, -1))
    return spans[k][1] + 1 if k < len(spans) and spans[k][0] == i else 0


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
    if text[i] in "ｗwＷW" and (_is_latin(after) or i and _is_latin(text[i - 1])):
        return i  # www.example.jp, Wi-Fi
    return j


def _trailer_end(text: str, i: int) -> int:
    """The end of what trails a sentence's final mark from ``i``: closing brackets, symbols, spaces, more marks,
    kaomoji and laughter."""
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
        orz = _ORZ.match(text, i)
        if orz:
            i = orz.end()
            continue
        laughter = _laughter_end(text, i)
        if laughter == i:
            break
        i = laughter
    return i


def _is_ellipsis_run(text: str, start: int, end: int) -> bool:
    """Whether the marks ``text[start:end]`` are only an ellipsis (…, ・・・, ．．, ...)."""
    return _ELLIPSIS_ONLY.fullmatch(text, start, end) is not None


def _ellipsis_after_marks(text: str, start: int, end: int) -> int:
    """In the mark run ``text[start:end]``, where an ellipsis after 。！？ begins (``end`` if there is none)."""
    k = start
    while k < end and text[k] in STRONG_MARKS:
        k += 1
    return k if start < k < end and _is_ellipsis_run(text, k, end) and (end - k >= 2 or text[k] in ELLIPSES) else end


def _weak_end(text: str, i: int, first_word: int) -> int:
    """The end of a symbol, kaomoji or laughter at ``i`` that closes a sentence without a mark (``素敵♪``,
    ``楽しかった(^^)``, ``行きましたｗ``, ``着きました笑``), or ``i`` if there is none; ``first_word``: the offset of
    the sentence's first letter or digit."""
    if first_word >= i or text[i - 1] in SPACES:
        return i
    char = text[i]
    if char in SENTENCE_SYMBOLS:
        return i + 1
    kaomoji = _KAOMOJI.match(text, i)
    if kaomoji and not _KANA_OR_KANJI.search(text, kaomoji.start() + 1, kaomoji.end() - 1):
        return kaomoji.end()
    if char in "＾^" and i + 1 < len(text) and text[i + 1] in "＾^":
        return i + 2
    if char in LAUGHTER and "\u3041" <= text[i - 1] <= "\u30ff":
        return _laughter_end(text, i)
    return i


def breaks_lines_after_sentences(text: str) -> bool:
    """Whether ``text`` has two line breaks or more, and at least one for every two runs of sentence-final marks
    (。！？): a text written a sentence a line, where an ellipsis with words after it on its line is inside a
    sentence."""
    breaks = len(_LINE_BREAK.findall(text))
    return breaks >= 2 and 2 * breaks >= len(_MARK_RUNS.findall(text))


def sentence_starts(text: str, ellipsis_ends: bool | None = None) -> list[int]:
    """The character offsets at which the sentences of ``text`` begin, the first one included (see the module
    docstring for the rules). A sentence starts at its first character that is not a space or a line break;
    a text of spaces only has no sentence.

    An ellipsis (…, ・・・) with words after it on its line ends a sentence when ``ellipsis_ends``; by default
    it does unless the text is written a sentence a line (:func:`breaks_lines_after_sentences`)."""
    first = _TEXT.search(text)
    if first is None:
        return []
    n = len(text)
    lined = None if ellipsis_ends is None else not ellipsis_ends  # worked out at the first ellipsis
    spans = _bracket_spans(text)
    starts = [first.start()]
    i = first.start()
    words_of, first_word = -1, n  # the sentence start whose first letter or digit is first_word
    while True:
        candidate = _CANDIDATE.search(text, i)
        if candidate is None:
            break
        i = candidate.start()
        char = text[i]
        if char in LINE_BREAKS:
            following = _TEXT.search(text, i)
            if following is None:
                break
            i = following.start()
            starts.append(i)
            continue
        if spans and _inside(spans, i):
            i += 1
            continue
        if i == starts[-1]:
            if char in "（(" and (i == 0 or text[i - 1] in LINE_BREAKS or _is_mark(text, i - 1)):
                closed = _closing_paren(text, i, spans)
                after = _trailer_end(text, closed) if closed else i + 1
                if closed and after < n and text[after] not in LINE_BREAKS and _WORD.match(text, after) \
                        and not _AFTER_QUOTE.match(text, after):
                    starts.append(after)  # 「…しれません。（私はしませんが）では…」: a sentence in brackets
                i = max(after, i + 1)
                continue
            i = _mark_run_end(text, i) if _is_mark(text, i) else i + 1  # marks that open a sentence are its own
            continue
        if _is_mark(text, i):
            end = _mark_run_end(text, i)
            ellipsis = _ellipsis_after_marks(text, i, end)
            if ellipsis < end and _TEXT.match(text, end):
                starts.append(ellipsis)  # 「なんて。…そんな日本語ないか」: the ellipsis opens the next sentence
                i = end
                continue
            after = _trailer_end(text, end)
            if after < n and text[after] not in LINE_BREAKS:
                exclaimed = _EXCLAMATION.search(text, i, end) is not None
                if _is_ellipsis_run(text, i, end):
                    if lined is None:
                        lined = breaks_lines_after_sentences(text)
                    continues = lined or _AFTER_ELLIPSIS.match(text, after) is not None
                else:
                    continues = exclaimed and _CONTINUATION.match(text, after) is not None
                if not continues:
                    starts.append(after)
            i = max(after, i + 1)
            continue
        if char in QUOTE_CLOSERS and text[i - 1] in STRONG_MARKS:
            after = _trailer_end(text, i + 1)
            if after < n and text[after] not in LINE_BREAKS and not _AFTER_QUOTE.match(text, after):
                starts.append(after)  # 「そうだ、京都、行こう。」見るたびに…
            i = max(after, i + 1)
            continue
        if words_of != starts[-1]:
            words_of, word = starts[-1], _WORD.search(text, starts[-1])
            first_word = word.start() if word else n
        weak = _weak_end(text, i, first_word)
        if weak > i:
            after = _trailer_end(text, weak)
            if after < n and text[after] not in LINE_BREAKS and _WORD.match(text, after) \
                    and not _CONTINUATION.match(text, after):
                starts.append(after)
            i = max(after, i + 1)
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


def sentence_start_tokens(token_starts: Sequence[int], text: str) -> list[int]:
    """For tokens beginning at the character offsets ``token_starts`` (ascending) of ``text``, the indices of
    the tokens that start a sentence: the first token, and the first token at or after each sentence start
    (a sentence start inside a token moves to the next token)."""
    if not len(token_starts):
        return []
    found = [0]
    for start in sentence_starts(text)[1:]:
        k = bisect.bisect_left(token_starts, start, found[-1] + 1)
        if k == len(token_starts):
            break
        found.append(k)
    return found


def token_sentence_starts(token_starts: Sequence[int], text: str) -> list[bool]:
    """For each token (beginning at the offsets ``token_starts`` of ``text``), whether it starts a sentence
    (:func:`sentence_start_tokens`)."""
    flags = [False] * len(token_starts)
    for k in sentence_start_tokens(token_starts, text):
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
