"""The livedoor news corpus (ldcc, 2012-09-15): its articles and their clean body sentences.

The corpus ships unchanged in ``corpora/livedoor/`` (CC BY-ND 2.1 JP: no edits to the text):
``ldcc-20120915-text.tar.xz`` (folder ``text/``: nine channel folders of article files, each with
its ``LICENSE.txt``, and ``text/README.txt``) and ``SHA256SUMS`` beside it (every file of the
archive as ``text/...``, then the archive itself). ``KNBC_LIVEDOOR`` in the environment overrides
the location: the folder holding the archive, the archive itself, or a folder holding an unpacked
``text/``. The archive is read without unpacking; with ``verify`` the archive's SHA-256 and every
member's are checked against ``SHA256SUMS`` (an unlisted member is an error too).

An article file is: line 1 its URL, line 2 its date, line 3 its title, then the body. The cleaning
keeps body sentences only and counts everything it drops, by reason (see :data:`LINE_REASONS`):

- ``footer``: a "関連リンク" / "【関連記事】" / "■〜に関連した記事を読む" line and every line after it;
- ``url``: a line holding a URL (the whole line: they are link lines and store-link rows);
- ``date``: a line that starts with a date and holds no "。" (event and release dates);
- ``list``: a line that starts with a list or heading mark (・ ■ ● ◆ ▼ ※ ★ ☆ ○ ◎ □ ◇ …, ``1)``,
  ``(1)``, ``1.``, ①) — list items, section headings, notes, related-article titles;
- ``heading``: a line wholly in brackets (``【応募方法】``, ``＜相談内容＞``, ``——…——``);
- ``spec``: a ``key：value`` row with no sentence end (``価格：無料``, ``重さ：120g``);
- ``fragment``: any other line with no sentence end (。！？!?) that is not a quotation 「…」 alone:
  captions, product names, spec-table rows (``RAM 1GB``), bylines, lines broken mid-sentence.

The kept lines are split into sentences after 。！？!? (runs of them, and full-width or half-width
forms alike), each sentence keeping its closing brackets and quotes, never inside a quotation or
parentheses that the line closes. Sentences shorter than :data:`MIN_CHARS` characters are dropped
(``short``), then those wholly in parentheses (``aside``: bylines like ``（文：林由美）``, notes),
then exact duplicates of an earlier kept sentence anywhere in the corpus (``duplicates``). Nothing here imports spaCy or torch.
"""

from __future__ import annotations

import lzma
import os
import re
import tarfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from pipeline.corpus.archive import check_member_sums, decode_utf8, parse_sums, read_members, sha256_file
from pipeline.errors import ChecksumError, CorpusFormatError, CorpusNotFoundError
from pipeline.resources import shipped_path

CORPUS_DIR = shipped_path("corpora/livedoor")  # in the checkout, or the installed package's copy
ARCHIVE_NAME = "ldcc-20120915-text.tar.xz"
SUMS_NAME = "SHA256SUMS"
ENV = "KNBC_LIVEDOOR"
TOP = "text"  # the archive's one folder
README_NAME = f"{TOP}/README.txt"
LICENSE_NAME = "LICENSE.txt"
CHANNELS = (
    "dokujo-tsushin",
    "it-life-hack",
    "kaden-channel",
    "livedoor-homme",
    "movie-enter",
    "peachy",
    "smax",
    "sports-watch",
    "topic-news",
)
MIN_CHARS = 5  # a kept sentence has at least this many characters
LINE_REASONS = ("footer", "url", "date", "list", "heading", "spec", "fragment")  # in the order they are tried
SENTENCE_REASONS = ("short", "aside", "duplicates")

_URL = re.compile(r"https?://|www\.", re.IGNORECASE)
_FOOTER = re.compile(
    r"^(?:\[PR企画\])?[■□◆◇●○▼▽★☆【\[［＜<]?\s*[^。！？]{0,25}?"
    r"(?:関連(?:リンク|記事|情報|サイト|ニュース|URL|特集)[】\]］＞>■]?"
    r"|記事を(?:もっと)?(?:見る|読む|みる|よむ))$"
)
_DIGIT = "0-9０-９"
_DATE = re.compile(
    rf"^[（(]?[{_DIGIT}]{{2,4}}(?:年[{_DIGIT}]{{1,2}}月(?:[{_DIGIT}]{{1,2}}日)?|[/.\-／][{_DIGIT}]{{1,2}}[/.\-／][{_DIGIT}]{{1,2}})"
)
_LIST = re.compile(
    r"^(?:[・･■□◆◇●○◎◯▼▽▲△★☆※♪→⇒↓►▶▷✓✔✱＊*♦◉〇►➡≫»]"
    rf"|[（(]?[{_DIGIT}]{{1,2}}[）)]"
    rf"|[{_DIGIT}]{{1,2}}[.．](?![{_DIGIT}])"
    r"|[①-⑳㈠-㈩])"
)
_HEADING = re.compile(
    r"^(?:【[^】]*】|＜[^＞]*＞|<[^>]*>|［[^］]*］|\[[^\]]*\]|《[^》]*》|[—―ー－-]{2,}.*[—―ー－-]{2,})$"
)
_SPEC = re.compile(r"^[^。！？!?「」『』]{1,20}?\s*[：:]")
_END = re.compile(r"[。！？!?]")
_QUOTE = re.compile(r"^「.*」$")
_ENDERS = "。！？!?"
_CLOSERS = "」』）)】〉》”’\"'〕］]"
_PAIRS = ("「」", "『』", "（）", "()")
_OPENS = {pair[0]: pair for pair in _PAIRS}
_CLOSES = {pair[1]: pair for pair in _PAIRS}
# the marks the splitter looks at: brackets that nest, and a sentence end with the closers after it
_MARKS = re.compile(rf"[{''.join(_OPENS)}{re.escape(''.join(_CLOSES))}]|[{_ENDERS}]+[{re.escape(_CLOSERS)}]*")
_ASIDE = re.compile(r"^(?:（[^（）]*）|\([^()]*\)|［[^［］]*］|\[[^\[\]]*\])$")


@dataclass(frozen=True)
class Article:
    """One article: its channel (folder), id (file name without ``.txt``), header and clean sentences."""

    channel: str
    id: str
    url: str
    date: str
    title: str
    sentences: tuple[str, ...]


@dataclass
class LivedoorCorpus:
    """The articles in path order, and what the cleaning kept and dropped (:func:`empty_counts`)."""

    source: Path
    articles: list[Article] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)

    def sentences(self) -> Iterator[str]:
        """Every kept sentence, article by article."""
        for article in self.articles:
            yield from article.sentences


def empty_counts() -> dict[str, int]:
    """The counts of a reading, all zero. Two sums hold after every reading:
    ``raw_lines == lines_split + Σ dropped_<line reason>`` (non-empty body lines) and
    ``sentences_split == sentences_kept + dropped_short + dropped_aside + dropped_duplicates``."""
    counts = {"articles": 0, "channels": 0, "raw_lines": 0}
    counts.update({f"dropped_{reason}": 0 for reason in LINE_REASONS})
    counts.update({"lines_split": 0, "sentences_split": 0})
    counts.update({f"dropped_{reason}": 0 for reason in SENTENCE_REASONS})
    counts.update({"sentences_kept": 0, "characters_kept": 0})
    return counts


def default_livedoor_path() -> Path:
    """The corpus to read when none is named: ``$KNBC_LIVEDOOR`` or ``corpora/livedoor``."""
    env = os.environ.get(ENV)
    return Path(env) if env else CORPUS_DIR


def line_reason(line: str) -> str | None:
    """Why a stripped, non-empty body line is dropped (one of :data:`LINE_REASONS`), or None to keep it."""
    if _FOOTER.match(line):
        return "footer"
    if _URL.search(line):
        return "url"
    if _DATE.match(line) and "。" not in line:
        return "date"
    if _LIST.match(line):
        return "list"
    if _HEADING.match(line):
        return "heading"
    has_end = _END.search(line) is not None
    if not has_end and _SPEC.match(line):
        return "spec"
    if not has_end and not _QUOTE.match(line):
        return "fragment"
    return None


def split_sentences(line: str) -> list[str]:
    """The sentences of one line, stripped: cut after each run of 。！？!? with the closing brackets
    and quotes that follow it, but not inside 「」『』（）() when the line balances them
    (``「すごい！」と叫んだ。`` is one sentence)."""
    nesting = {pair for pair in _PAIRS if line.count(pair[0]) == line.count(pair[1]) > 0}
    pieces, start, depth = [], 0, 0
    for mark in _MARKS.finditer(line):
        text = mark.group()
        if text in _OPENS:
            depth += _OPENS[text] in nesting
        elif depth == 0:
            if text not in _CLOSES:  # a sentence end, with its closers
                pieces.append(line[start : mark.end()])
                start = mark.end()
        else:  # inside brackets: no end here, but the closers count (「すごい！」と叫んだ。)
            depth -= sum(char in _CLOSES and _CLOSES[char] in nesting for char in text)
            depth = max(depth, 0)
    pieces.append(line[start:])
    return [piece for piece in (p.strip() for p in pieces) if piece]


def _locate(path: Path) -> tuple[Path, Path, Path | None]:
    """``(source to read, SHA256SUMS, archive or None)`` for a folder holding the archive, the
    archive itself, or a folder holding an unpacked ``text/``."""
    if not path.exists():
        raise CorpusNotFoundError(
            f"livedoor corpus not found at {path}: expected {ARCHIVE_NAME} with {SUMS_NAME} beside it, "
            f"or a folder holding them (set {ENV} to point elsewhere)"
        )
    if path.is_file():
        return path, path.with_name(SUMS_NAME), path
    if (path / ARCHIVE_NAME).is_file():
        return path / ARCHIVE_NAME, path / SUMS_NAME, path / ARCHIVE_NAME
    if (path / TOP).is_dir():
        return path, path / SUMS_NAME, None
    raise CorpusNotFoundError(
        f"{path}: neither {ARCHIVE_NAME} nor a {TOP}/ folder inside; is this the livedoor corpus?"
    )


def _read_all(source: Path) -> dict[str, bytes]:
    try:
        return read_members(source, strip_top=False)
    except (tarfile.TarError, lzma.LZMAError, EOFError, OSError) as err:
        raise CorpusFormatError(str(source), None, f"cannot read the corpus archive (truncated?): {err}") from None


def _display(source: Path, name: str) -> str:
    return f"{source}/{name}" if source.is_dir() else f"{source}:{name}"


def _verify(members: dict[str, bytes], sums_path: Path, source: Path, archive: Path | None) -> None:
    if not sums_path.is_file():
        raise ChecksumError(
            f"{sums_path}: missing; it lists the corpus's SHA-256 sums (read with verify=False to skip)"
        )
    entries = parse_sums(decode_utf8(sums_path.read_bytes(), str(sums_path)))
    if not entries:
        raise ChecksumError(f"{sums_path}: empty; expected the SHA-256 of every file and of the archive")
    lineno, expected, name = entries[-1]
    if not name.startswith(f"{TOP}/"):  # the last line: the archive itself
        entries = entries[:-1]
        if archive is not None:
            if name != archive.name:
                raise ChecksumError(f"{sums_path}:{lineno}: names {name}, expected the archive {archive.name}")
            actual = sha256_file(archive)
            if actual != expected:
                raise ChecksumError(f"{archive}: SHA-256 {actual} does not match {sums_path.name} line {lineno}")
    elif archive is not None:
        raise ChecksumError(f"{sums_path}:{lineno}: expected the archive's sum on the last line, found {name}")
    check_member_sums(members, entries, source, sums_path.name)
    listed = {name for _, _, name in entries}
    unlisted = sorted(name for name in members if name.startswith(f"{TOP}/") and name not in listed)
    if unlisted:
        raise ChecksumError(
            f"{_display(source, unlisted[0])}: not listed in {sums_path.name} ({len(unlisted)} unlisted)"
        )


def _check_licences(members: dict[str, bytes], source: Path) -> list[str]:
    """The channel folders, each checked to carry its LICENSE.txt; README.txt checked too."""
    channels = sorted({name.split("/")[1] for name in members if name.startswith(f"{TOP}/") and name.count("/") == 2})
    if not channels:
        raise CorpusNotFoundError(f"{source}: no {TOP}/<channel>/ folders inside; is this the livedoor corpus?")
    if README_NAME not in members:
        raise CorpusFormatError(
            _display(source, README_NAME), None, "missing: the corpus's README (its licence notice) must ship with it"
        )
    for channel in channels:
        licence = f"{TOP}/{channel}/{LICENSE_NAME}"
        if licence not in members:
            raise CorpusFormatError(
                _display(source, licence), None, f"missing: channel {channel} cannot be read without its licence"
            )
    return channels


def _parse_article(where: str, channel: str, stem: str, text: str, counts: dict[str, int], seen: set[str]) -> Article:
    lines = text.split("\n")  # only "\n" ends a line (one article holds a U+2028); "\r" is stripped
    if lines[-1] == "":
        lines.pop()
    if len(lines) < 3:
        raise CorpusFormatError(
            where,
            len(lines) + 1,
            f"an article file has its URL, date and title on lines 1-3; this one has {len(lines)} lines",
        )
    url, date, title = (line.strip() for line in lines[:3])
    if not _URL.match(url):
        raise CorpusFormatError(where, 1, f"expected the article's URL, found {url[:60]!r}")
    if not _DATE.match(date):
        raise CorpusFormatError(where, 2, f"expected the article's date, found {date[:60]!r}")
    sentences = []
    in_footer = False
    for raw in lines[3:]:
        line = raw.strip()
        if not line:
            continue
        counts["raw_lines"] += 1
        reason = "footer" if in_footer else line_reason(line)
        if reason == "footer":
            in_footer = True
        if reason is not None:
            counts[f"dropped_{reason}"] += 1
            continue
        counts["lines_split"] += 1
        for sentence in split_sentences(line):
            counts["sentences_split"] += 1
            if len(sentence) < MIN_CHARS:
                counts["dropped_short"] += 1
            elif _ASIDE.match(sentence):
                counts["dropped_aside"] += 1
            elif sentence in seen:
                counts["dropped_duplicates"] += 1
            else:
                seen.add(sentence)
                sentences.append(sentence)
                counts["sentences_kept"] += 1
                counts["characters_kept"] += len(sentence)
    counts["articles"] += 1
    return Article(channel=channel, id=stem, url=url, date=date, title=title, sentences=tuple(sentences))


def read_livedoor(path: str | Path | None = None, verify: bool = True) -> LivedoorCorpus:
    """Read the livedoor corpus at ``path`` (default :func:`default_livedoor_path`): every article in
    sorted path order with its clean body sentences, and the counts of what was kept and dropped.

    Refuses (:class:`CorpusNotFoundError`, :class:`CorpusFormatError`, :class:`ChecksumError`, each
    naming the file, and the line where there is one) a missing corpus, an unreadable or truncated
    archive, a channel without its ``LICENSE.txt`` or a corpus without ``text/README.txt``, with
    ``verify`` a sum that does not match ``SHA256SUMS``, and an article file with fewer than 3 lines."""
    path = Path(path) if path is not None else default_livedoor_path()
    source, sums_path, archive = _locate(path)
    members = _read_all(source)
    channels = _check_licences(members, source)
    if verify:
        _verify(members, sums_path, source, archive)
    corpus = LivedoorCorpus(source=source, counts=empty_counts())
    corpus.counts["channels"] = len(channels)
    seen: set[str] = set()
    for name in sorted(members):
        parts = name.split("/")
        if len(parts) != 3 or parts[0] != TOP or parts[2] == LICENSE_NAME or not parts[2].endswith(".txt"):
            continue
        where = _display(source, name)
        text = decode_utf8(members[name], where)
        corpus.articles.append(_parse_article(where, parts[1], parts[2][: -len(".txt")], text, corpus.counts, seen))
    return corpus


def livedoor_sentences(path: str | Path | None = None, verify: bool = True) -> Iterator[str]:
    """Every clean sentence of the corpus at ``path``, in article order (see :func:`read_livedoor`)."""
    yield from read_livedoor(path, verify=verify).sentences()


def livedoor_statistics(path: str | Path | None = None, verify: bool = True) -> dict[str, float]:
    """The counts of a reading (:func:`empty_counts`) and ``seconds``, the time it took.

    ``python -c "from pipeline.corpus.livedoor import livedoor_statistics as s; print(s())"``"""
    start = time.perf_counter()
    counts = dict(read_livedoor(path, verify=verify).counts)
    counts["seconds"] = round(time.perf_counter() - start, 2)
    return counts
