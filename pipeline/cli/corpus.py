"""``knbc corpus stats | export | splits | coverage``: read, check and export the KNB corpus."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Optional

import typer


from pipeline.cli.common import app, user_errors


corpus_app = typer.Typer(help="Read, check and export the KNB corpus.", no_args_is_help=True)
app.add_typer(corpus_app, name="corpus")

CorpusOption = typer.Option(None, "--corpus", help="Corpus archive or folder (default: the shipped archive).")


class ExportFormat(str, Enum):
    """Formats ``knbc corpus export`` writes."""

    parquet = "parquet"
    jsonl = "jsonl"
    csv = "csv"
    spacy = "spacy"


class Level(str, Enum):
    """One row per sentence, or one per gold morpheme."""

    sentence = "sentence"
    token = "token"


def _load(corpus_path: Optional[Path]):
    from pipeline.corpus import load_corpus, shipped_corpus

    with user_errors():
        return load_corpus(corpus_path) if corpus_path is not None else shipped_corpus()


@corpus_app.command("stats")
def corpus_stats(
    corpus: Optional[Path] = CorpusOption,
    ginza: bool = typer.Option(False, "--ginza", help="Also count GiNZA tokens (tokenizes the corpus, ~10 s)."),
) -> None:
    """Per-theme counts (articles, sentences, tokens, NEs, 評判 by polarity), checked against the README."""
    from pipeline.corpus.stats import readme_mismatches, theme_statistics

    data = _load(corpus)
    token_counts = None
    if ginza:
        from pipeline.ginza import load_ginza

        nlp = load_ginza()
        docs = nlp.tokenizer.pipe(s.text for s in data.sentences)
        token_counts = {s.sid: len(doc) for s, doc in zip(data.sentences, docs)}
    table = theme_statistics(data, token_counts)
    typer.echo(table.to_string(index=False))
    typer.echo("")
    typer.echo("Reader report:")
    for line in data.report.lines():
        typer.echo(f"  {line}")
    problems = readme_mismatches(table)
    if problems:
        for problem in problems:
            typer.secho(f"mismatch with the corpus README: {problem}", fg="red", err=True)
        raise typer.Exit(1)
    typer.echo("Article and sentence counts agree with the corpus README (249 articles, 4,186 sentences).")


@corpus_app.command("export")
def corpus_export(
    out: Path = typer.Option(..., "--out", help="Output file (jsonl/csv/parquet) or folder (spacy)."),
    fmt: ExportFormat = typer.Option(ExportFormat.parquet, "--format", help="Output format."),
    level: Level = typer.Option(Level.sentence, "--level", help="Rows per sentence or per gold morpheme."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing output."),
    corpus: Optional[Path] = CorpusOption,
) -> None:
    """Export the corpus as a table (JSONL/CSV/Parquet) or as spaCy DocBins (train/dev/test.spacy)."""
    from pipeline.corpus.export import sentence_frame, token_frame, write_docbins, write_table
    from pipeline.corpus.splits import load_splits

    if out.exists() and not overwrite and (fmt != ExportFormat.spacy or any(out.iterdir())):
        typer.secho(f"error: {out} exists; pass --overwrite to replace it", fg="red", err=True)
        raise typer.Exit(2)
    data = _load(corpus)
    splits = load_splits()
    if fmt == ExportFormat.spacy:
        if level != Level.sentence:
            typer.secho("error: --format spacy writes one Doc per sentence; drop --level", fg="red", err=True)
            raise typer.Exit(2)
        from pipeline.ginza import load_ginza

        paths, report = write_docbins(load_ginza(), data, splits, out)
        for split, path in paths.items():
            typer.echo(f"wrote {path} ({split})")
        typer.echo("Span alignment to GiNZA tokens:")
        for line in report.lines():
            typer.echo(f"  {line}")
        for failure in report.failures:
            typer.echo(f"  not placed: {failure}")
        return
    frame = sentence_frame(data, splits) if level == Level.sentence else token_frame(data)
    write_table(frame, out, fmt.value)
    typer.echo(f"wrote {out}: {len(frame)} rows, {len(frame.columns)} columns")


@corpus_app.command("splits")
def corpus_splits(
    check: bool = typer.Option(False, "--check", help="Verify the stored splits instead of writing them."),
    corpus: Optional[Path] = CorpusOption,
) -> None:
    """Derive the shared splits (article train/dev/test, 5-fold CV, peer protocol) and write or check them."""
    from pipeline.corpus.splits import SPLITS_DIR, compare_splits, load_splits, make_splits, write_splits

    derived = make_splits(_load(corpus))
    if check:
        differing = compare_splits(load_splits(), derived)
        if differing:
            typer.secho(f"stored splits differ from the derived ones: {differing}", fg="red", err=True)
            raise typer.Exit(1)
        typer.echo(f"stored splits in {SPLITS_DIR} match the derived ones")
        return
    for path in write_splits(derived):
        typer.echo(f"wrote {path}")
    typer.echo(
        f"articles: {len(derived.train)} train, {len(derived.dev)} dev, {len(derived.test)} test; "
        f"{len(derived.folds)} folds; peer test sets of {len(next(iter(derived.peer.values())))} sentences"
    )


@corpus_app.command("coverage")
def corpus_coverage(
    skip_space: bool = typer.Option(False, "--skip-space", help="Leave whitespace tokens out of the count."),
    corpus: Optional[Path] = CorpusOption,
) -> None:
    """How many GiNZA tokens find a ja_ginza vector by text, then lemma, then normalized form."""
    from pipeline.ginza import load_ginza
    from pipeline.models.features import vector_coverage

    nlp = load_ginza()
    docs = list(nlp.tokenizer.pipe(s.text for s in _load(corpus).sentences))
    coverage = vector_coverage(docs, nlp.vocab, skip_space=skip_space)
    typer.echo(f"{sum(len(d) for d in docs)} tokens in {len(docs)} sentences find a vector by")
    for stage, fraction in coverage.items():
        typer.echo(f"  {stage:<16} {fraction:.2%}")
