"""``knbc process``: the trained pipeline over files, folders or stdin (local processes or Dask)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

import typer


from pipeline.cli.common import app, user_errors


@app.command("process")
def process_command(
    inputs: Optional[list[str]] = typer.Argument(None, help="Files (.txt .jsonl .csv .parquet) or folders (recursive); "
                                                "'-' or nothing: stdin."),
    out: Path = typer.Option(..., "--out", help="Output file: .jsonl, .csv or .parquet."),
    fmt: Optional[str] = typer.Option(None, "--format", help="Output format if the suffix does not say: jsonl | csv | parquet."),
    errors: Optional[Path] = typer.Option(None, "--errors", help="Errors file (default: OUT + .errors.jsonl, e.g. k.csv.errors.jsonl)."),
    model: Path = typer.Option(None, "--model", help="Pipeline folder (default: models/knbc)."),
    text_field: str = typer.Option("text", help="The text field of JSONL / column of CSV and Parquet inputs."),
    paragraphs: bool = typer.Option(False, "--paragraphs", help="Text files: one document per blank-line-separated "
                                    "paragraph (default: per line)."),
    input_format: Optional[str] = typer.Option(None, help="Read stdin and files of unknown suffix as txt | jsonl | csv | parquet."),
    classifiers: Optional[str] = typer.Option(None, help="Comma-separated classifiers to run (default: all)."),
    tokens: bool = typer.Option(False, "--tokens", help="Also write tokens, lemmas and POS tags."),
    generate: bool = typer.Option(False, "--generate", help="Also run the pipeline's generator (generated text)."),
    documents: bool = typer.Option(False, "--documents", help="Each record is a post: one row per post from the "
                                   "pipeline's knbc_post_classifier (e.g. models/posts): its theme and scores."),
    sentences: bool = typer.Option(False, "--sentences", help="With --documents: also one row per sentence (level "
                                   "'sentence': index, text, offsets, theme, sentiment, attention)."),
    spans: bool = typer.Option(False, "--spans", help="Also run the pipeline's span taggers: a column per tagger (ner, "
                               "reputation) of [{start, end, label, text}] (character offsets)."),
    engine: str = typer.Option("local", help="local (processes on this machine) | dask (a Dask cluster)."),
    n_process: int = typer.Option(1, "--n-process", help="Local worker processes (or local Dask workers); 0: one per core."),
    scheduler: Optional[str] = typer.Option(None, help="Dask scheduler address, e.g. tcp://10.0.0.5:8786 "
                                            "(default: start a local cluster)."),
    batch_size: int = typer.Option(64, help="Documents per nlp.pipe batch."),
    chunk_size: int = typer.Option(256, help="Records per chunk handed to a worker (and per resume checkpoint)."),
    torch_threads: int = typer.Option(1, help="torch threads per process (1: fastest here, same results on every engine)."),
    resume: bool = typer.Option(False, "--resume", help="Finish an interrupted run into the same OUT."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing OUT and errors file."),
    quiet: bool = typer.Option(False, "--quiet", help="No progress bar."),
) -> None:
    """Run the trained pipeline over a corpus: labels and scores (optionally tokens and generated text) per
    document, in input order, streamed, resumable; records that fail go to the errors file with the reason."""
    from pipeline.batch import AnnotateOptions, InputSpec, process
    from pipeline.loading import DEFAULT_PIPELINE

    options = AnnotateOptions(
        model=str(model or DEFAULT_PIPELINE), tokens=tokens, generate=generate, spans=spans, batch_size=batch_size,
        torch_threads=torch_threads, documents=documents, sentences=sentences,
        classifiers=tuple(name for name in classifiers.split(",") if name) if classifiers is not None else None,
    )
    spec = InputSpec(text_field=text_field, paragraphs=paragraphs, input_format=input_format)
    try:
        with user_errors(OSError):
            summary = process(inputs or [], out, options, spec, fmt=fmt, errors=errors, engine=engine,
                              n_process=n_process or os.cpu_count() or 1, scheduler=scheduler, chunk_size=chunk_size, resume=resume,
                              overwrite=overwrite, progress=not quiet)
    except KeyboardInterrupt:
        typer.secho(f"interrupted; run the same command with --resume to finish {out}", fg="yellow", err=True)
        raise typer.Exit(130) from None
    resumed = f" (resumed after {summary.resumed_from})" if summary.resumed_from else ""
    typer.echo(f"{summary.records} records{resumed}: {summary.written} written to {summary.out}, "
               f"{summary.failed} to {summary.errors_path}; {summary.docs_per_s:.1f} docs/s over "
               f"{summary.seconds:.1f} s ({summary.engine}, {summary.workers} worker(s))", err=True)
    for reason, count in summary.reasons.most_common():
        typer.echo(f"  {count} x {reason}", err=True)
