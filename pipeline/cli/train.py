"""``knbc train``, ``knbc assemble``, ``knbc train-generator``: thin commands over :mod:`pipeline.training`."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer


from pipeline.cli.common import app, user_errors


SET_HELP = "A setting of the config, SECTION.KEY=VALUE (JSON values: -0.5 is a number), repeatable."


@app.command("train")
def train_command(
    config: Path = typer.Argument(..., help="spaCy config of the pipeline to train (see models/configs/): every "
                                  "setting of the model, read from its [training], [knbc] and [components.*.model]."),
    out: Path = typer.Option(..., "--out", help="Folder to save the trained pipeline and metrics.json in."),
    component: Optional[str] = typer.Option(None, help="Component to train (default: the config's only one)."),
    task: Optional[str] = typer.Option(None, help="KNBC task: theme | sentiment | ner | reputation (default: the component's name)."),
    train: Optional[Path] = typer.Option(None, "--train", help="Your training data: .jsonl / .csv (text, label) or .spacy; "
                                 "for a tagger .jsonl ({text, spans: [{start, end, label}]}) or .spacy."),
    dev: Optional[Path] = typer.Option(None, "--dev", help="Your dev data (early stopping), same formats."),
    test: Optional[Path] = typer.Option(None, "--test", help="Your test data, scored once after training."),
    seed: Optional[int] = typer.Option(None, help="Overrides training.seed: same seed and data, same model."),
    max_epochs: Optional[int] = typer.Option(None, help="Overrides training.max_epochs."),
    patience: Optional[int] = typer.Option(None, help="Overrides knbc.patience: epochs without a better dev score."),
    batch_size: Optional[int] = typer.Option(None, help="Overrides training.batcher.size (sentences per update)."),
    learn_rate: Optional[float] = typer.Option(None, help="Overrides training.optimizer.learn_rate (Adam)."),
    grad_clip: Optional[float] = typer.Option(None, help="Overrides training.optimizer.grad_clip (L2 norm)."),
    settings: Optional[list[str]] = typer.Option(None, "--set", help=SET_HELP),
    quiet: bool = typer.Option(False, "--quiet", help="No progress bars."),
) -> None:
    """Train a classifier or a span tagger (knbc_tagger: ner, reputation) on the shipped KNBC split (default) or
    on your own data, with early stopping, with the settings of CONFIG; flags and --set override them, and
    metrics.json records which did."""
    from pipeline.training.settings import flag_overrides, parse_overrides
    from pipeline.training.train import TRAIN_FLAGS, train_from_config

    flags = {"seed": seed, "max_epochs": max_epochs, "patience": patience, "batch_size": batch_size,
             "learn_rate": learn_rate, "grad_clip": grad_clip}
    with user_errors(OSError):
        overrides = {**parse_overrides(settings or []), **flag_overrides(flags, TRAIN_FLAGS)}
        result, metrics = train_from_config(
            config, out, overrides, component=component, task=task, train=train, dev=dev, test=test, progress=not quiet
        )
    key = f"{metrics['component']}_{metrics['settings']['metric']}"
    typer.echo(f"best epoch {result.best_epoch}: dev {key} {result.best_score:.4f} ({result.seconds:.0f} s)")
    if result.refit is not None:
        typer.echo(f"refit: {len(result.refit.history)} epochs afresh on train + dev ({result.refit.seconds:.0f} s); "
                   "the saved model is the refit")
    if metrics["test"]:
        typer.echo(f"test {key} {metrics['test'][key]:.4f}")
    typer.echo(f"saved {out} (metrics.json, train_log.jsonl)")


@app.command("train-posts")
def train_posts_command(
    config: Path = typer.Argument(..., help="The post classifier's config (models/configs/posts.cfg): the network "
                                  "([components.*.model]) and [training] settings."),
    out: Path = typer.Option(..., "--out", help="Folder to save the trained pipeline and metrics.json in."),
    train: Optional[Path] = typer.Option(None, "--train", help="Your training posts: .jsonl, one {\"text\", \"label\"} "
                                         "whole post a line (default: the KNBC articles of the shipped split)."),
    dev: Optional[Path] = typer.Option(None, "--dev", help="Your dev posts (early stopping), same format."),
    test: Optional[Path] = typer.Option(None, "--test", help="Your test posts, scored once after training."),
    settings: Optional[list[str]] = typer.Option(None, "--set", help=SET_HELP),
    quiet: bool = typer.Option(False, "--quiet", help="No per-epoch lines."),
) -> None:
    """Train the hierarchical post classifier (knbc_post_classifier) on the KNBC articles of the shipped split
    (gold sentences) or on your JSONL of whole posts, with early stopping on dev; save it as a pipeline."""
    import torch

    from pipeline.training.posts import train_posts_from_config
    from pipeline.training.settings import parse_overrides

    torch.set_num_threads(1)
    with user_errors(OSError):
        result, metrics = train_posts_from_config(config, out, parse_overrides(settings or []), train=train, dev=dev,
                                                  test=test, progress=not quiet)
    dev_post = metrics["dev"]["post"]["accuracy"]
    typer.echo(f"best epoch {result.best_epoch}: dev post accuracy {dev_post:.4f} ({result.seconds:.0f} s)")
    if metrics["test"]:
        typer.echo(f"test post accuracy {metrics['test']['post']['accuracy']:.4f}, sentence theme macro-F1 "
                   f"{metrics['test']['sentence_theme']['macro_f1']:.4f}")
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
    config: Path = typer.Argument(..., help="The generator's config (models/configs/generator-*.cfg, lm.cfg): its "
                                  "task, [options] (saved in generator.json) and [training] settings."),
    out: Path = typer.Option(..., "--out", help="Folder for the generator (generator.json, model.pt, metrics.json)."),
    seed: Optional[int] = typer.Option(None, help="Overrides training.seed."),
    max_epochs: Optional[int] = typer.Option(None, help="Overrides training.max_epochs."),
    patience: Optional[int] = typer.Option(None, help="Overrides training.patience (epochs without a better dev "
                                           "log-likelihood)."),
    attention: Optional[str] = typer.Option(None, help="Overrides options.attention: additive | multiplicative | none."),
    copy: Optional[bool] = typer.Option(None, "--copy/--no-copy", help="Overrides options.copy (needs attention)."),
    hidden_size: Optional[int] = typer.Option(None, help="Overrides options.hidden_size."),
    settings: Optional[list[str]] = typer.Option(None, "--set", help=SET_HELP),
    quiet: bool = typer.Option(False, "--quiet", help="No progress bars."),
) -> None:
    """Train the generator CONFIG describes on the shipped article split (best epoch on dev) and save it;
    flags and --set override the config, and metrics.json records which did."""
    from pipeline.training.generation_tasks import GENERATOR_FLAGS, train_generator
    from pipeline.training.settings import flag_overrides, parse_overrides

    flags = {"seed": seed, "max_epochs": max_epochs, "patience": patience, "attention": attention, "copy": copy,
             "hidden_size": hidden_size}
    with user_errors():
        overrides = {**parse_overrides(settings or []), **flag_overrides(flags, GENERATOR_FLAGS)}
        metrics = train_generator(config, out, overrides, progress=not quiet)
        if metrics["settings"].get("choose_decoding"):
            from pipeline.evaluation.generation import choose_saved_decoding

            chosen = choose_saved_decoding(out, metrics["task"])
            typer.echo(f"decoding chosen on {chosen['dev_pairs']} dev pairs: {chosen['chosen']}")
    typer.echo(f"best epoch {metrics['best_epoch']}: dev perplexity {metrics['dev']['dev_perplexity']:.2f} "
               f"({metrics['train_seconds']:.0f} s); saved {out}")
