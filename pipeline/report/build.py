"""Writing the reports: each comparison's ``report.md`` and plots (:func:`write_report`), the generation
report (:func:`write_generation_report`) and the combined ``reports/index.html`` + ``reports/README.md``
(:func:`write_summary`), which also shows the sentence splitter, the post classifier and the span taggers
from their ``results.json``. Each is a :class:`~pipeline.report.blocks.Document` of sections
(:mod:`pipeline.report.sections`) rendered by the one renderer; numbers come from the saved files only."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pipeline.evaluation.results import Comparison, load_comparison
from pipeline.report import registry
from pipeline.report.blocks import Document, Items, Section, Text, render_html, render_markdown
from pipeline.report.inputs import curve_group, displacy_fragments, load_comparisons, read_json, training_history
from pipeline.report.plots import (
    plot_attention,
    plot_confusion,
    plot_learning_curves,
    plot_per_class_f1,
    plot_sentence_attention,
)
from pipeline.report.sections import (
    CURVES_DIR,
    PER_CLASS_PNG,
    REPORT_MD,
    comparison_sections,
    comparison_title,
    confusion_png,
    curves_section,
    dataset_section,
    evaluation_section,
    generation_blocks,
    generation_section,
    language_model_section,
    mistakes_section,
    overview_section,
    posts_section,
    speed_section,
    splitter_section,
    taggers_section,
)
from pipeline.report.tables import featured_models

SUMMARY_HTML = "index.html"
SUMMARY_MD = "README.md"
TITLE = "KNBC 評価レポート / evaluation report"
GENERATION_TITLE = "Generation on held-out articles (the shared test split)"
GENERATION_RESULTS = "results.json"
RESULTS_JSON = "results.json"
POSTS_ATTENTION = "attention.png"  # what knbc evaluate-posts draws, and the report when it is missing
RENDERINGS_SHOWN = 2  # displaCy renderings per tagger task: one test sentence, gold then predicted


def write_report(results_dir: str | Path, n_examples: int = 10) -> Path:
    """Write ``report.md``, ``per_class_f1.png`` and ``confusion_<model>.png`` into ``results_dir``
    (a folder written by :func:`~pipeline.evaluation.compare.compare`); return the report's path.

    ``n_examples``: how many highest-confidence wrong predictions to list per featured model.
    """
    return write_comparison_report(load_comparison(results_dir), n_examples)


def write_comparison_report(comparison: Comparison, n_examples: int = 10) -> Path:
    """:func:`write_report` for a comparison already loaded (into its own folder)."""
    config, directory = comparison.config, comparison.directory
    labels = config["labels"]
    plot_per_class_f1(comparison.results, labels, directory / PER_CLASS_PNG)
    for model in featured_models(comparison.results):
        plot_confusion(comparison.confusion(model), labels, f"{model}: {config['task']}",
                       directory / confusion_png(model))
    document = Document(comparison_title(comparison), comparison_sections(comparison, n_examples))
    path = directory / REPORT_MD
    path.write_text(render_markdown(document), encoding="utf-8")
    return path


def _heatmaps(folder: Path) -> list[str]:
    return [p.name for p in sorted(folder.glob("attention_*.png"), key=lambda p: (len(p.name), p.name))]


def write_generation_report(folder: str | Path) -> Path:
    """Write ``report.md`` (and the attention heatmaps of ``results.json``'s ``attention`` entries, when it
    has them) into a folder written by :func:`~pipeline.evaluation.generation.evaluate_generation`;
    return the report's path. Raises ``FileNotFoundError`` when the folder has no ``results.json``."""
    folder = Path(folder)
    results = read_json(folder / GENERATION_RESULTS)
    for i, entry in enumerate(results.get("attention", [])):
        plot_attention(entry["source"], entry["target"], entry["weights"], folder / f"attention_{i}.png",
                       entry["title"])
    section = Section(registry.generation().title, "generation", generation_blocks(results, _heatmaps(folder), ""))
    path = folder / REPORT_MD
    path.write_text(render_markdown(Document(GENERATION_TITLE, [section])), encoding="utf-8")
    return path


@dataclass
class Summary:
    """What :func:`write_summary` wrote, and the inputs it did not find (one line each)."""

    html: Path
    markdown: Path
    missing: list[str]


def write_summary(
    reports_dir: str | Path = "reports",
    models_dir: str | Path = "models",
    corpus=None,
    n_examples: int = 5,
    rerender: bool = True,
) -> Summary:
    """Gather every saved result under ``reports_dir`` (and the training logs under ``models_dir``) into
    ``reports_dir/index.html`` and ``reports_dir/README.md``; plot the learning curves into
    ``reports_dir/learning_curves/``. What is read comes from :mod:`pipeline.report.registry` (and what
    is found beside it on disk); an absent input gets a notice naming the command that makes it.

    ``corpus``: the corpus for the statistics (default: the shipped one). ``n_examples``: wrong
    predictions listed per featured model. ``rerender``: also rebuild each evaluation folder's own
    ``report.md`` and plots, and the generation report. Raises ``FileNotFoundError`` when
    ``reports_dir`` is not a folder.
    """
    reports, models = Path(reports_dir), Path(models_dir)
    if not reports.is_dir():
        raise FileNotFoundError(f"{reports} is not a folder")
    missing: list[str] = []
    evaluations = registry.evaluations(reports)
    comparisons = load_comparisons(evaluations, reports, missing)
    generation = registry.generation()
    generation_folder = generation.location(reports)
    generation_results = None
    if (generation_folder / GENERATION_RESULTS).is_file():
        generation_results = read_json(generation_folder / GENERATION_RESULTS)
        if rerender:
            write_generation_report(generation_folder)
    else:
        missing.append(f"{(generation_folder / GENERATION_RESULTS).as_posix()}: not found")
    if rerender:
        for comparison in comparisons.values():
            if comparison is not None:
                write_comparison_report(comparison)
    sections = [
        overview_section(comparisons),
        dataset_section(corpus, missing),
        *(evaluation_section(a, comparisons[a.name], reports) for a in evaluations),
        _curves(models, reports, missing),
        generation_section(generation, generation_results, _heatmaps(generation_folder), reports),
        language_model_section(registry.language_models(), _language_models(reports, missing), reports),
        splitter_section(registry.sentences(), _results(registry.sentences(), reports, missing), reports),
        _posts(reports, missing, rerender),
        _taggers(reports, missing),
        speed_section(_benchmarks(reports, missing), reports),
        mistakes_section(comparisons, n_examples),
    ]
    intro = Text(
        "Everything here is read from saved files: the evaluation folders beside this page, "
        f"`{models.as_posix()}/*/train_log.jsonl` and the corpus; nothing is retrained. "
        "`knbc report` rebuilds it."
    )
    if missing:
        intro = Items([intro.text, *(f"missing: {line}" for line in missing)])
    document = Document(TITLE, sections, intro, contents=True)
    html_path, md_path = reports / SUMMARY_HTML, reports / SUMMARY_MD
    html_path.write_text(render_html(document), encoding="utf-8")
    md_path.write_text(render_markdown(document), encoding="utf-8")
    return Summary(html_path, md_path, missing)


def _language_models(reports: Path, missing: list[str]) -> dict | None:
    return _results(registry.language_models(), reports, missing)


def _results(artefact: registry.Artefact, reports: Path, missing: list[str]) -> dict | None:
    """The artefact's ``results.json`` (None, with a line in ``missing``, when there is none)."""
    path = artefact.location(reports) / RESULTS_JSON
    if not path.is_file():
        missing.append(f"{path.as_posix()}: not found")
        return None
    return read_json(path)


def _posts(reports: Path, missing: list[str], rerender: bool) -> Section:
    """The post classifier's section; its sentence attention plot drawn from ``results.json`` when missing."""
    artefact = registry.posts()
    results = _results(artefact, reports, missing)
    attention = None
    if results is not None and results.get("attention_sample"):
        name = results.get("attention_plot") or POSTS_ATTENTION
        path = artefact.location(reports) / name
        if not path.is_file() and rerender:
            sample = results["attention_sample"]
            plot_sentence_attention(sample["sentences"], sample["attention"], path,
                                    f"{sample['article_id']} ({sample['run']}): gold {sample['gold']}, "
                                    f"predicted {sample['pred']}")
        if path.is_file():
            attention = f"{artefact.name}/{name}"
    return posts_section(artefact, results, attention, reports)


def _taggers(reports: Path, missing: list[str]) -> Section:
    """The span taggers' section, with a displaCy rendering or two of each task (those the results name)."""
    artefact = registry.taggers()
    results = _results(artefact, reports, missing)
    renderings = {}
    for task, name in (results or {}).get("renderings", {}).items():
        path = artefact.location(reports) / name
        if path.is_file():
            renderings[task] = displacy_fragments(path, RENDERINGS_SHOWN)
        else:
            missing.append(f"{path.as_posix()}: not found")
    return taggers_section(artefact, results, renderings, reports)


def _curves(models: Path, reports: Path, missing: list[str]) -> Section:
    """The learning-curves section, its figures drawn into ``reports/learning_curves/``."""
    groups: dict[str, dict] = {}
    absent, titles = [], {}
    for artefact in registry.model_folders(models):
        folder = artefact.location(models=models)
        try:
            history = training_history(folder)
        except (FileNotFoundError, KeyError, ValueError) as err:  # absent, or a log of another format
            missing.append(f"{folder.as_posix()}: no training log" + (
                "" if isinstance(err, FileNotFoundError) else f" that the report reads ({err!r})"))
            absent.append(artefact)
            continue
        groups.setdefault(curve_group(artefact, history[0]), {})[artefact.name] = history
        titles[artefact.name] = artefact.title
    for group, histories in groups.items():
        (reports / CURVES_DIR).mkdir(exist_ok=True)
        plot_learning_curves(histories, titles, reports / CURVES_DIR / f"{group}.png")
    return curves_section(groups, absent, models, reports)


def _benchmarks(reports: Path, missing: list[str]) -> dict:
    found = {}
    for artefact in registry.benchmarks(reports):
        path = artefact.location(reports)
        if path.is_file():
            found[artefact] = read_json(path)
        else:
            missing.append(f"{path.as_posix()}: not found")
            found[artefact] = None
    return found
