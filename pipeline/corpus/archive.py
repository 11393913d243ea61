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


def _decode(data: bytes, where: str) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        line = data[: err.start].count(b"\n") + 1
        raise CorpusFormatError(
            where, line, f"not valid UTF-8 at byte {err.start} (this copy is UTF-8; the original is EUC-JP)"
        ) from None


def _read_members(path: Path) -> dict[str, bytes]:
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
                name = info.name.split("/", 1)[1] if "/" in info.name else info.name
                members[name] = archive.extractfile(info).read()
    return members


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
    for lineno, line in enumerate(_decode(sums, f"{where}:{SUMS_NAME}").splitlines(), start=1):
        if not line.strip():
            continue
        expected, _, name = line.partition("  ")
        name = name.removeprefix("./")
        if name not in members:
            raise ChecksumError(f"{where}: {name} is listed in {SUMS_NAME} (line {lineno}) but missing")
        actual = hashlib.sha256(members[name]).hexdigest()
        if actual != expected:
            raise ChecksumError(f"{where}: {name}: SHA-256 {actual} does not match {SUMS_NAME} line {lineno}")


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
    members = _read_members(path)
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
