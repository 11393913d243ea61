"""Where the KNB corpus lives, and reading its files with their SHA-256 sums checked.

The corpus ships as one archive, ``corpora/knbc/knbc-v1.0.tar.xz``, read without unpacking. A folder
laid out like the original distribution (``corpus1/``, ``corpus2/``) works too. ``KNBC_CORPUS``
in the environment overrides the default location.
"""

from __future__ import annotations

import hashlib
import os
import tarfile
from dataclasses import dataclass
from pathlib import Path

from pipeline.errors import ChecksumError, CorpusFormatError, CorpusNotFoundError
from pipeline.resources import shipped_path

CORPUS_DIR = shipped_path("corpora/knbc")  # in the checkout, or the installed package's copy
ARCHIVE_NAME = "knbc-v1.0.tar.xz"
SUMS_NAME = "SHA256SUMS"


def default_corpus_path() -> Path:
    """The corpus to read when none is named: ``$KNBC_CORPUS`` or the shipped archive."""
    env = os.environ.get("KNBC_CORPUS")
    return Path(env) if env else CORPUS_DIR / ARCHIVE_NAME


@dataclass(frozen=True)
class CorpusFiles:
    """The corpus's files as text, keyed by their path inside the corpus (``corpus1/...``)."""

    source: Path
    texts: dict[str, str]

    def display(self, name: str) -> str:
        """A path for messages: the archive or folder, then the file inside it."""
        return f"{self.source}/{name}" if self.source.is_dir() else f"{self.source}:{name}"


def decode_utf8(data: bytes, where: str, note: str = "") -> str:
    """``data`` as strict UTF-8; else a :class:`CorpusFormatError` naming ``where``, the line and the byte."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        line = data[: err.start].count(b"\n") + 1
        raise CorpusFormatError(where, line, f"not valid UTF-8 at byte {err.start}{note}") from None


def _decode(data: bytes, where: str) -> str:
    return decode_utf8(data, where, " (this copy is UTF-8; the original is EUC-JP)")


def read_members(path: Path, strip_top: bool = True) -> dict[str, bytes]:
    """Every regular file of the archive or folder at ``path``, keyed by its path inside it (posix).

    ``strip_top`` drops an archive member's first folder (``knbc/corpus1/...`` → ``corpus1/...``).
    A folder's hidden files are skipped. An archive that cannot be opened is a :class:`CorpusFormatError`."""
    if path.is_dir():
        return {
            p.relative_to(path).as_posix(): p.read_bytes()
            for p in sorted(path.rglob("*"))
            if p.is_file() and not p.name.startswith(".")
        }
    try:
        archive = tarfile.open(path, "r:*")
    except (tarfile.TarError, OSError) as err:
        raise CorpusFormatError(str(path), None, f"cannot read the corpus archive: {err}") from None
    members: dict[str, bytes] = {}
    with archive:
        for info in archive:
            if info.isfile():
                name = info.name.split("/", 1)[1] if strip_top and "/" in info.name else info.name
                members[name] = archive.extractfile(info).read()
    return members


def sha256_file(path: Path) -> str:
    """The SHA-256 of the file at ``path``, hex, read in blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _check_archive_sum(path: Path) -> None:
    sum_file = path.with_name(path.name + ".sha256")
    if path.is_file() and sum_file.is_file():
        expected = sum_file.read_text().split()[0]
        actual = hashlib.sha256(path.read_bytes()).hexdigest()
        if actual != expected:
            raise ChecksumError(f"{path}: SHA-256 {actual} does not match {sum_file.name} ({expected})")


def _check_member_sums(members: dict[str, bytes], where: Path) -> None:
    sums = members.get(SUMS_NAME)
    if sums is None:
        return
    check_member_sums(members, parse_sums(_decode(sums, f"{where}:{SUMS_NAME}")), where, SUMS_NAME)


def parse_sums(text: str) -> list[tuple[int, str, str]]:
    """The ``(line number, SHA-256, name)`` of each non-blank line of a ``sha256sum`` listing
    (``./`` dropped from the names)."""
    entries = []
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        expected, _, name = line.partition("  ")
        entries.append((lineno, expected, name.removeprefix("./")))
    return entries


def check_member_sums(
    members: dict[str, bytes], entries: list[tuple[int, str, str]], where: Path | str, sums_name: str
) -> None:
    """Each listed member present with its listed SHA-256, else a :class:`ChecksumError` naming the
    member and the line of ``sums_name``."""
    for lineno, expected, name in entries:
        if name not in members:
            raise ChecksumError(f"{where}: {name} is listed in {sums_name} (line {lineno}) but missing")
        actual = hashlib.sha256(members[name]).hexdigest()
        if actual != expected:
            raise ChecksumError(f"{where}: {name}: SHA-256 {actual} does not match {sums_name} line {lineno}")


def read_corpus_files(path: str | Path | None = None, verify: bool = True) -> CorpusFiles:
    """Read every text file of the corpus at ``path`` (archive or folder), checking SHA-256 sums."""
    path = Path(path) if path is not None else default_corpus_path()
    if not path.exists():
        raise CorpusNotFoundError(
            f"KNB corpus not found at {path}: expected {ARCHIVE_NAME} or a folder with corpus1/ and corpus2/ "
            "(set KNBC_CORPUS to point elsewhere)"
        )
    if verify:
        _check_archive_sum(path)
    members = read_members(path)
    if verify:
        _check_member_sums(members, path)
    if not any(name.startswith("corpus1/") for name in members):
        raise CorpusNotFoundError(f"{path}: no corpus1/ folder inside; is this the KNB corpus?")
    if not any(name.startswith("corpus2/") for name in members):
        raise CorpusNotFoundError(f"{path}: no corpus2/ folder inside; is this the KNB corpus?")
    files = CorpusFiles(source=path, texts={})
    for name, data in members.items():
        if name.startswith(("corpus1/", "corpus2/")):
            files.texts[name] = _decode(data, files.display(name))
    return files
