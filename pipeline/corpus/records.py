"""The KNB corpus joined per sentence: text, theme, position, KNP analysis, 評判, derived labels.

``load_corpus()`` is the one entry point: it reads corpus1 and corpus2, joins them by sentence id
and returns a :class:`Corpus` with the sentences in article order and a :class:`CorpusReport` that
counts every file or row that could not be used as it is (nothing is dropped silently).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from difflib import SequenceMatcher
from functools import lru_cache
from pathlib import Path

from pipeline.corpus.archive import read_corpus_files
from pipeline.corpus.labels import THEMES
from pipeline.corpus.knp import Entity, KnpSentence, Morpheme, parse_knp
from pipeline.corpus.reputation import Reputation, parse_reputation_tsv
from pipeline.errors import CorpusFormatError

THEME_MARKER = re.compile(r"^［(?:" + "|".join(THEMES.values()) + r")］")
_SID = re.compile(r"^(?P<article>KN\d+_(?P<theme>[A-Za-z]+)_\d+)-1-(?P<position>\d+)-(?P<sub>\d+)$")


@dataclass
class SentenceRecord:
    """One sentence of the corpus with everything known about it.

    ``text`` is what models see: the raw text with a leading theme marker (``［携帯電話］``) removed.
    Character offsets of ``entities`` and ``reputations`` refer to ``text``.
    """

    sid: str
    article_id: str
    theme: str  # 携帯電話 | 京都観光 | スポーツ | グルメ
    position: int  # sentence number in the article, from 1
    sub_index: int  # 1 for a sentence, 2+ for a parenthetical split off from sentence `position`
    raw_text: str
    text: str
    reputations: list[Reputation]
    knp: KnpSentence | None  # None for the two corpus2 rows without a corpus1 file
    entities: list[Entity] = field(default_factory=list)

    @property
    def is_title(self) -> bool:
        """The article's first sentence, its title."""
        return self.position == 1 and self.sub_index == 1

    @property
    def is_parenthetical(self) -> bool:
        """A parenthesised part that KNBC splits off into a sentence of its own (``-02``, ...)."""
        return self.sub_index > 1

    @property
    def marker_length(self) -> int:
        """How many characters of ``raw_text`` the stripped theme marker took."""
        return len(self.raw_text) - len(self.text)

    @property
    def morphemes(self) -> list[Morpheme]:
        """The gold JUMAN morphemes that lie in ``text`` (the theme marker's are left out)."""
        if self.knp is None:
            return []
        return [m for m in self.knp.morphemes if m.start >= self.marker_length]

    @property
    def sentiment(self) -> str:
        """positive / negative / mixed / neutral from the polarities of the 評判 annotations.

        当為 and 要望 carry no polarity and do not change the label: a sentence with only those
        is neutral.
        """
        polarities = {r.polarity for r in self.reputations if r.polarity}
        if polarities == {1}:
            return "positive"
        if polarities == {-1}:
            return "negative"
        return "mixed" if polarities else "neutral"


@dataclass
class CorpusReport:
    """Counts of what the reader met; each list names the files or ids concerned."""

    junk_files: list[str] = field(default_factory=list)
    duplicate_sentences: list[str] = field(default_factory=list)
    corpus1_only: list[str] = field(default_factory=list)
    corpus2_only: list[str] = field(default_factory=list)
    text_mismatches: list[str] = field(default_factory=list)
    unlocated_expressions: list[str] = field(default_factory=list)
    entities_in_marker: int = 0
    unplaced_entities: list[str] = field(default_factory=list)
    repairs: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        """Human-readable summary lines."""
        return [
            f"junk corpus1 files skipped: {len(self.junk_files)} {self.junk_files}",
            f"duplicated corpus1 sentences skipped: {len(self.duplicate_sentences)} {self.duplicate_sentences}",
            f"other corpus1 files without a corpus2 row: {len(self.corpus1_only)} {self.corpus1_only}",
            f"corpus2 rows without a corpus1 file (kept, no KNP analysis): "
            f"{len(self.corpus2_only)} {self.corpus2_only}",
            f"corpus1/corpus2 text mismatches (corpus2 text kept): {len(self.text_mismatches)}",
            f"評判 expressions not found in their sentence: {len(self.unlocated_expressions)}",
            f"named entities inside a theme marker (dropped from model text): {self.entities_in_marker}",
            f"named entities not found in corpus2's differing text: {len(self.unplaced_entities)} "
            f"{self.unplaced_entities}",
            f"annotation slips mended (NE marks, spaces in morphemes): {len(self.repairs)}",
        ]


@dataclass
class Corpus:
    """The joined corpus: sentences in article order, plus the reader's report."""

    sentences: list[SentenceRecord]
    report: CorpusReport

    def articles(self) -> dict[str, list[SentenceRecord]]:
        """Sentences grouped by article id, in article order."""
        grouped: dict[str, list[SentenceRecord]] = {}
        for sentence in self.sentences:
            grouped.setdefault(sentence.article_id, []).append(sentence)
        return grouped


def parse_sid(sid: str, where: str, line: int | None = None) -> tuple[str, str, int, int]:
    """Split ``KN001_Keitai_1-1-12-01`` into (article id, theme, position, sub index)."""
    match = _SID.match(sid)
    if not match or match["theme"] not in THEMES:
        raise CorpusFormatError(where, line, f"unexpected sentence id {sid!r}; expected e.g. 'KN001_Keitai_1-1-12-01'")
    return match["article"], THEMES[match["theme"]], int(match["position"]), int(match["sub"])


def _offset_map(source: str, target: str) -> list[int | None]:
    """For each character index of ``source`` (and its end), the same character's index in ``target``."""
    mapping: list[int | None] = [None] * (len(source) + 1)
    for tag, i1, i2, j1, _ in SequenceMatcher(None, source, target, autojunk=False).get_opcodes():
        if tag == "equal":
            for k in range(i2 - i1):
                mapping[i1 + k] = j1 + k
    mapping[len(source)] = len(target)
    return mapping


def _place_entities(knp: KnpSentence, raw_text: str, shift: int, sid: str, report: CorpusReport) -> list[Entity]:
    """Entities with offsets into the model text: mapped onto corpus2's text, less the theme marker."""
    mapping = _offset_map(knp.text, raw_text) if knp.text != raw_text else None
    kept = []
    for entity in knp.entities:
        start, end = entity.start, entity.end
        if mapping is not None:
            first, last = mapping[start], mapping[end - 1]
            if first is None or last is None:
                report.unplaced_entities.append(f"{sid}: {entity.label} {entity.text!r}")
                continue
            start, end = first, last + 1
        if start < shift:
            report.entities_in_marker += 1
            continue
        kept.append(Entity(entity.label, start - shift, end - shift, raw_text[start:end]))
    return kept


def _shift_reputations(reputations: list[Reputation], shift: int, sid: str, report: CorpusReport) -> None:
    for reputation in reputations:
        if reputation.start is None or reputation.start < shift:
            reputation.start = reputation.end = None
            report.unlocated_expressions.append(sid)
        else:
            reputation.start -= shift
            reputation.end -= shift


def _read_corpus1(files, report: CorpusReport) -> dict[str, KnpSentence]:
    parsed: dict[str, KnpSentence] = {}
    for name in sorted(files.texts):
        if not name.startswith("corpus1/") or name.endswith("/fileinfos"):
            continue
        text = files.texts[name]
        lines = text.split("\n")
        if lines[0].startswith("# S-ID:") and not _SID.match(lines[0][7:].split(" ")[0]) and lines[1:2] == ["EOS"]:
            report.junk_files.append(name)  # seen: corpus1/KN024_Kyoto_1/2, 'S-ID:2', no morphemes
            continue
        sentence = parse_knp(text, files.display(name))
        if sentence.sid != name.rsplit("/", 1)[-1]:
            raise CorpusFormatError(files.display(name), 1, f"S-ID {sentence.sid!r} does not match the file name")
        parsed[sentence.sid] = sentence
        report.repairs.extend(f"{name}: {repair}" for repair in sentence.repairs)
    return parsed


def build_corpus(files) -> Corpus:
    """Join corpus1 and corpus2 from already-read :class:`CorpusFiles`."""
    report = CorpusReport()
    knp = _read_corpus1(files, report)
    records: list[SentenceRecord] = []
    seen: set[str] = set()
    for name in sorted(n for n in files.texts if n.startswith("corpus2/") and n.endswith(".tsv")):
        where = files.display(name)
        file_theme = THEMES.get(Path(name).stem)
        for row in parse_reputation_tsv(files.texts[name], where):
            article, theme, position, sub = parse_sid(row.sid, where, row.line)
            if file_theme is not None and theme != file_theme:
                raise CorpusFormatError(where, row.line, f"{row.sid} is a {theme} sentence in the {file_theme} file")
            if row.sid in seen:
                raise CorpusFormatError(where, row.line, f"sentence id {row.sid} appears twice in corpus2")
            seen.add(row.sid)
            analysis = knp.get(row.sid)
            if analysis is None:
                report.corpus2_only.append(row.sid)
            elif analysis.text != row.text:
                report.text_mismatches.append(row.sid)
            text = THEME_MARKER.sub("", row.text)
            shift = len(row.text) - len(text)
            _shift_reputations(row.reputations, shift, row.sid, report)
            records.append(
                SentenceRecord(
                    sid=row.sid,
                    article_id=article,
                    theme=theme,
                    position=position,
                    sub_index=sub,
                    raw_text=row.text,
                    text=text,
                    reputations=row.reputations,
                    knp=analysis,
                    entities=_place_entities(analysis, row.text, shift, row.sid, report) if analysis else [],
                )
            )
    texts_by_article: dict[str, set[str]] = {}
    for record in records:
        texts_by_article.setdefault(record.article_id, set()).add(record.raw_text)
    for sid, sentence in sorted(knp.items()):
        if sid in seen:
            continue
        article = parse_sid(sid, sentence.path)[0]
        if sentence.text in texts_by_article.get(article, set()):
            report.duplicate_sentences.append(sid)
        else:
            report.corpus1_only.append(sid)
    records.sort(key=lambda r: (r.article_id, r.position, r.sub_index))
    return Corpus(sentences=records, report=report)


def load_corpus(path: str | Path | None = None, verify: bool = True) -> Corpus:
    """Read and join the KNB corpus (the shipped archive by default; see ``archive``)."""
    return build_corpus(read_corpus_files(path, verify=verify))


@lru_cache(maxsize=1)
def shipped_corpus() -> Corpus:
    """The shipped corpus, read once per process (treat it as read-only)."""
    return load_corpus()
