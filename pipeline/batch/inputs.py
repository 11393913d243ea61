"""Input records for ``knbc process``: text, JSONL, CSV and Parquet files, folders and stdin, read lazily.

Every record of the input comes out of :func:`read_inputs`, in a deterministic order, either as a
:class:`Record` (a document to annotate) or as a :class:`Failure` (a record that cannot be: bad
JSON, invalid UTF-8, no text field, an empty document, an unreadable or binary file), so that each
one ends up in the output or in the errors file. A record's id is ``SOURCE:LINE`` (the line where
it starts; for Parquet, the row number), so ids are stable between runs.
"""

from __future__ import annotations

import csv
import io
import json
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Optional

from pipeline.errors import InputError

FORMATS = ("txt", "jsonl", "csv", "parquet")
SUFFIXES = {".txt": "txt", ".text": "txt", ".jsonl": "jsonl", ".ndjson": "jsonl", ".csv": "csv", ".parquet": "parquet"}
STDIN = "-"
_SNIFF_BYTES = 8192


@dataclass(frozen=True)
class Record:
    """One document: its id, its text and the input's other fields (passed through to the output)."""

    doc_id: str
    text: str
    fields: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Failure:
    """One input record (or a whole file) that cannot be annotated, with the reason and what was read."""

    doc_id: str
    reason: str
    raw: Optional[str] = None
    fields: dict = field(default_factory=dict)

    def row(self) -> dict:
        """The errors-file row."""
        source, _, line = self.doc_id.rpartition(":")
        row = {"doc_id": self.doc_id, "source": source or self.doc_id, "line": int(line) if line.isdigit() else None,
               "reason": self.reason}
        if self.raw is not None:
            row["text"] = self.raw
        if self.fields:
            row["fields"] = self.fields
        return row


@dataclass(frozen=True)
class InputSpec:
    """How to read the inputs: the text field of JSONL/CSV/Parquet, paragraphs or lines for text files,
    and the format of stdin or of files whose suffix says nothing."""

    text_field: str = "text"
    paragraphs: bool = False
    input_format: Optional[str] = None


def resolve_inputs(paths: Iterable[str], spec: InputSpec, outputs: Iterable[Path] = ()) -> list[tuple[str, str]]:
    """``(name, format)`` for each input file in order, folders walked recursively in sorted order
    (hidden files, and this run's ``outputs`` when they lie inside a folder, left out); ``-`` (or no
    path) is stdin. Unknown files inside folders are kept with format ``None`` so that they are
    reported, not dropped. Raises :class:`InputError` for a path that does not exist, a named file
    of unknown type, or one of ``outputs`` named as an input."""
    outputs = {Path(p).resolve() for p in outputs}
    if spec.input_format is not None and spec.input_format not in FORMATS:
        raise InputError(f"unknown input format {spec.input_format!r}; expected one of {', '.join(FORMATS)}")
    paths = list(paths) or [STDIN]
    resolved: list[tuple[str, str]] = []
    for name in paths:
        if name == STDIN:
            resolved.append((STDIN, spec.input_format or "txt"))
            continue
        path = Path(name)
        if path.is_dir():
            files = sorted(p for p in path.rglob("*") if not p.is_dir() and not _hidden(p.relative_to(path))
                           and p.resolve() not in outputs)
            resolved.extend((str(p), spec.input_format or SUFFIXES.get(p.suffix.lower())) for p in files)
        elif path.resolve() in outputs:
            raise InputError(f"{name} is where this run writes; choose another --out or --errors")
        elif path.exists():
            fmt = spec.input_format or SUFFIXES.get(path.suffix.lower())
            if fmt is None:
                raise InputError(f"{name}: unknown input type {path.suffix!r}; use .txt, .jsonl, .csv or .parquet, "
                                 "or say which with --input-format")
            resolved.append((name, fmt))
        else:
            raise InputError(f"{name}: no such file or folder")
    return resolved


def _hidden(relative: Path) -> bool:
    return any(part.startswith(".") for part in relative.parts)


def read_inputs(files: list[tuple[str, str]], spec: InputSpec) -> Iterator[Record | Failure]:
    """Every record of every input file, in order (see the module docstring)."""
    for name, fmt in files:
        if fmt is None:
            yield Failure(name, f"not a supported input ({', '.join(sorted(SUFFIXES))}); the file was not read")
            continue
        try:
            if name == STDIN:
                stdin = io.BytesIO(sys.stdin.buffer.read()) if fmt == "parquet" else sys.stdin.buffer  # needs seeking
                yield from _read(name, fmt, stdin, spec)
                continue
            with open(name, "rb") as stream:
                head = stream.read(_SNIFF_BYTES)
                if fmt != "parquet" and b"\x00" in head:
                    yield Failure(name, "binary file (it holds NUL bytes), not UTF-8 text; the file was not read")
                    continue
                stream.seek(0)
                yield from _read(name, fmt, stream, spec)
        except OSError as err:
            yield Failure(name, f"cannot read the file: {err.strerror or err}")


def _read(name: str, fmt: str, stream: BinaryIO, spec: InputSpec) -> Iterator[Record | Failure]:
    if fmt == "txt":
        return _read_paragraphs(name, stream) if spec.paragraphs else _read_lines(name, stream)
    if fmt == "jsonl":
        return _read_jsonl(name, stream, spec.text_field)
    if fmt == "csv":
        return _read_csv(name, stream, spec.text_field)
    return _read_parquet(name, stream, spec.text_field)


def _decoded_lines(stream: BinaryIO) -> Iterator[tuple[int, str | None, str]]:
    """``(line number, text or None if not UTF-8, text with bad bytes escaped)`` per line, no line end."""
    for number, raw in enumerate(stream, start=1):
        raw = raw.rstrip(b"\r\n")
        if number == 1 and raw.startswith(b"\xef\xbb\xbf"):
            raw = raw[3:]  # the UTF-8 byte-order mark
        try:
            text = raw.decode("utf-8")
            yield number, text, text
        except UnicodeDecodeError:
            yield number, None, raw.decode("utf-8", errors="backslashreplace")


def _invalid_utf8(doc_id: str, escaped: str) -> Failure:
    return Failure(doc_id, "invalid UTF-8 (the bytes that are not are shown escaped)", raw=escaped)


def _document(doc_id: str, text: str, fields: dict | None = None) -> Record | Failure:
    if not text.strip():
        return Failure(doc_id, "empty document" if not text else "empty document (whitespace only)", raw=text,
                       fields=fields or {})
    return Record(doc_id, text, fields or {})


def _read_lines(name: str, stream: BinaryIO) -> Iterator[Record | Failure]:
    for number, text, escaped in _decoded_lines(stream):
        yield _document(f"{name}:{number}", text) if text is not None else _invalid_utf8(f"{name}:{number}", escaped)


def _read_paragraphs(name: str, stream: BinaryIO) -> Iterator[Record | Failure]:
    start, lines, bad = 0, [], False
    for number, text, escaped in _decoded_lines(stream):
        if not escaped.strip():
            if lines:
                yield _paragraph(name, start, lines, bad)
            start, lines, bad = 0, [], False
            continue
        start = start or number
        lines.append(escaped)
        bad = bad or text is None
    if lines:
        yield _paragraph(name, start, lines, bad)


def _paragraph(name: str, start: int, lines: list[str], bad: bool) -> Record | Failure:
    text = "\n".join(lines)
    return _invalid_utf8(f"{name}:{start}", text) if bad else Record(f"{name}:{start}", text)


def _read_jsonl(name: str, stream: BinaryIO, text_field: str) -> Iterator[Record | Failure]:
    for number, text, escaped in _decoded_lines(stream):
        doc_id = f"{name}:{number}"
        if text is None:
            yield _invalid_utf8(doc_id, escaped)
            continue
        if not text.strip():
            continue  # a blank line holds no record in JSON Lines
        try:
            value = json.loads(text)
        except json.JSONDecodeError as err:
            yield Failure(doc_id, f"invalid JSON: {err.msg} at column {err.colno}", raw=text)
            continue
        if not isinstance(value, dict):
            yield Failure(doc_id, f"expected a JSON object, found {type(value).__name__}", raw=text)
            continue
        unencodable = [_escaped(str(key)) for key, item in value.items() if _holds_surrogates(key) or _holds_surrogates(item)]
        if unencodable:
            yield Failure(doc_id, f"a lone surrogate escape (e.g. \\udc80) in field(s) {', '.join(unencodable)}: "
                          "not a character, UTF-8 cannot hold it (the line is kept as read)", raw=text)
            continue
        yield _from_fields(doc_id, value, text_field)


def _escaped(text: str) -> str:
    """``text`` with anything UTF-8 cannot hold written as a backslash escape."""
    return text.encode("utf-8", errors="backslashreplace").decode("utf-8")


def _holds_surrogates(value) -> bool:
    """Whether a JSON value holds a string with a lone surrogate (valid JSON, e.g. ``"\\ud800"``, not text)."""
    if isinstance(value, str):
        return any("\ud800" <= ch <= "\udfff" for ch in value)
    if isinstance(value, dict):
        return any(_holds_surrogates(k) or _holds_surrogates(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_holds_surrogates(item) for item in value)
    return False


def _from_fields(doc_id: str, fields: dict, text_field: str) -> Record | Failure:
    """A record from a row of fields: the text field must be there and be a string."""
    fields = dict(fields)
    if text_field not in fields:
        return Failure(doc_id, f"no {text_field!r} field (fields: {', '.join(map(str, fields)) or 'none'}); "
                       "name the text field with --text-field", fields=fields)
    text = fields.pop(text_field)
    if not isinstance(text, str):
        return Failure(doc_id, f"field {text_field!r} is {type(text).__name__}, not a string", fields={text_field: text, **fields})
    return _document(doc_id, text, fields)


def _read_csv(name: str, stream: BinaryIO, text_field: str) -> Iterator[Record | Failure]:
    text_stream = io.TextIOWrapper(stream, encoding="utf-8-sig", errors="surrogateescape", newline="")
    csv.field_size_limit(2**31 - 1)  # the default, 131,072 characters, would refuse long documents
    reader = csv.reader(text_stream)
    try:
        header = next(reader)
    except StopIteration:
        return
    except csv.Error as err:
        yield Failure(f"{name}:1", f"unreadable CSV header: {err}; the file was not read")
        return
    start = reader.line_num + 1
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as err:
            yield Failure(f"{name}:{start}", f"unreadable CSV row: {err}")
            start = reader.line_num + 1
            continue
        doc_id = f"{name}:{start}"
        start = reader.line_num + 1
        if not row:
            continue  # a blank line holds no record
        if any(_has_surrogates(value) for value in row):
            yield _invalid_utf8(doc_id, ",".join(v.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace") for v in row))
            continue
        if len(row) != len(header):
            yield Failure(doc_id, f"{len(row)} fields where the header has {len(header)}", raw=",".join(row))
            continue
        yield _from_fields(doc_id, dict(zip(header, row)), text_field)


def _has_surrogates(value: str) -> bool:
    return any("\udc80" <= ch <= "\udcff" for ch in value)


def _read_parquet(name: str, stream: BinaryIO, text_field: str) -> Iterator[Record | Failure]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        table = pq.ParquetFile(stream)
    except (pa.ArrowException, OSError) as err:
        yield Failure(name, f"not a readable Parquet file: {err}; the file was not read")
        return
    number = 0
    for batch in table.iter_batches(batch_size=1024):
        for fields in batch.to_pylist():
            number += 1
            yield _from_fields(f"{name}:{number}", fields, text_field)
