"""Whole KNBC articles as running text, with the character offsets where their gold sentences begin.

KNBC splits a blog post into sentences by hand (annotation manual §2) and cuts each parenthesised
aside out of its sentence into a sentence of its own (§3): ``-02``, ``-03`` ... after the ``-01``
sentence, with the aside's brackets and its position in the ``-01`` sentence in the corpus1 header
(``括弧位置:7 括弧始:（ 括弧終:）``; a later aside's position counts the earlier ones, brackets included).
:func:`article_text` puts the asides back where they were, so each of an article's sentences is the
text the author wrote, and joins the sentences.

The corpus does not keep what stood between two sentences in the post: the manual's examples show a
line break after some sentences and nothing after others. So an article can be joined either way
(``separator``): with a line break after every sentence, or with nothing between the sentences of the
body; the first sentence, the title line, is followed by a line break in both (a title never runs into
the post it heads). Theme markers (``［携帯電話］``) are left out, as in ``SentenceRecord.text``, and a
sentence that is empty without its marker (a title that was only the marker) is left out too.
"""

from __future__ import annotations

from dataclasses import dataclass

from pipeline.corpus.records import SentenceRecord

SEPARATORS = {"newline": "\n", "none": ""}


@dataclass(frozen=True)
class ArticleText:
    """One article as running text: ``starts`` are the offsets where its sentences begin (the first is 0)."""

    article_id: str
    text: str
    starts: list[int]
    sids: list[str]  # the -01 sentence id of each sentence

    @property
    def boundaries(self) -> list[int]:
        """The gold boundaries: the start of every sentence but the first."""
        return self.starts[1:]


def restore_asides(sentence: SentenceRecord, asides: list[SentenceRecord]) -> str:
    """``sentence.text`` with its parenthesised asides (its ``-02``, ``-03`` ... records, in order) put back
    in their brackets where the corpus1 header says they stood; an aside without that record goes last."""
    text = sentence.raw_text
    for aside in asides:
        header = aside.knp.header if aside.knp is not None else {}
        opening, closing = header.get("括弧始", "（"), header.get("括弧終", "）")
        try:
            position = min(int(header["括弧位置"]), len(text))
        except (KeyError, ValueError):
            position = len(text)
        text = text[:position] + opening + aside.raw_text + closing + text[position:]
    return text[sentence.marker_length:] if text.startswith(sentence.raw_text[: sentence.marker_length]) else text


def article_text(records: list[SentenceRecord], separator: str = "newline") -> ArticleText:
    """One article's sentences (in article order, as ``Corpus.articles()`` gives them) as running text, the
    asides restored (:func:`restore_asides`), joined by ``separator`` (``"newline"`` or ``"none"``, see the
    module docstring)."""
    if separator not in SEPARATORS:
        raise ValueError(f"separator must be one of {sorted(SEPARATORS)}, not {separator!r}")
    sentences: list[tuple[SentenceRecord, list[SentenceRecord]]] = []
    for record in records:
        if record.sub_index == 1 or not sentences or sentences[-1][0].position != record.position:
            sentences.append((record, []))
        else:
            sentences[-1][1].append(record)
    text, starts, sids = "", [], []
    after_title = False
    for sentence, asides in sentences:
        restored = restore_asides(sentence, asides).strip()
        if not restored:
            continue
        if starts:
            text += "\n" if after_title else SEPARATORS[separator]
        after_title = sentence.is_title
        starts.append(len(text))
        sids.append(sentence.sid)
        text += restored
    return ArticleText(records[0].article_id if records else "", text, starts, sids)
