"""``knbc train``, ``knbc assemble``, ``knbc train-generator``: thin commands over :mod:`pipeline.training`."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer


from pipeline.cli.common import app, user_errors


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
    from pipeline.training.generation import GenerationSettings, Seq2SeqOptions
    from pipeline.training.generation_tasks import TASKS, train_task

    if task not in TASKS:
        typer.secho(f"error: unknown task {task!r}; expected one of {list(TASKS)}", fg="red", err=True)
        raise typer.Exit(2)
    options = Seq2SeqOptions(hidden_size=hidden_size, attention=attention, copy=copy and attention != "none")
    settings = GenerationSettings(max_epochs=max_epochs, patience=patience, seed=seed,
                                  batch_size=16 if task == "lm" else 64)
    metrics = train_task(task, out, seq2seq_options=options, settings=settings, progress=not quiet)
    typer.echo(f"best epoch {metrics['best_epoch']}: dev perplexity {metrics['dev']['dev_perplexity']:.2f} "
               f"({metrics['train_seconds']:.0f} s); saved {out}")
