"""``knbc pretrain``: the bidirectional LM on the livedoor news text (or a text file), resumable."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from pipeline.cli.common import app, user_errors


@app.command("pretrain")
def pretrain_command(
    checkpoints: Path = typer.Option(..., "--checkpoints", help="Folder for data.npz, checkpoint.pt and log.jsonl "
                                     "(keep it outside the repository); a run there resumes where it stopped."),
    out: Optional[Path] = typer.Option(None, "--out", help="Where to export the model (bilm.json + fp16 bilm.pt)."),
    text: Optional[Path] = typer.Option(None, "--text", help="A UTF-8 file, one sentence per line "
                                        "(default: the clean sentences of the shipped livedoor corpus)."),
    hidden_size: int = typer.Option(256, min=8), layers: int = typer.Option(1, min=1),
    trainable_dim: int = typer.Option(64, min=0), dropout: float = typer.Option(0.1, min=0.0, max=0.9),
    vocab_size: int = typer.Option(30000, min=16), min_count: int = typer.Option(3, min=1),
    epochs: float = typer.Option(6.0, min=0.0), batch_size: int = typer.Option(32, min=1),
    bptt: int = typer.Option(35, min=2), learn_rate: float = typer.Option(2e-3, min=0.0),
    checkpoint_minutes: float = typer.Option(5.0, min=0.1),
    max_minutes: Optional[float] = typer.Option(None, help="Stop this call after this many minutes (resume later)."),
    max_steps: Optional[int] = typer.Option(None, help="Stop this call after this many steps."),
    seed: int = typer.Option(0),
    quiet: bool = typer.Option(False, "--quiet"),
) -> None:
    """Pretrain a forward + backward LSTM LM (ELMo-style, adaptive softmax) with resumable checkpoints."""
    from pipeline.models.pretrained_lm import BiLMOptions
    from pipeline.training.pretrain import PretrainSettings, pretrain, read_sentences

    with user_errors():
        sentences, name = read_sentences(text)
        options = BiLMOptions(hidden_size=hidden_size, layers=layers, trainable_dim=trainable_dim, dropout=dropout,
                              vocab_size=vocab_size, min_count=min_count)
        settings = PretrainSettings(epochs=epochs, batch_size=batch_size, bptt=bptt, learn_rate=learn_rate,
                                    checkpoint_minutes=checkpoint_minutes, seed=seed)
        record = pretrain(sentences, checkpoints, out, options, settings, max_minutes=max_minutes,
                          max_steps=max_steps, progress=not quiet, data_name=name)
    typer.echo(" ".join(f"{k}={v}" for k, v in record.items()))


@app.command("evaluate-lm")
def evaluate_lm_command(
    pretrained: Path = typer.Option(..., "--pretrained", help="A model folder `knbc pretrain --out` wrote."),
    out: Path = typer.Option(Path("reports/language-models"), "--out", help="Folder for results.json."),
    generator: Optional[Path] = typer.Option(None, "--save-generator",
                                             help="Also save the fine-tuned LM as a continuation generator here, "
                                                  "and compare it with --seq2seq and a retrieval baseline."),
    seq2seq: Path = typer.Option(Path("models/generator-continuation"), "--seq2seq",
                                 help="The Seq2Seq continuation model to compare with."),
    max_epochs: int = typer.Option(30, min=1), patience: int = typer.Option(3, min=0),
    learn_rate: float = typer.Option(1e-3, min=0.0),
    quiet: bool = typer.Option(False, "--quiet"),
) -> None:
    """Perplexity on the KNBC test articles over the pretrained model's vocabulary: pretrained as it is,
    fine-tuned on the KNBC training articles, the same network on KNBC alone, and Kneser-Ney 3-gram;
    with --save-generator, continuation (the next sentence) against the Seq2Seq model and retrieval."""
    import json

    from pipeline.evaluation.language_models import compare_continuation, compare_language_models
    from pipeline.training.lm_finetune import FinetuneSettings

    with user_errors():
        settings = FinetuneSettings(max_epochs=max_epochs, patience=patience, learn_rate=learn_rate)
        results = compare_language_models(pretrained, None, settings, progress=not quiet, save_generator=generator)
        if generator is not None:
            results["continuation"] = compare_continuation(generator, seq2seq)
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(results, ensure_ascii=False, indent=2), encoding="utf-8")
    for name, row in results.items():
        if isinstance(row, dict) and "test" in row:
            typer.echo(f"{name}: " + ", ".join(f"{d} {s['perplexity']:.1f}" for d, s in row["test"].items()))
    for system, row in results.get("continuation", {}).get("rows", {}).items():
        typer.echo(f"{system}: chrF {row['chrf']:.1f}, repetition {row['repetition']:.3f}"
                   + (f", perplexity {row['perplexity']:.1f}" if "perplexity" in row else ""))
    typer.echo(f"wrote {out / 'results.json'}")
