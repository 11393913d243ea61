"""``knbc classify``, ``knbc generate``, ``knbc similar``: :mod:`pipeline.api` on texts given or read from stdin."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Optional

import typer

from pipeline.cli.common import app, user_errors


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


@app.command("generate")
def generate_command(
    texts: Optional[list[str]] = typer.Argument(None, help="Inputs (default: one per line on stdin); "
                                               "keywords for a keywords model, a sentence for continuation, a prompt for the LM."),
    model: Path = typer.Option(None, "--model", help="A generator folder (default: models/generator-keywords)."),
    method: Optional[str] = typer.Option(None, help="greedy | beam | sample [default: the model's tuned decoding, "
                                                   "else beam]"),
    beam_size: Optional[int] = typer.Option(None, help="Beam size (beam search) [default: the model's, else 4]."),
    max_length: Optional[int] = typer.Option(None, help="Most tokens to generate (1..200) [default: 60]."),
    length_penalty: Optional[float] = typer.Option(None, help="GNMT length penalty alpha (beam search) "
                                                              "[default: the model's, else 0.6]."),
    temperature: Optional[float] = typer.Option(None, help="Sampling temperature [default: 1.0]."),
    top_k: Optional[int] = typer.Option(None, help="Sample from the k best tokens (0: all) [default: 0]."),
    top_p: Optional[float] = typer.Option(None, help="Sample from the smallest set with this much probability "
                                                     "[default: 1.0]."),
    seed: Optional[int] = typer.Option(None, help="Sampling seed (same seed, same text) [default: 0]."),
    no_repeat_ngram: Optional[int] = typer.Option(None, help="Never generate the same n-gram twice (0: no blocking) "
                                                            "[default: the model's, else 2, measured best for "
                                                            "keywords → sentence, see the README]."),
    theme: Optional[str] = typer.Option(None, help="Theme for the LM / continuation: 携帯電話 | 京都観光 | スポーツ | グルメ."),
    input_file: Optional[Path] = typer.Option(None, "--file", help="Read inputs from this UTF-8 file, one per line."),
) -> None:
    """Generate text with a trained generator; prints JSON lines {"input", "generated", ...}; an input line that
    is not UTF-8 gets {"line", "error", "input"} instead, and the exit status is then 1."""
    from pipeline.api import TextGenerator

    given = {"method": method, "beam_size": beam_size, "max_length": max_length, "length_penalty": length_penalty,
             "temperature": temperature, "top_k": top_k, "top_p": top_p, "seed": seed,
             "no_repeat_ngram": no_repeat_ngram}
    with user_errors():
        generator = TextGenerator(model, theme, overrides={k: v for k, v in given.items() if v is not None})
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
        typer.echo(json.dumps(generator(text), ensure_ascii=False))
    if bad:
        raise typer.Exit(1)


@app.command("similar")
def similar_command(
    word: str = typer.Argument(..., help="A word (looked up by its text, then its lemma, then its normalized form)."),
    top: int = typer.Option(10, "--top", help="How many nearest words."),
) -> None:
    """The words nearest to WORD in ja_ginza's vectors, by cosine: one "word<TAB>score" line each, best first."""
    from pipeline.api import similar

    with user_errors():
        neighbours = similar(word, top)
    for neighbour, score in neighbours:
        typer.echo(f"{neighbour}\t{score:.2f}")


@app.command("classify")
def classify_command(
    texts: Optional[list[str]] = typer.Argument(None, help="Texts to classify (default: one per line on stdin)."),
    model: Path = typer.Option(None, "--model", help="Pipeline folder (default: models/knbc)."),
) -> None:
    """Print each text's labels and scores as a JSON line: {"text", "theme", "sentiment", "cats"}; an input
    line that is not UTF-8 gets {"line", "error", "input"} instead, and the exit status is then 1."""
    from pipeline.api import classify_pipe
    from pipeline.loading import DEFAULT_PIPELINE, load

    with user_errors():
        nlp = load(model or DEFAULT_PIPELINE)
    bad = False
    inputs = ((text if problem is None else "", (number, text, problem)) for number, text, problem in input_lines(texts))
    for record, (number, text, problem) in classify_pipe(nlp, inputs):
        if problem is not None:
            bad = _echo_bad_line(number, text, problem, "not classified")
            continue
        typer.echo(json.dumps(record, ensure_ascii=False))
    if bad:
        raise typer.Exit(1)


@app.command("tag")
def tag_command(
    texts: Optional[list[str]] = typer.Argument(None, help="Texts to tag (default: one per line on stdin)."),
    models: Optional[list[Path]] = typer.Option(None, "--model", help="Pipeline folder with span taggers, repeatable "
                                                "(default: models/knbc; e.g. --model models/ner --model models/reputation)."),
) -> None:
    """Print each text's spans as a JSON line: {"text", TAGGER: [{"start", "end", "label", "text"}, ...]} with one
    key per span tagger (ner: named entities, reputation: 評判 expressions), character offsets; an input line that
    is not UTF-8 gets {"line", "error", "input"} instead, and the exit status is then 1."""
    from pipeline.errors import ModelError
    from pipeline.loading import DEFAULT_PIPELINE, doc_spans, load, tagger_names

    pipelines = []
    with user_errors():
        for path in models or [DEFAULT_PIPELINE]:
            nlp = load(path)
            taggers = {name: nlp.get_pipe(name).spans_key for name in tagger_names(nlp)}
            if not taggers:
                raise ModelError(f"{path} has no span tagger (knbc_tagger); give --model models/ner or "
                                 "--model models/reputation")
            nlp.select_pipes(enable=list(taggers))
            pipelines.append((nlp, taggers))
    bad = False
    for number, text, problem in input_lines(texts):
        if problem is not None:
            bad = _echo_bad_line(number, text, problem, "not tagged")
            continue
        record: dict = {"text": text}
        for nlp, taggers in pipelines:
            record.update(doc_spans(nlp(text), taggers))
        typer.echo(json.dumps(record, ensure_ascii=False))
    if bad:
        raise typer.Exit(1)
