"""``knbc process``: a trained pipeline over a corpus, streamed, in order, resumable, with nothing lost.

Input records are read lazily (:mod:`~pipeline.batch.inputs`), grouped into chunks of a fixed
number of records, annotated by an engine (:mod:`~pipeline.batch.engines`) and appended to the
output in input order (:mod:`~pipeline.batch.output`). Every record ends up either in the output or
in the errors file with its reason.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import time
from collections import Counter, deque
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Optional

from pipeline.batch.annotate import AnnotateOptions, check_options
from pipeline.batch.engines import check_engine, start_engine
from pipeline.batch.inputs import STDIN, Failure, InputSpec, Record, read_inputs, resolve_inputs
from pipeline.batch.output import OutputSpool, default_errors_path, output_format
from pipeline.errors import OutputError, UsageError

DEFAULT_CHUNK = 256


@dataclass
class ProcessSummary:
    """What one run did: records read (including those done before a resume), rows written, errors."""

    out: Path
    errors_path: Path
    records: int = 0
    written: int = 0
    failed: int = 0
    resumed_from: int = 0
    seconds: float = 0.0
    first_chunk_seconds: float = 0.0  # start-up, the first chunk and writing it: until the run is going
    first_chunk_records: int = 0
    engine: str = "local"
    workers: int = 1
    reasons: Counter = field(default_factory=Counter)

    @property
    def docs_per_s(self) -> float:
        """Records processed by this run per second of its wall time."""
        return (self.records - self.resumed_from) / self.seconds if self.seconds else 0.0


def process(inputs: Sequence[str], out: Path, options: AnnotateOptions, spec: InputSpec = InputSpec(),
            fmt: Optional[str] = None, errors: Optional[Path] = None, engine: str = "local", n_process: int = 1,
            scheduler: Optional[str] = None, chunk_size: int = DEFAULT_CHUNK, resume: bool = False,
            overwrite: bool = False, progress: bool = True) -> ProcessSummary:
    """Annotate every record of ``inputs`` (paths, folders, ``-`` for stdin) with the pipeline of
    ``options`` into ``out`` (JSONL, CSV or Parquet); records that fail go to ``errors``."""
    started = time.perf_counter()
    out = Path(out)
    check_sizes(options, chunk_size)
    check_engine(engine, n_process, scheduler)
    fmt = output_format(out, fmt)
    errors = Path(errors) if errors else default_errors_path(out)
    files = resolve_inputs(inputs, spec, outputs=(out, errors))
    options = replace(options, model=str(Path(options.model).resolve()))
    check_options(options)
    spool = OutputSpool(out, errors, fmt, _fingerprint(files, spec, options, chunk_size))
    done = spool.open(resume=resume, overwrite=overwrite)
    summary = ProcessSummary(out, errors, records=done, resumed_from=done, engine=engine)
    runner = bar = None
    try:
        entries = read_inputs(files, spec)
        content = _skip_done(entries, done, chunk_size, spool.content, files, out)
        try:
            runner = start_engine(options, engine, n_process, scheduler)
        except BaseException:
            if not done:
                spool.discard()  # nothing was written: leave no state that would ask for --resume
            raise
        summary.workers = runner.workers
        bar = _progress_bar(files, spec, done) if progress else None
        for chunk, results in _annotated_chunks(runner, entries, chunk_size):
            rows, failures = _merge(chunk, results)
            content = _digest(content, chunk)
            spool.add(len(chunk), rows, [failure.row() for failure in failures], content)
            summary.records += len(chunk)
            if not summary.first_chunk_records:
                summary.first_chunk_seconds, summary.first_chunk_records = time.perf_counter() - started, len(chunk)
            summary.reasons.update(failure.reason for failure in failures)
            if bar is not None:
                bar.update(len(chunk))
        spool.finish()
    finally:
        spool.close()
        if runner is not None:
            runner.close()
        if bar is not None:
            bar.close()
    summary.written, summary.failed = spool.written, spool.failed
    summary.seconds = time.perf_counter() - started
    return summary


def check_sizes(options: AnnotateOptions, chunk_size: int) -> None:
    """Raise :class:`~pipeline.errors.UsageError` for a chunk size, batch size or torch thread count
    under 1, before anything is written (a chunk of 0 records would end the run at once, "0 records")."""
    for option, value in (("--chunk-size", chunk_size), ("--batch-size", options.batch_size),
                          ("--torch-threads", options.torch_threads)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise UsageError(f"{option} must be a whole number of at least 1, not {value!r}")


def _fingerprint(files: list[tuple[str, str]], spec: InputSpec, options: AnnotateOptions, chunk_size: int) -> dict:
    """What must be the same for a resumed run to write what an uninterrupted one would."""
    sources = []
    for name, fmt in files:
        try:
            stat = Path(name).stat() if name != STDIN else None
        except OSError:  # unreadable: reported as an error record when read
            stat = None
        sources.append([name, fmt, stat.st_size if stat else None, stat.st_mtime_ns if stat else None])
    return {"inputs": sources, "reading": asdict(spec), "pipeline": asdict(options), "chunk_size": chunk_size}


def _digest(previous: str, chunk: Sequence[Record | Failure]) -> str:
    """The digest of every input record up to the end of ``chunk``, chained on the one before it."""
    digest = hashlib.sha256(previous.encode("ascii"))
    for entry in chunk:
        digest.update(json.dumps([type(entry).__name__, asdict(entry)], default=str, sort_keys=True).encode("ascii"))
        digest.update(b"\n")
    return digest.hexdigest()


def _skip_done(entries: Iterator[Record | Failure], done: int, chunk_size: int, expected: Optional[str],
               files: list[tuple[str, str]], out: Path) -> str:
    """Read past the ``done`` records of an interrupted run, chunk by chunk as it read them, and check
    that they are the records it read (stdin may bring other data; so may a file rewritten to the same
    size and time); return their digest. Raises :class:`~pipeline.errors.OutputError` if not."""
    content = ""
    for start in range(0, done, chunk_size):
        content = _digest(content, list(itertools.islice(entries, min(chunk_size, done - start))))
    from_stdin = any(name == STDIN for name, _ in files)
    if done and (content != expected if expected is not None else from_stdin):
        source = "stdin" if from_stdin else "the inputs"
        raise OutputError(f"{out}: cannot resume, the first {done} records read from {source} are not those of "
                          "the interrupted run; give it the same data, or use --overwrite to start again")
    return content


def _annotated_chunks(runner, entries: Iterator[Record | Failure], chunk_size: int):
    """``(chunk of entries, results for its records)`` in order; the engine sees only the texts."""
    in_flight: deque = deque()

    def texts() -> Iterator[list[str]]:
        while chunk := list(itertools.islice(entries, chunk_size)):
            in_flight.append(chunk)
            yield [entry.text for entry in chunk if isinstance(entry, Record)]

    for results in runner.map(texts()):
        yield in_flight.popleft(), results


def _merge(chunk: list[Record | Failure], results: list[dict]) -> tuple[list[dict], list[Failure]]:
    """Output rows and failures for one chunk, in input order."""
    rows, failures = [], []
    annotated = iter(results)
    for entry in chunk:
        if isinstance(entry, Failure):
            failures.append(entry)
            continue
        result = next(annotated)
        if "error" in result:
            failures.append(Failure(entry.doc_id, result["error"], raw=entry.text, fields=entry.fields))
            continue
        row = {"doc_id": entry.doc_id, "text": entry.text, **result["ok"]}
        for key, value in entry.fields.items():
            row[key if key not in row else f"input_{key}"] = value
        rows.append(row)
        rows.extend({"doc_id": entry.doc_id, **sentence} for sentence in result.get("sentences", ()))  # --sentences
    return rows, failures


def _progress_bar(files: list[tuple[str, str]], spec: InputSpec, done: int):
    """A progress bar with throughput and ETA (the total is counted first, except for stdin)."""
    from tqdm import tqdm

    total = None if any(name == STDIN for name, _ in files) else _count(files, spec)
    return tqdm(total=total, initial=done, unit="doc", desc="process", dynamic_ncols=True, smoothing=0.1)


def _count(files: list[tuple[str, str]], spec: InputSpec) -> int:
    return sum(1 for _ in read_inputs(files, spec))

