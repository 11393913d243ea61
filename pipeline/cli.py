"""The ``knbc`` command line: ``corpus ...``, ``train``, ``assemble``, ``evaluate``, ``report``, ``classify``,
``process``, ``generate``, ``similar``, ``benchmark``."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from enum import Enum
from pathlib import Path
from typing import Optional

import typer

from pipeline.errors import KnbcError, UsageError

app = typer.Typer(help="knbc-pipeline: GiNZA + recurrent networks on the KNB blog corpus.", no_args_is_help=True)
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


@contextmanager
def user_errors(*kinds: type[Exception]):
    """Turn this package's errors (and ``kinds``) into a red message and exit status 2, not a traceback."""
    try:
        yield
    except (KnbcError, *kinds) as err:
        typer.secho(f"error: {err}", fg="red", err=True)
        raise typer.Exit(2) from None


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
    from pipeline.features import vector_coverage
    from pipeline.ginza import load_ginza

    nlp = load_ginza()
    docs = list(nlp.tokenizer.pipe(s.text for s in _load(corpus).sentences))
    coverage = vector_coverage(docs, nlp.vocab, skip_space=skip_space)
    typer.echo(f"{sum(len(d) for d in docs)} tokens in {len(docs)} sentences find a vector by")
    for stage, fraction in coverage.items():
        typer.echo(f"  {stage:<16} {fraction:.2%}")


@app.command("train")
def train_command(
    config: Path = typer.Argument(..., help="spaCy config of the pipeline to train (see models/configs/)."),
    out: Path = typer.Option(..., "--out", help="Folder to save the trained pipeline and metrics.json in."),
    component: Optional[str] = typer.Option(None, help="Component to train (default: the config's only one)."),
    task: Optional[str] = typer.Option(None, help="KNBC task: theme | sentiment (default: the component's name)."),
    train: Optional[Path] = typer.Option(None, "--train", help="Your training data: .jsonl / .csv (text, label) or .spacy."),
    dev: Optional[Path] = typer.Option(None, "--dev", help="Your dev data (early stopping), same formats."),
    test: Optional[Path] = typer.Option(None, "--test", help="Your test data, scored once after training."),
    seed: int = typer.Option(0, help="Random seed: same seed and data, same model."),
    max_epochs: int = typer.Option(10, help="Most epochs to train."),
    patience: int = typer.Option(2, help="Epochs without a better dev score before stopping."),
    batch_size: int = typer.Option(64, help="Sentences per update."),
    learn_rate: float = typer.Option(3e-3, help="Adam learning rate."),
    grad_clip: float = typer.Option(1.0, help="Gradient clipping (L2 norm)."),
    quiet: bool = typer.Option(False, "--quiet", help="No progress bars."),
) -> None:
    """Train a classifier on the shipped KNBC split (default) or on your own data, with early stopping."""
    from pipeline.training.loop import TrainSettings
    from pipeline.training.train import train_from_config

    settings = TrainSettings(
        max_epochs=max_epochs, patience=patience, batch_size=batch_size, learn_rate=learn_rate,
        grad_clip=grad_clip, seed=seed,
    )
    with user_errors(OSError):
        result, metrics = train_from_config(
            config, out, settings, component=component, task=task, train=train, dev=dev, test=test, progress=not quiet
        )
    name = metrics["component"]
    typer.echo(f"best epoch {result.best_epoch}: dev {name}_macro_f {result.best_score:.4f} ({result.seconds:.0f} s)")
    if metrics["test"]:
        typer.echo(f"test {name}_macro_f {metrics['test'][f'{name}_macro_f']:.4f}")
    typer.echo(f"saved {out} (metrics.json, train_log.jsonl)")


@app.command("assemble")
def assemble_command(
    models: list[Path] = typer.Argument(..., help="Trained pipelines and generator folders to combine."),
    out: Path = typer.Option(..., "--out", help="Folder for the combined pipeline."),
    link: bool = typer.Option(False, "--link", help="Refer to the sources' weights with relative symlinks instead of "
                              "copying them (one copy of each model in a repository)."),
) -> None:
    """Combine trained pipelines (e.g. theme and sentiment) and generators into one pipeline."""
    from pipeline.training.train import assemble

    with user_errors():
        path = assemble(models, out, link=link)
    typer.echo(f"saved {path}")


def parse_setting(item: str) -> tuple[str, object]:
    """``(key, value)`` of a ``--set KEY=VALUE``: numbers and true/false as JSON, anything else as text."""
    key, sep, value = item.partition("=")
    if not sep:
        raise UsageError(f"--set takes KEY=VALUE, not {item!r}")
    if not (value[:1].isdigit() or value in ("true", "false")):
        return key, value
    try:
        return key, json.loads(value)
    except ValueError:
        raise UsageError(f"--set {key}: {value!r} is not a number") from None


def check_evaluate_args(task: str, protocol: str, models: Optional[list[str]], runs: Optional[int],
                        hyperparams: dict) -> None:
    """Raise :class:`UsageError` for a task, protocol, model, run count or hyperparameter that
    ``knbc evaluate`` does not know, before anything is trained."""
    from pipeline.evaluation.models import MODELS, split_hyperparams
    from pipeline.evaluation.protocols import PROTOCOLS
    from pipeline.training.data import TASKS

    if task not in TASKS:
        raise UsageError(f"unknown task {task!r}; expected one of {sorted(TASKS)}")
    if protocol not in PROTOCOLS:
        raise UsageError(f"unknown protocol {protocol!r}; expected one of {list(PROTOCOLS)}")
    unknown = [name for name in models or [] if name not in MODELS]
    if unknown:
        raise UsageError(f"unknown model(s) {unknown}; expected some of {list(MODELS)}")
    if runs is not None and runs < 1:
        raise UsageError(f"--runs must be at least 1, not {runs}")
    try:
        split_hyperparams(hyperparams)
    except (ValueError, TypeError) as err:
        raise UsageError(f"--set: {err}") from None


@app.command("evaluate")
def evaluate_command(
    task: str = typer.Option("theme", help="theme | sentiment"),
    protocol: str = typer.Option("cv5", help="cv5 (5 article-grouped folds) | peer (random 10%, 5 seeds) | split"),
    out: Optional[Path] = typer.Option(None, "--out", help="Results folder (default: out/eval/TASK-PROTOCOL)."),
    models: Optional[str] = typer.Option(None, help="Comma-separated subset, e.g. majority,spacy_bow,bilstm_attention."),
    runs: Optional[int] = typer.Option(None, help="Only the first N folds / seeds."),
    hyperparam: Optional[list[str]] = typer.Option(None, "--set", help="Hyperparameter KEY=VALUE, repeatable."),
    threads: int = typer.Option(1, help="torch and BLAS threads. With 1 (as in reports/) a rerun gives the same numbers; "
                                        "other counts sum in another order, and a model may stop at another epoch."),
) -> None:
    """Train and score baselines, spaCy's textcats and our recurrent variants in one run; write the report."""
    import torch
    from threadpoolctl import threadpool_limits

    from pipeline.evaluation import compare, write_report

    torch.set_num_threads(threads)
    threadpool_limits(threads)  # numpy's BLAS too (spaCy's textcats, TF-IDF + LR)

    out = out or Path("out") / "eval" / f"{task}-{protocol}"
    names = models.split(",") if models else None
    with user_errors():
        hyperparams = dict(parse_setting(item) for item in hyperparam or [])
        check_evaluate_args(task, protocol, names, runs, hyperparams)
        compare(task, protocol, out, models=names, runs=runs, hyperparams=hyperparams)  # a ValueError here is a bug
    typer.echo(f"wrote {write_report(out)}")


@app.command("report")
def report_command(
    results: Optional[Path] = typer.Argument(
        None, help="Only this results folder (written by `knbc evaluate`): rebuild its report.md and plots."
    ),
    reports: Path = typer.Option(Path("reports"), "--reports", help="The folder of saved evaluation results."),
    models: Path = typer.Option(Path("models"), "--models", help="Trained models (for their learning curves)."),
) -> None:
    """Rebuild the evaluation report from saved results, without retraining.

    With no argument: the combined report of everything under --reports, REPORTS/index.html (HTML) and
    REPORTS/README.md (the same in Markdown), learning curves in REPORTS/learning_curves/, and each
    evaluation folder's own report.md and plots. With RESULTS: only that folder's report.md and plots.
    """
    if results is not None:
        from pipeline.evaluation import write_report

        if not (results / "results.csv").is_file():
            typer.secho(f"error: {results} holds no results.csv; run `knbc evaluate` first", fg="red", err=True)
            raise typer.Exit(2)
        typer.echo(f"wrote {write_report(results)}")
        return
    from pipeline.evaluation.summary import write_summary

    if not reports.is_dir():
        typer.secho(f"error: {reports} is not a folder; `knbc evaluate --out {reports}/theme-cv5` (or "
                    "`make evaluate`) writes results there", fg="red", err=True)
        raise typer.Exit(2)
    summary = write_summary(reports, models)
    for line in summary.missing:
        typer.secho(f"missing: {line}", fg="yellow", err=True)
    typer.echo(f"wrote {summary.html} and {summary.markdown}")


@app.command("train-generator")
def train_generator_command(
    task: str = typer.Option(..., help="keywords (keywords → sentence) | continuation (sentence → next) | lm"),
    out: Path = typer.Option(..., "--out", help="Folder for the generator (generator.json, model.pt, metrics.json)."),
    seed: int = typer.Option(0, help="Random seed."),
    max_epochs: int = typer.Option(20, help="Most epochs."),
    patience: int = typer.Option(2, help="Epochs without a better dev log-likelihood before stopping."),
    attention: str = typer.Option("additive", help="Seq2Seq attention: additive | multiplicative | none."),
    copy: bool = typer.Option(True, help="Seq2Seq copy (pointer) mechanism (needs attention)."),
    hidden_size: int = typer.Option(256, help="Seq2Seq hidden size."),
    quiet: bool = typer.Option(False, "--quiet", help="No progress bars."),
) -> None:
    """Train a generator on the shipped article split (best epoch on dev) and save it."""
    from pipeline.generation.tasks import TASKS, train_task
    from pipeline.generation.train import GenerationSettings, Seq2SeqOptions

    if task not in TASKS:
        typer.secho(f"error: unknown task {task!r}; expected one of {list(TASKS)}", fg="red", err=True)
        raise typer.Exit(2)
    options = Seq2SeqOptions(hidden_size=hidden_size, attention=attention, copy=copy and attention != "none")
    settings = GenerationSettings(max_epochs=max_epochs, patience=patience, seed=seed,
                                  batch_size=16 if task == "lm" else 64)
    metrics = train_task(task, out, seq2seq_options=options, settings=settings, progress=not quiet)
    typer.echo(f"best epoch {metrics['best_epoch']}: dev perplexity {metrics['dev']['dev_perplexity']:.2f} "
               f"({metrics['train_seconds']:.0f} s); saved {out}")


@app.command("evaluate-generation")
def evaluate_generation_command(
    out: Path = typer.Option(Path("reports/generation"), "--out", help="Folder for results.json, report.md, heatmaps."),
    keywords_model: Path = typer.Option(Path("models/generator-keywords"), help="keywords → sentence, attention."),
    no_attention_model: Path = typer.Option(Path("models/generator-keywords-noattn"), help="The same, no attention."),
    continuation_model: Path = typer.Option(Path("models/generator-continuation"), help="continuation model."),
    lm_model: Path = typer.Option(Path("models/lm"), help="LSTM language model."),
) -> None:
    """Score the generators and their baselines on the held-out articles; write the report."""
    from pipeline.evaluation.generation import evaluate_generation

    with user_errors():
        report = evaluate_generation(out, keywords_model, no_attention_model, continuation_model, lm_model)
    typer.echo(f"wrote {report}")


def input_lines(texts: Optional[list[str]]) -> Iterator[tuple[int, str, Optional[str]]]:
    """``(number, text, None)`` for each of ``texts`` (else each line of stdin, read as bytes, lazily), or
    ``(number, text with bad bytes escaped, reason)`` for one that is not UTF-8, so that one bad line
    costs that line only."""
    import sys

    if texts:
        raw = ((number, text.encode("utf-8", "surrogateescape" if _escaped_bytes(text) else "surrogatepass"))
               for number, text in enumerate(texts, start=1))
    else:
        raw = ((number, line.rstrip(b"\n").removesuffix(b"\r")) for number, line in enumerate(sys.stdin.buffer, start=1))
    for number, data in raw:
        try:
            yield number, data.decode("utf-8"), None
        except UnicodeDecodeError as err:
            yield number, data.decode("utf-8", "backslashreplace"), f"invalid UTF-8 at byte {err.start}"


def _escaped_bytes(text: str) -> bool:
    """Whether ``text`` holds only the surrogates that stand for undecodable bytes (as in ``sys.argv``)."""
    return all("\udc80" <= ch <= "\udcff" for ch in text if "\ud800" <= ch <= "\udfff")


def _echo_bad_line(number: int, text: str, problem: str, outcome: str) -> bool:
    """Print the JSON error line of an input that cannot be read; True (an input was bad)."""
    typer.echo(json.dumps({"line": number, "error": f"{problem}; {outcome}", "input": text}, ensure_ascii=False))
    return True


def check_theme(theme: Optional[str]) -> None:
    """Raise :class:`UsageError` unless ``theme`` is None or one of the four KNBC themes."""
    from pipeline.generation.data import THEME_IDS

    if theme is not None and theme not in THEME_IDS:
        raise UsageError(f"unknown theme {theme!r}; expected one of {', '.join(THEME_IDS)}")


@app.command("generate")
def generate_command(
    texts: Optional[list[str]] = typer.Argument(None, help="Inputs (default: one per line on stdin); "
                                               "keywords for a keywords model, a sentence for continuation, a prompt for the LM."),
    model: Path = typer.Option(None, "--model", help="A generator folder (default: models/generator-keywords)."),
    method: str = typer.Option("beam", help="greedy | beam | sample"),
    beam_size: int = typer.Option(4, help="Beam size (beam search)."),
    max_length: int = typer.Option(60, help="Most tokens to generate (1..200)."),
    length_penalty: float = typer.Option(0.6, help="GNMT length penalty alpha (beam search)."),
    temperature: float = typer.Option(1.0, help="Sampling temperature."),
    top_k: int = typer.Option(0, help="Sample from the k best tokens (0: all)."),
    top_p: float = typer.Option(1.0, help="Sample from the smallest set with this much probability."),
    seed: int = typer.Option(0, help="Sampling seed (same seed, same text)."),
    theme: Optional[str] = typer.Option(None, help="Theme for the LM / continuation: 携帯電話 | 京都観光 | スポーツ | グルメ."),
    input_file: Optional[Path] = typer.Option(None, "--file", help="Read inputs from this UTF-8 file, one per line."),
) -> None:
    """Generate text with a trained generator; prints JSON lines {"input", "generated", ...}; an input line that
    is not UTF-8 gets {"line", "error", "input"} instead, and the exit status is then 1."""
    import warnings

    from pipeline.components.generator import continuation_tokens
    from pipeline.generation.data import keywords
    from pipeline.generation.generator import Decoding, LanguageModelGenerator, load_generator
    from pipeline.ginza import blank_japanese
    from pipeline.loading import set_torch_threads
    from pipeline.resources import shipped_path

    decoding = Decoding(method, beam_size, max_length, length_penalty, temperature, top_k, top_p, seed)
    with user_errors():
        decoding.check()
        check_theme(theme)
        set_torch_threads()  # as pipeline.load(): one thread unless KNBC_TORCH_THREADS says otherwise
        generator = load_generator(model or shipped_path("models/generator-keywords"))
    tokenizer = blank_japanese().tokenizer
    if input_file is not None:
        with user_errors(OSError, UnicodeDecodeError):
            lines = enumerate(input_file.read_text(encoding="utf-8").splitlines(), start=1)
        inputs = ((number, text, None) for number, text in lines)
    else:
        inputs = input_lines(texts)
    bad = False
    for number, text, problem in inputs:
        if problem is not None:
            bad = _echo_bad_line(number, text, problem, "nothing generated")
            continue
        doc = tokenizer(text)
        tokens = [t.text for t in doc if not t.is_space]
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            if isinstance(generator, LanguageModelGenerator):
                result = generator.generate(tokens, theme or "京都観光", decoding)
            elif generator.task == "keywords":
                source = keywords(doc)
                result = generator.generate(source, decoding) if source else None
            else:
                result = generator.generate(continuation_tokens(tokens, theme, generator.options.max_source), decoding)
        record = {"input": text, "generated": result.text if result else ""}
        if result is None:
            record["note"] = "no content words to generate from"
        if caught:
            record["note"] = str(caught[0].message)
        typer.echo(json.dumps(record, ensure_ascii=False))
    if bad:
        raise typer.Exit(1)


@app.command("similar")
def similar_command(
    word: str = typer.Argument(..., help="A word (looked up by its text, then its lemma, then its normalized form)."),
    top: int = typer.Option(10, "--top", help="How many nearest words."),
) -> None:
    """The words nearest to WORD in ja_ginza's vectors, by cosine: one "word<TAB>score" line each, best first."""
    from pipeline.components.vectors import nearest_words

    with user_errors():
        neighbours = nearest_words().similar(word, top)
    for neighbour, score in neighbours:
        typer.echo(f"{neighbour}\t{score:.2f}")


@app.command("classify")
def classify_command(
    texts: Optional[list[str]] = typer.Argument(None, help="Texts to classify (default: one per line on stdin)."),
    model: Path = typer.Option(None, "--model", help="Pipeline folder (default: models/knbc)."),
) -> None:
    """Print each text's labels and scores as a JSON line: {"text", "theme", "sentiment", "cats"}; an input
    line that is not UTF-8 gets {"line", "error", "input"} instead, and the exit status is then 1."""
    from pipeline.loading import DEFAULT_PIPELINE, load

    with user_errors():
        nlp = load(model or DEFAULT_PIPELINE)
    classifiers = [name for name, pipe in nlp.pipeline if hasattr(pipe, "labels")]
    bad = False
    inputs = ((text if problem is None else "", (number, text, problem)) for number, text, problem in input_lines(texts))
    for doc, (number, text, problem) in nlp.pipe(inputs, as_tuples=True,
                                                 disable=[name for name in nlp.pipe_names if name not in classifiers]):
        if problem is not None:
            bad = _echo_bad_line(number, text, problem, "not classified")
            continue
        record = {"text": doc.text}
        for name in classifiers:
            labels = nlp.get_pipe(name).labels
            record[name] = max(labels, key=lambda label: doc.cats[label]) if len(doc) else None  # "" has no label
        record["cats"] = {label: round(score, 4) for label, score in doc.cats.items()}
        typer.echo(json.dumps(record, ensure_ascii=False))
    if bad:
        raise typer.Exit(1)


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
        model=str(model or DEFAULT_PIPELINE), tokens=tokens, generate=generate, batch_size=batch_size,
        torch_threads=torch_threads,
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


def check_benchmark_generator(path: Path) -> None:
    """Raise :class:`UsageError` unless ``path`` holds a Seq2Seq generator (whose decoding speed is measured)."""
    from pipeline.generation.generator import LanguageModelGenerator, load_generator

    if isinstance(load_generator(path), LanguageModelGenerator):
        raise UsageError(f"{path}: decoding speed is measured for Seq2Seq generators, not language models")


@app.command("benchmark")
def benchmark_command(
    model: Path = typer.Option(None, "--model", help="Pipeline folder (default: models/knbc)."),
    out: Optional[Path] = typer.Option(None, "--out", help="Also write the results to this JSON file."),
    repeats: int = typer.Option(5, help="Timed runs of each pipeline, taken in turns; the best counts."),
    generator: Optional[Path] = typer.Option(None, "--generator", help="Instead: decoding speed of this generator."),
    batch: bool = typer.Option(False, "--process", help="Instead: documents/s of `knbc process` for each engine."),
    n_process: int = typer.Option(2, "--n-process", help="Workers for the multi-process and Dask runs (--process)."),
    busy: bool = typer.Option(False, "--busy", help="Also measure latency while other processes burn the CPU."),
    busy_processes: int = typer.Option(1, "--busy-processes", help="How many CPU-burning processes --busy starts."),
) -> None:
    """Sentences/s of the pipeline pipeline.load() gives (nlp.pipe, default settings) against its tokenizer alone
    on the KNBC sentences, latency (idle, and with --busy under load), memory; or, with --generator, greedy and
    beam-4 decoding speed; or, with --process, `knbc process` per engine."""
    from pipeline.benchmark import benchmark, generation_benchmark, process_benchmark
    from pipeline.loading import DEFAULT_PIPELINE

    if generator and not batch:
        with user_errors():
            check_benchmark_generator(generator)
    with user_errors():
        if batch:
            results = process_benchmark(model or DEFAULT_PIPELINE, n_process=n_process)
        elif generator:
            results = generation_benchmark(generator)
        else:
            results = benchmark(model or DEFAULT_PIPELINE, repeats=repeats, busy=busy_processes if busy else 0)
    for key, value in results.items():
        typer.echo(f"{key:>28}: {value}")
    if out:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(results, ensure_ascii=False, indent=2), encoding="utf-8")


def main() -> None:
    """Entry point for ``python -m pipeline.cli``."""
    app()


if __name__ == "__main__":
    main()
