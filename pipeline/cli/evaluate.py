"""``knbc evaluate``, ``knbc evaluate-generation``, ``knbc benchmark``, ``knbc evaluate-splitter``: thin commands over :mod:`pipeline.evaluation`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional, Sequence

import typer

from pipeline.errors import UsageError

from pipeline.cli.common import app, user_errors


def check_evaluate_args(task: str, protocol: str, models: Optional[list[str]], runs: Optional[int],
                        known: Sequence[str]) -> None:
    """Raise :class:`UsageError` for a task, protocol, model (not in ``known``) or run count that
    ``knbc evaluate`` does not know, before anything is trained."""
    from pipeline.evaluation.protocols import PROTOCOLS
    from pipeline.training.data import TASKS

    if task not in TASKS:
        raise UsageError(f"unknown task {task!r}; expected one of {sorted(TASKS)}")
    if protocol not in PROTOCOLS:
        raise UsageError(f"unknown protocol {protocol!r}; expected one of {list(PROTOCOLS)}")
    unknown = [name for name in models or [] if name not in known]
    if unknown:
        raise UsageError(f"unknown model(s) {unknown}; expected some of {list(known)}")
    if runs is not None and runs < 1:
        raise UsageError(f"--runs must be at least 1, not {runs}")


@app.command("evaluate")
def evaluate_command(
    task: str = typer.Option("theme", help="theme | sentiment"),
    protocol: str = typer.Option("cv5", help="cv5 (5 article-grouped folds) | peer (random 10%, 5 seeds) | split"),
    out: Optional[Path] = typer.Option(None, "--out", help="Results folder (default: out/eval/TASK-PROTOCOL)."),
    models: Optional[str] = typer.Option(None, help="Comma-separated subset, e.g. majority,spacy_bow,bilstm_attention."),
    runs: Optional[int] = typer.Option(None, help="Only the first N folds / seeds."),
    variants: Optional[Path] = typer.Option(None, "--variants", help="Config of the training settings and recurrent "
                                            "variants (default: models/configs/variants.cfg)."),
    settings: Optional[list[str]] = typer.Option(None, "--set", help="A setting of the variants config, SECTION.KEY="
                                                 "VALUE (training.max_epochs=3, model.hidden_size=32, "
                                                 "variants.gru.layers=2; JSON values), repeatable."),
    train_fraction: float = typer.Option(1.0, "--train-fraction", help="Train on this fraction of each run's training "
                                         "articles (a seeded subsample per theme, the same for every model; "
                                         "dev and test unchanged): a learning curve's point."),
    threads: int = typer.Option(1, help="torch and BLAS threads. With 1 (as in reports/) a rerun gives the same numbers; "
                                        "other counts sum in another order, and a model may stop at another epoch."),
) -> None:
    """Train and score baselines, spaCy's textcats and our recurrent variants in one run; write the report."""
    import torch
    from threadpoolctl import threadpool_limits

    from pipeline.evaluation import compare
    from pipeline.evaluation.models import load_compared_models
    from pipeline.report.build import write_report
    from pipeline.training.settings import parse_overrides

    torch.set_num_threads(threads)
    threadpool_limits(threads)  # numpy's BLAS too (spaCy's textcats, TF-IDF + LR)

    out = out or Path("out") / "eval" / f"{task}-{protocol}"
    names = models.split(",") if models else None
    with user_errors():
        compared = load_compared_models(variants, parse_overrides(settings or []))
        check_evaluate_args(task, protocol, names, runs, compared.names)
        if not 0.0 < train_fraction <= 1.0:
            raise UsageError(f"--train-fraction must be in (0, 1], not {train_fraction}")
        compare(task, protocol, out, models=names, runs=runs, compared=compared, train_fraction=train_fraction)  # a ValueError here is a bug
    typer.echo(f"wrote {write_report(out)}")


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
    from pipeline.report.build import write_generation_report

    with user_errors():
        evaluate_generation(out, keywords_model, no_attention_model, continuation_model, lm_model)
    typer.echo(f"wrote {write_generation_report(out)}")


def check_benchmark_generator(path: Path) -> None:
    """Raise :class:`UsageError` unless ``path`` holds a Seq2Seq generator (whose decoding speed is measured)."""
    from pipeline.models.generator import load_generator

    if load_generator(path).task == "lm":
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
    from pipeline.evaluation.benchmark import benchmark, generation_benchmark, process_benchmark
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


@app.command("evaluate-posts")
def evaluate_posts_command(
    out: Path = typer.Option(Path("reports/posts"), "--out", help="Folder for results.json, results.md, "
                             "predictions.jsonl.gz and attention.png."),
    runs: Optional[int] = typer.Option(None, help="Only the first RUNS folds (default: all five)."),
    config: Optional[Path] = typer.Option(None, "--config", help="The post classifier's config (default: "
                                          "models/configs/posts.cfg)."),
    settings: Optional[list[str]] = typer.Option(None, "--set", help="A setting of the config, SECTION.KEY=VALUE."),
    quiet: bool = typer.Option(False, "--quiet", help="No per-fold lines."),
) -> None:
    """The post classifier (HAN) against the naive vote and whole-post baselines on the article-grouped 5-fold
    CV, in one run: post accuracy / macro-F1, sentence theme in context, sentence sentiment with context vs
    sentence-only, and the speed of whole posts beside the tokenizer alone."""
    import torch

    from pipeline.evaluation.posts import POSTS_CONFIG, evaluate_posts, results_markdown
    from pipeline.report.plots import plot_sentence_attention
    from pipeline.training.settings import parse_overrides

    torch.set_num_threads(1)
    with user_errors(OSError):
        results = evaluate_posts(out, runs=runs, overrides=parse_overrides(settings or []),
                                 config_path=config or POSTS_CONFIG, progress=not quiet)
    sample = results.get("attention_sample")
    if sample:
        plot_sentence_attention(sample["sentences"], sample["attention"], out / "attention.png",
                                f"{sample['article_id']} ({sample['run']}): gold {sample['gold']}, predicted {sample['pred']}")
        results["attention_plot"] = "attention.png"
        (out / "results.json").write_text(json.dumps(results, ensure_ascii=False, indent=2), encoding="utf-8")
        (out / "results.md").write_text(results_markdown(results), encoding="utf-8")
    han = results["summary"]["han"]
    typer.echo(f"HAN: post accuracy {han['post_accuracy']['mean']:.3f}, sentence theme macro-F1 "
               f"{han['sentence_theme_macro_f1']['mean']:.3f}, sentiment macro-F1 {han['sentiment_macro_f1']['mean']:.3f}; "
               f"speed ratio {results['speed']['ratio']:.2f}; wrote {out}/results.md ({results['seconds'] / 60:.1f} min)")


@app.command("evaluate-splitter")
def evaluate_splitter_command(
    out: Path = typer.Option(Path("reports/sentences"), "--out", help="Results folder: results.json and README.md."),
    speed: bool = typer.Option(True, "--speed/--no-speed", help="Also time nlp.pipe with and without the splitter."),
) -> None:
    """Score the sentence splitter (knbc_sentences) against KNBC's sentence boundaries of whole articles, the
    sentences joined with a line break and with nothing: boundary precision, recall, F1, errors by kind."""
    import torch

    from pipeline.corpus import shipped_corpus
    from pipeline.evaluation.sentences import evaluate_splitter, write_splitter_report

    torch.set_num_threads(1)
    with user_errors():
        results = evaluate_splitter(shipped_corpus(), speed=speed)
        write_splitter_report(results, out)
    for name, v in results["variants"].items():
        typer.echo(f"joined with {name}: precision {v['precision']:.4f} recall {v['recall']:.4f} F1 {v['f1']:.4f} "
                   f"({v['true_positives']} of {v['gold_boundaries']} boundaries found, {v['false_positives']} spurious)")
    typer.echo(f"wrote {out / 'results.json'} and {out / 'README.md'}")


@app.command("evaluate-taggers")
def evaluate_taggers_command(
    out: Path = typer.Option(Path("reports/taggers"), "--out", help="Results folder (results.json, results.md, cache/)."),
    protocol: str = typer.Option("cv5", help="cv5 (5 article-grouped folds) | split (the shipped split, one run)."),
    tasks: str = typer.Option("ner,reputation", help="Comma-separated: ner, reputation."),
    systems: Optional[str] = typer.Option(None, help="Comma-separated subset: bilstm_crf, bilstm_softmax, spacy_ner, "
                                          "spacy_spancat, ginza_zero_shot (default: all of the tasks'); "
                                          "bilstm_crf_elmo (the tagger over the pretrained livedoor BiLM, "
                                          "models/configs/{task}-pretrained.cfg) only when named."),
    runs: Optional[int] = typer.Option(None, help="Only the first N folds."),
    folds: Optional[str] = typer.Option(None, help="Only these runs, comma-separated (fold1,fold3): several processes "
                                        "share the folds, each with its own --out; merge their cache folders."),
    max_epochs: Optional[int] = typer.Option(None, help="Overrides training.max_epochs of the BiLSTM taggers' configs."),
    spacy_max_epochs: int = typer.Option(20, help="Epochs of spaCy's ner / spancat (spacy train; model-best kept)."),
    train_fraction: float = typer.Option(1.0, "--train-fraction", help="Train on this fraction of each run's training "
                                         "articles (a seeded subsample per theme, the same for every model; "
                                         "dev and test unchanged): a learning curve's point."),
    threads: int = typer.Option(1, help="torch and BLAS threads."),
    spacy_interrupted: bool = typer.Option(False, "--spacy-interrupted", help="Do not train spaCy's baselines: tag "
                                           "with the model-best an interrupted run left in OUT/cache (said so in "
                                           "the results)."),
) -> None:
    """Train and score the BiLSTM-CRF taggers, the softmax ablation, spaCy's ner / spancat and GiNZA's zero-shot
    NER on the same folds; span P/R/F exact and overlap, per type, polarity accuracy, common errors."""
    import torch
    from threadpoolctl import threadpool_limits

    from pipeline.evaluation.taggers import evaluate_taggers

    torch.set_num_threads(threads)
    threadpool_limits(threads)
    with user_errors():
        evaluate_taggers(out, protocol, [t for t in tasks.split(",") if t],
                         [s for s in systems.split(",") if s] if systems else None, runs, max_epochs,
                         spacy_max_epochs, log=typer.echo, spacy_interrupted=spacy_interrupted,
                         folds=[f for f in folds.split(",") if f] if folds else None, train_fraction=train_fraction)
    typer.echo(f"wrote {out / 'results.json'} and {out / 'results.md'}")
