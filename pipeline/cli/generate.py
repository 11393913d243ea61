"""``knbc classify``, ``knbc generate``, ``knbc similar``: the trained models on texts given or read from stdin."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Optional

import typer

from pipeline.errors import UsageError

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


def check_theme(theme: Optional[str]) -> None:
    """Raise :class:`UsageError` unless ``theme`` is None or one of the four KNBC themes."""
    from pipeline.corpus.labels import THEME_IDS

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
    from pipeline.ginza import blank_japanese
    from pipeline.loading import set_torch_threads
    from pipeline.models.generator import Decoding, LanguageModelGenerator, load_generator
    from pipeline.models.vocabulary import keywords
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
