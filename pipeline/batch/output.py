"""The output of ``knbc process``: written atomically, resumable after a kill.

While a run goes on, rows are appended to two JSON Lines spool files beside the output (results and
errors) and, after each chunk, a small state file records how many input records are done and how
long each spool was at that point, written by rename so that it is never half-written. A resumed
run truncates the spools to those lengths and skips that many records, so it writes exactly what an
uninterrupted run would. At the end the results spool becomes the output (JSONL as is; CSV and
Parquet converted in a streaming pass) and the errors spool the errors file, each by one rename.
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Optional

from pipeline.errors import OutputError

OUTPUT_FORMATS = ("jsonl", "csv", "parquet")
_PARQUET_BATCH = 2048


def output_format(out: Path, fmt: Optional[str] = None) -> str:
    """The output format: ``fmt``, or the one the suffix of ``out`` names."""
    fmt = fmt or {".jsonl": "jsonl", ".ndjson": "jsonl", ".csv": "csv", ".parquet": "parquet"}.get(out.suffix.lower())
    if fmt not in OUTPUT_FORMATS:
        raise OutputError(f"{out}: cannot tell the output format from the suffix; use .jsonl, .csv or .parquet, "
                          "or --format")
    return fmt


def default_errors_path(out: Path) -> Path:
    """``OUT.errors.jsonl`` beside the output (for ``result.parquet``: ``result.parquet.errors.jsonl``): the
    whole name, suffix included, so that ``k.csv`` and ``k.jsonl`` never share (and overwrite) one errors file."""
    return out.with_name(f"{out.name}.errors.jsonl")


class OutputSpool:
    """The spools and state file of one run into ``out`` (see the module docstring)."""

    def __init__(self, out: Path, errors: Path, fmt: str, fingerprint: dict):
        self.out, self.errors, self.fmt, self.fingerprint = out, errors, fmt, fingerprint
        self.results_path = out.with_name(f".{out.name}.partial.jsonl")
        self.errors_spool_path = out.with_name(f".{out.name}.errors.partial.jsonl")
        self.state_path = out.with_name(f".{out.name}.state.json")
        self.done = self.written = self.failed = 0
        self.content: Optional[str] = ""  # digest of the input records done (None: a state file without one)
        self._results = self._errors = None

    def open(self, resume: bool, overwrite: bool) -> int:
        """Start or resume; return how many input records are already done."""
        if resume and self.state_path.exists():
            state = json.loads(self.state_path.read_text(encoding="utf-8"))
            if state["fingerprint"] != self.fingerprint:
                changed = sorted(k for k in self.fingerprint if state["fingerprint"].get(k) != self.fingerprint[k])
                raise OutputError(f"{self.out}: cannot resume, the inputs or options differ from the interrupted "
                                  f"run ({', '.join(changed)}); use --overwrite to start again")
            self.done, self.written, self.failed = state["done"], state["written"], state["failed"]
            self.content = state.get("content")
            self._results = _truncated(self.results_path, state["results_bytes"])
            self._errors = _truncated(self.errors_spool_path, state["errors_bytes"])
            return self.done
        if self.state_path.exists() and not overwrite and not resume:
            raise OutputError(f"{self.out}: an interrupted run left its state here; pass --resume to finish it "
                              "or --overwrite to start again")
        if (self.out.exists() or self.errors.exists()) and not overwrite:
            existing = self.out if self.out.exists() else self.errors
            hint = "it is complete; " if resume and self.out.exists() else ""
            raise OutputError(f"{existing} exists; {hint}pass --overwrite to replace it"
                              + ("" if resume else " or --resume to finish an interrupted run"))
        self.out.parent.mkdir(parents=True, exist_ok=True)
        self._results = open(self.results_path, "wb")
        self._errors = open(self.errors_spool_path, "wb")
        self._save_state()
        return 0

    def add(self, n_records: int, rows: list[dict], errors: list[dict], content: str = "") -> None:
        """Append one chunk's rows and error rows, make them durable, then record the chunk as done
        (``content``: the digest of every input record done so far, checked by a resumed run)."""
        for stream, items in ((self._results, rows), (self._errors, errors)):
            stream.write(b"".join(_json_line(item) for item in items))
            stream.flush()
            os.fsync(stream.fileno())
        self.done += n_records
        self.written += len(rows)
        self.failed += len(errors)
        self.content = content
        self._save_state()

    def _save_state(self) -> None:
        state = {"fingerprint": self.fingerprint, "done": self.done, "written": self.written, "failed": self.failed,
                 "content": self.content,
                 "results_bytes": self._results.tell(), "errors_bytes": self._errors.tell()}
        temporary = self.state_path.with_name(self.state_path.name + ".tmp")
        temporary.write_text(json.dumps(state, ensure_ascii=False), encoding="utf-8")
        os.replace(temporary, self.state_path)

    def finish(self) -> None:
        """Turn the spools into the output and errors files (each by an atomic rename) and clean up."""
        self.close()
        if self.fmt == "jsonl":
            os.replace(self.results_path, self.out)
        else:
            temporary = self.out.with_name(f".{self.out.name}.tmp")
            (write_csv if self.fmt == "csv" else write_parquet)(self.results_path, temporary)
            os.replace(temporary, self.out)
            self.results_path.unlink()
        os.replace(self.errors_spool_path, self.errors)
        self.state_path.unlink()

    def discard(self) -> None:
        """Remove the spools and the state file of a run that wrote nothing."""
        self.close()
        for path in (self.results_path, self.errors_spool_path, self.state_path):
            path.unlink(missing_ok=True)

    def close(self) -> None:
        """Close the spools (an interrupted run leaves them and the state file for --resume)."""
        for stream in (self._results, self._errors):
            if stream is not None and not stream.closed:
                stream.close()


def _json_line(item: dict) -> bytes:
    return (json.dumps(item, ensure_ascii=False) + "\n").encode("utf-8")


def _truncated(path: Path, length: int):
    stream = open(path, "r+b")
    stream.truncate(length)
    stream.seek(length)
    return stream


def _spooled_rows(path: Path) -> Iterator[dict]:
    with open(path, encoding="utf-8") as stream:
        for line in stream:
            yield json.loads(line)


def _columns(path: Path) -> dict[str, set[str]]:
    """Every column of the spooled rows in first-seen order, with the kinds of value it holds."""
    columns: dict[str, set[str]] = {}
    for row in _spooled_rows(path):
        for key, value in row.items():
            columns.setdefault(key, set()).add(_kind(value))
    return columns


def _kind(value) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "str"
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return "list[str]"
    return "json"


def _flat(value):
    """A CSV cell: lists and objects as JSON, None as an empty cell."""
    if value is None:
        return ""
    return json.dumps(value, ensure_ascii=False) if isinstance(value, (list, dict)) else value


def write_csv(spool: Path, out: Path) -> None:
    """The spooled rows as CSV (UTF-8, a header of every column, lists/objects as JSON), streamed."""
    columns = list(_columns(spool))
    with open(out, "w", encoding="utf-8", newline="") as stream:
        writer = csv.DictWriter(stream, fieldnames=columns, restval="")
        writer.writeheader()
        for row in _spooled_rows(spool):
            writer.writerow({key: _flat(value) for key, value in row.items()})


def _arrow_type(kinds: set[str]):
    import pyarrow as pa

    kinds = kinds - {"null"}
    if kinds <= {"bool"}:
        return pa.bool_() if kinds else pa.null()
    if kinds == {"int"}:
        return pa.int64()
    if kinds <= {"int", "float"}:
        return pa.float64()
    if kinds == {"str"}:
        return pa.string()
    if kinds == {"list[str]"}:
        return pa.list_(pa.string())
    return None  # mixed or nested: stored as JSON text


def write_parquet(spool: Path, out: Path) -> None:
    """The spooled rows as Parquet, streamed in row groups; a column of mixed or nested values is
    stored as JSON text so that nothing is dropped."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    columns = _columns(spool)
    types = {name: _arrow_type(kinds) for name, kinds in columns.items()}
    schema = pa.schema([(name, kind if kind is not None else pa.string()) for name, kind in types.items()])
    as_json = {name for name, kind in types.items() if kind is None}

    def table(rows: list[dict]):
        data = {name: [_json_cell(row.get(name)) if name in as_json else row.get(name) for row in rows]
                for name in columns}
        return pa.Table.from_pydict(data, schema=schema)

    with pq.ParquetWriter(out, schema) as writer:
        rows: list[dict] = []
        for row in _spooled_rows(spool):
            rows.append(row)
            if len(rows) == _PARQUET_BATCH:
                writer.write_table(table(rows))
                rows = []
        if rows or not columns:
            writer.write_table(table(rows))


def _json_cell(value) -> Optional[str]:
    if value is None:
        return None
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
