"""One evaluation report a person reads, gathered from the saved results (no retraining):
``reports/index.html`` and the same in Markdown, ``reports/README.md``.

It holds the corpus statistics, every comparison's metric table (mean ± std over runs, the published
KNBC theme results beside ours under the peer protocol), per-class F1 and confusion-matrix plots,
learning curves of every trained model (``models/*/train_log.jsonl``), the generation metrics, attention
heatmaps and sample generations (``reports/generation``), the speed benchmarks (``reports/benchmark*.json``)
and the wrong predictions each featured model makes with the highest confidence. Every evaluation
folder's own ``report.md`` and plots are rebuilt on the way (:func:`write_comparison_report`). An input
that is missing gets a notice naming the command that makes it, instead of its section.

The report is a list of :class:`Section` s made of small blocks (text, table, figure, list, notice),
rendered twice: as Markdown and as one HTML page with inline CSS, images referenced by relative path.
"""

from __future__ import annotations

import html
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import pandas as pd

from pipeline.evaluation.metrics import format_mean_std, mean_std
from pipeline.evaluation.results import RESULTS_CSV, Comparison, load_comparison
from pipeline.report.comparison import (
    FAMILY_NAMES,
    PER_CLASS_PNG,
    PROTOCOLS,
    REPORT_MD,
    confusion_png,
    featured_models,
    japanese_plots,
    markdown_table,
    per_class_table,
    results_notes,
    results_table,
    run_sizes,
    worst_table,
    write_comparison_report,
)

SUMMARY_HTML = "index.html"
SUMMARY_MD = "README.md"
CURVES_DIR = "learning_curves"
TITLE = "KNBC 評価レポート / evaluation report"
TASK_TITLES = {"theme": "テーマ分類 / theme classification", "sentiment": "評判極性 / sentiment classification"}
# the comparisons the project makes (others found in the folder are reported too)
EVALUATIONS = {f"{task}-{protocol}": (task, protocol) for task in TASK_TITLES for protocol in ("cv5", "peer")}
GENERATION_DIR = "generation"
BENCHMARKS = {  # file -> (what it measures, the command that writes it, DIR standing for the reports folder)
    "benchmark.json": ("classification pipeline speed and memory", "knbc benchmark --busy --out DIR/benchmark.json"),
    "benchmark-generation.json": (
        "generation decoding speed",
        "knbc benchmark --generator models/generator-keywords --out DIR/benchmark-generation.json",
    ),
    "benchmark-process.json": ("batch processing (`knbc process`) throughput",
                               "knbc benchmark --process --out DIR/benchmark-process.json"),
}
# models/ folder -> title in the learning-curve plots; the figures group them
CURVE_MODELS = {
    "theme": "テーマ分類 / theme",
    "sentiment": "評判極性 / sentiment",
    "generator-keywords": "キーワード→文 / keywords → sentence",
    "generator-keywords-noattn": "キーワード→文, 注意なし / no attention",
    "generator-continuation": "続きの文 / continuation",
    "lm": "言語モデル / LSTM LM",
}
CURVE_FIGURES = {
    "classifiers": ["theme", "sentiment"],
    "generators": ["generator-keywords", "generator-keywords-noattn", "generator-continuation", "lm"],
}
GENERATION_COLUMNS = {
    "chrf": "chrF",
    "char_bleu": "char BLEU",
    "token_bleu": "token BLEU",
    "distinct_1": "distinct-1",
    "distinct_2": "distinct-2",
    "perplexity": "perplexity",
    "sentences_per_s": "sentences/s",
    "tokens": "tokens",
}
GENERATION_TABLES = {
    "keywords": "keywords → sentence",
    "continuation": "continuation (sentence + theme → next sentence)",
    "language_model": "language models (test perplexity, same tokens, same closed vocabulary)",
}
STATISTICS_COLUMNS = {
    "morphemes": "morphemes (JUMAN)",
    "entities": "named entities",
    "reputations": "評判 expressions",
    "rep_positive": "評判 +",
    "rep_negative": "評判 −",
    "rep_unpolar": "評判 ±0",
}


# ---- the document: sections of blocks, rendered as Markdown and as HTML ----------------------------------


@dataclass
class Text:
    """A paragraph; inline Markdown: `code`, **bold**, *emphasis*, [links](target)."""

    text: str


@dataclass
class Heading:
    """A sub-heading inside a section."""

    text: str


@dataclass
class Table:
    frame: pd.DataFrame
    caption: str = ""


@dataclass
class Figure:
    src: str  # relative to the reports folder
    alt: str
    caption: str = ""
    half: bool = False  # two side by side in the HTML


@dataclass
class Items:
    """A bulleted list (inline Markdown in each item)."""

    items: list[str]


@dataclass
class Notice:
    """Something missing, and how to make it."""

    text: str


Block = Text | Heading | Table | Figure | Items | Notice


@dataclass
class Section:
    title: str
    anchor: str
    blocks: list[Block] = field(default_factory=list)


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
    ``reports_dir/learning_curves/``. Numbers come from the saved files only.

    ``corpus``: the corpus for the statistics (default: the shipped one). ``n_examples``: wrong
    predictions listed per featured model. ``rerender``: also rebuild each evaluation folder's own
    ``report.md`` and plots. Raises ``FileNotFoundError`` when ``reports_dir`` is not a folder.
    """
    reports = Path(reports_dir)
    if not reports.is_dir():
        raise FileNotFoundError(f"{reports} is not a folder")
    models = Path(models_dir)
    missing: list[str] = []
    comparisons = _load_comparisons(reports, missing)
    if rerender:
        for comparison in comparisons.values():
            if comparison is not None:
                write_comparison_report(comparison)
    sections = [
        _overview_section(comparisons),
        _dataset_section(corpus, missing),
        *(_evaluation_section(name, comparison, reports) for name, comparison in comparisons.items()),
        _curves_section(models, reports, missing),
        _generation_section(reports, missing),
        _speed_section(reports, missing),
        _mistakes_section(comparisons, n_examples),
    ]
    intro = Text(
        "Everything here is read from saved files: the evaluation folders beside this page, "
        f"`{models.as_posix()}/*/train_log.jsonl` and the corpus; nothing is retrained. "
        "`knbc report` rebuilds it."
    )
    if missing:
        intro = Items([intro.text, *(f"missing: {line}" for line in missing)])
    html_path = reports / SUMMARY_HTML
    md_path = reports / SUMMARY_MD
    html_path.write_text(render_html(TITLE, intro, sections), encoding="utf-8")
    md_path.write_text(render_markdown(TITLE, intro, sections), encoding="utf-8")
    return Summary(html_path, md_path, missing)


# ---- rendering ---------------------------------------------------------------------------------------------

CSS = """
body { font-family: "Noto Sans CJK JP", "IPAexGothic", "Hiragino Sans", "Yu Gothic", sans-serif;
       max-width: 1100px; margin: 2em auto; padding: 0 1em; color: #222; line-height: 1.55; }
h1 { border-bottom: 2px solid #345; padding-bottom: .3em; }
h2 { border-bottom: 1px solid #ccc; margin-top: 2.2em; }
nav { background: #f4f6f8; padding: .5em 1.2em; border-radius: 6px; }
nav ol { margin: .3em 0; }
.table-wrap { overflow-x: auto; margin: .8em 0; }
table { border-collapse: collapse; font-size: .9em; font-variant-numeric: tabular-nums; }
th, td { border: 1px solid #d0d5da; padding: .25em .6em; text-align: left; vertical-align: top; }
th { background: #eef1f4; }
tr:nth-child(even) td { background: #fafbfc; }
.table-title { font-weight: bold; margin: 1em 0 .2em; }
figure { margin: 1em 0; }
figure img { max-width: 100%; height: auto; border: 1px solid #e3e3e3; }
figcaption { font-size: .9em; color: #555; }
figure.half { display: inline-block; width: 48%; margin-right: 1.5%; vertical-align: top; }
code { background: #f1f1f1; padding: 0 .25em; border-radius: 3px; }
.notice { background: #fff6dd; border-left: 4px solid #e0a800; padding: .5em 1em; }
"""


def render_html(title: str, intro: Block, sections: list[Section]) -> str:
    """One HTML page: a table of contents, then the sections (inline CSS, images by relative path)."""
    toc = "".join(f'<li><a href="#{s.anchor}">{_inline_html(s.title)}</a></li>' for s in sections)
    parts = [
        "<!DOCTYPE html>",
        '<html lang="ja">',
        "<head>",
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{html.escape(title)}</title>",
        f"<style>{CSS}</style>",
        "</head>",
        "<body>",
        f"<h1>{html.escape(title)}</h1>",
        _block_html(intro),
        f'<nav><strong>目次 / contents</strong><ol>{toc}</ol></nav>',
    ]
    for section in sections:
        parts.append(f'<section id="{html.escape(section.anchor)}">')
        parts.append(f"<h2>{_inline_html(section.title)}</h2>")
        parts += [_block_html(block) for block in section.blocks]
        parts.append("</section>")
    parts += ["</body>", "</html>"]
    return "\n".join(parts) + "\n"


def render_markdown(title: str, intro: Block, sections: list[Section]) -> str:
    """The same report in Markdown (GitHub flavour), images by relative path."""
    toc = [f"{i}. [{s.title}](#{s.anchor})" for i, s in enumerate(sections, 1)]
    parts = [f"# {title}", _block_markdown(intro), "\n".join(toc)]
    for section in sections:
        parts.append(f'<a id="{section.anchor}"></a>\n\n## {section.title}')
        parts += [_block_markdown(block) for block in section.blocks]
    return "\n\n".join(parts) + "\n"


def _block_html(block: Block) -> str:
    if isinstance(block, Text):
        return f"<p>{_inline_html(block.text)}</p>"
    if isinstance(block, Heading):
        return f"<h3>{_inline_html(block.text)}</h3>"
    if isinstance(block, Table):
        table = block.frame.to_html(index=False, escape=True, border=0, na_rep="—")
        title = f'<p class="table-title">{html.escape(block.caption)}</p>' if block.caption else ""
        return f'{title}<div class="table-wrap">{table}</div>'
    if isinstance(block, Figure):
        caption = f"<figcaption>{_inline_html(block.caption)}</figcaption>" if block.caption else ""
        src = html.escape(quote(block.src))
        kind = ' class="half"' if block.half else ""
        return f'<figure{kind}><img src="{src}" alt="{html.escape(block.alt)}">{caption}</figure>'
    if isinstance(block, Items):
        return "<ul>" + "".join(f"<li>{_inline_html(item)}</li>" for item in block.items) + "</ul>"
    if isinstance(block, Notice):
        return f'<p class="notice">{_inline_html(block.text)}</p>'
    raise TypeError(f"not a report block: {block!r}")


def _block_markdown(block: Block) -> str:
    if isinstance(block, Text):
        return block.text
    if isinstance(block, Heading):
        return f"### {block.text}"
    if isinstance(block, Table):
        table = markdown_table(block.frame.fillna("—"))
        return f"**{block.caption}**\n\n{table}" if block.caption else table
    if isinstance(block, Figure):
        image = f"![{block.alt}]({quote(block.src)})"
        return f"{image}\n\n*{block.caption}*" if block.caption else image
    if isinstance(block, Items):
        return "\n".join(f"- {item}" for item in block.items)
    if isinstance(block, Notice):
        return f"> {block.text}"
    raise TypeError(f"not a report block: {block!r}")


_INLINE = [
    (re.compile(r"`([^`]+)`"), r"<code>\1</code>"),
    (re.compile(r"\*\*([^*]+)\*\*"), r"<strong>\1</strong>"),
    (re.compile(r"\*([^*]+)\*"), r"<em>\1</em>"),
    (re.compile(r"\[([^\]]+)\]\(([^)\s]+)\)"), r'<a href="\2">\1</a>'),
]


def _inline_html(text: str) -> str:
    """Escaped text with the inline Markdown of :class:`Text` turned into tags."""
    out = html.escape(text)
    for pattern, tag in _INLINE:
        out = pattern.sub(tag, out)
    return out


# ---- sections ----------------------------------------------------------------------------------------------


def _load_comparisons(reports: Path, missing: list[str]) -> dict[str, Comparison | None]:
    """The expected evaluation folders (``None`` where absent or incomplete), then any others found."""
    names = list(EVALUATIONS)
    names += sorted(p.parent.name for p in reports.glob(f"*/{RESULTS_CSV}") if p.parent.name not in EVALUATIONS)
    comparisons: dict[str, Comparison | None] = {}
    for name in names:
        try:
            comparisons[name] = load_comparison(reports / name)
        except FileNotFoundError as err:
            comparisons[name] = None
            missing.append(f"{name}: {err if (reports / name).is_dir() else 'no such folder'}")
    return comparisons


def _evaluate_command(reports: Path, name: str) -> str:
    task, protocol = EVALUATIONS.get(name, name.split("-", 1) if "-" in name else (name, "cv5"))
    return f"knbc evaluate --task {task} --protocol {protocol} --out {(reports / name).as_posix()}"


def _overview_section(comparisons: dict[str, Comparison | None]) -> Section:
    """The best model of each family in each comparison, by mean macro-F1."""
    rows = []
    for name, comparison in comparisons.items():
        if comparison is None:
            continue
        results = comparison.results
        summary = mean_std(results, ["macro_f1"])
        family = results.groupby("model", sort=False)["family"].first()
        row = {"evaluation": name, "task": comparison.config["task"], "protocol": comparison.config["protocol"],
               "runs": results["run"].nunique()}
        for key, title in FAMILY_NAMES.items():
            members = summary[family[summary.index] == key]
            if len(members):
                best = members["macro_f1_mean"].idxmax()
                s = members.loc[best]
                row[f"best {title}"] = f"{best}: {format_mean_std(s['macro_f1_mean'], s['macro_f1_std'])}"
            else:
                row[f"best {title}"] = None
        rows.append(row)
    section = Section("概要 / overview", "overview")
    if rows:
        section.blocks.append(Text("Best model of each family in each comparison: mean macro-F1 ± std over runs."))
        section.blocks.append(Table(pd.DataFrame(rows)))
    else:
        section.blocks.append(Notice("No evaluation results found; `make evaluate` runs every comparison."))
    return section


def _dataset_section(corpus, missing: list[str]) -> Section:
    from pipeline.corpus.stats import readme_mismatches, theme_statistics
    from pipeline.errors import KnbcError

    section = Section("コーパス統計 / dataset statistics", "dataset")
    try:
        if corpus is None:
            from pipeline.corpus import shipped_corpus

            corpus = shipped_corpus()
    except (KnbcError, OSError) as err:
        missing.append(f"the corpus: {err}")
        section.blocks.append(Notice(f"The corpus could not be read ({err}); `knbc corpus stats` tells why."))
        return section
    table = theme_statistics(corpus)
    labels = [c for c in table.columns if c.startswith("label_")]
    counts = table.drop(columns=labels).rename(columns=STATISTICS_COLUMNS)
    sentiments = table[["theme", *labels]].rename(columns={c: c.removeprefix("label_") for c in labels})
    problems = readme_mismatches(table)
    agreement = (
        "Article and sentence counts agree with the corpus README."
        if not problems
        else "Counts differ from the corpus README: " + "; ".join(problems)
    )
    section.blocks += [
        Text(f"KNB blog corpus (KNBC v1.0) as this package reads it (`knbc corpus stats`). {agreement}"),
        Table(counts, "Per theme: articles, sentences, gold morphemes, named entities, 評判 by polarity"),
        Table(sentiments, "Sentence sentiment labels per theme (the sentiment task's classes)"),
        Heading("Reader report"),
        Items([f"`{line}`" if "`" not in line else line for line in corpus.report.lines()]),
    ]
    return section


def _evaluation_section(name: str, comparison: Comparison | None, reports: Path) -> Section:
    task, protocol = (comparison.config["task"], comparison.config["protocol"]) if comparison else EVALUATIONS.get(
        name, (name, "")
    )
    title = f"{TASK_TITLES.get(task, task)} — {protocol} (`{name}`)"
    section = Section(title, f"eval-{name}")
    if comparison is None:
        section.blocks.append(
            Notice(f"`{(reports / name).as_posix()}` has no complete results; "
                   f"`{_evaluate_command(reports, name)}` makes them (`make evaluate` runs every comparison).")
        )
        return section
    config, results = comparison.config, comparison.results
    labels = config["labels"]
    sizes = run_sizes(config)
    section.blocks += [
        Items([
            f"protocol `{protocol}`: {PROTOCOLS.get(protocol, protocol)}",
            f"labels: {', '.join(labels)}",
            (
                f"{len(sizes)} runs; test sentences per run: {_span(sizes['test'])}, "
                f"train: {_span(sizes['train'])}, dev: {_span(sizes['dev'])}"
            ),
            f"this comparison's own report: [{name}/{REPORT_MD}]({name}/{REPORT_MD})",
        ]),
        Table(results_table(results, config), "Results (mean ± std over runs)"),
        *(Text(note) for note in results_notes(config)),
        Heading("クラス別 F1 / per-class F1"),
        Figure(f"{name}/{PER_CLASS_PNG}", f"per-class F1, {name}", "F1 per class, mean over runs (± std bars)"),
        Table(per_class_table(results, labels)),
        Heading("混同行列 / confusion matrices"),
        Text("Rows: gold label, columns: predicted; counts summed over runs. "
             "The best recurrent model and the best spaCy textcat by mean macro-F1."),
    ]
    for model in featured_models(results):
        png = f"{name}/{confusion_png(model)}"
        section.blocks.append(Figure(png, f"confusion matrix of {model}, {name}", model, half=True))
    return section


def _span(values: pd.Series) -> str:
    low, high = int(values.min()), int(values.max())
    return str(low) if low == high else f"{low}–{high}"


def _mistakes_section(comparisons: dict[str, Comparison | None], n: int) -> Section:
    section = Section("最も自信のある誤り / most confident mistakes", "mistakes")
    section.blocks.append(
        Text(f"For each featured model, the {n} test sentences it got wrong with the highest confidence "
             "(more in each comparison's own report).")
    )
    present = {name: c for name, c in comparisons.items() if c is not None}
    if not present:
        section.blocks.append(Notice("No evaluation results found; `make evaluate` runs every comparison."))
    for name, comparison in present.items():
        for model in featured_models(comparison.results):
            section.blocks += [Heading(f"{name}: {model}"), Table(worst_table(comparison, model, n))]
    return section


# ---- learning curves ---------------------------------------------------------------------------------------


def training_history(model_dir: str | Path) -> tuple[pd.DataFrame, dict]:
    """A model folder's epochs (``epoch``, ``loss``, ``dev``, ``dev_label``) from ``train_log.jsonl``
    (or ``metrics.json``'s ``history``), and its ``metrics.json`` (empty when absent).

    ``dev`` is the dev perplexity for generators and the dev score (e.g. macro F) for classifiers.
    Raises ``FileNotFoundError`` when the folder has neither.
    """
    model_dir = Path(model_dir)
    metrics_path, log_path = model_dir / "metrics.json", model_dir / "train_log.jsonl"
    metrics = json.loads(metrics_path.read_text(encoding="utf-8")) if metrics_path.is_file() else {}
    if log_path.is_file():
        lines = log_path.read_text(encoding="utf-8").splitlines()
        epochs = [json.loads(line) for line in lines if line.strip()]
    else:
        epochs = metrics.get("history", [])
    if not epochs:
        raise FileNotFoundError(f"{model_dir} has no train_log.jsonl or metrics.json history")
    rows = []
    for epoch in epochs:
        scores = epoch.get("dev_scores", {})
        if "dev_perplexity" in scores:
            dev, label = scores["dev_perplexity"], "dev perplexity"
        else:
            desc = next((v for k, v in scores.items() if k.endswith("_score_desc")), "score")
            dev, label = epoch["dev"], f"dev {desc}"
        rows.append({"epoch": epoch["epoch"], "loss": epoch["loss"], "dev": dev, "dev_label": label})
    return pd.DataFrame(rows), metrics


def plot_learning_curves(histories: dict[str, tuple[pd.DataFrame, dict]], path: str | Path) -> Path:
    """One panel per model: train loss per epoch (left axis), the dev score (right axis), the kept epoch."""
    plt = japanese_plots()
    n = len(histories)
    cols = min(n, 2)
    rows = (n + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(6.2 * cols, 4.0 * rows), squeeze=False)
    for ax in axes.flat[n:]:
        ax.set_visible(False)
    for ax, (name, (history, metrics)) in zip(axes.flat, histories.items()):
        loss_line = ax.plot(history["epoch"], history["loss"], "o-", color="C0", label="train loss")
        ax.set_xlabel("epoch")
        ax.set_ylabel("train loss", color="C0")
        dev_axis = ax.twinx()
        dev_label = history["dev_label"].iloc[0]
        dev_line = dev_axis.plot(history["epoch"], history["dev"], "s--", color="C1", label=dev_label)
        dev_axis.set_ylabel(dev_label, color="C1")
        handles = loss_line + dev_line
        if metrics.get("best_epoch"):
            handles.append(ax.axvline(metrics["best_epoch"], color="grey", linestyle=":", label="kept epoch"))
        ax.set_xticks(list(history["epoch"]))
        ax.set_title(f"{CURVE_MODELS.get(name, name)}: models/{name}", fontsize=10)
        ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=3, fontsize=8, frameon=False)
    fig.suptitle("学習曲線 / learning curves")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return Path(path)


def _curves_section(models: Path, reports: Path, missing: list[str]) -> Section:
    section = Section("学習曲線 / learning curves", "learning-curves")
    section.blocks.append(
        Text(f"Per epoch, from `{models.as_posix()}/*/train_log.jsonl`: the training loss (classifiers: "
             "spaCy's loss summed over the epoch's batches; generators: mean per target token) and the dev "
             "score that picks the kept epoch (dotted line).")
    )
    summary_rows = []
    for figure, names in CURVE_FIGURES.items():
        histories = {}
        for name in names:
            try:
                histories[name] = training_history(models / name)
            except FileNotFoundError:
                missing.append(f"{(models / name).as_posix()}: no training log")
                section.blocks.append(Notice(f"`{(models / name).as_posix()}` has no training log; "
                                             "`make models` trains every shipped model."))
        if not histories:
            continue
        (reports / CURVES_DIR).mkdir(exist_ok=True)
        plot_learning_curves(histories, reports / CURVES_DIR / f"{figure}.png")
        section.blocks.append(Figure(f"{CURVES_DIR}/{figure}.png", f"learning curves of the {figure}"))
        for name, (history, metrics) in histories.items():
            best = metrics.get("best_epoch")
            kept = history[history["epoch"] == best]["dev"]
            summary_rows.append({
                "model": name,
                "epochs run": len(history),
                "kept epoch": best,
                "dev at kept epoch": f"{kept.iloc[0]:.3f} ({history['dev_label'].iloc[0]})" if len(kept) else None,
                "train s": metrics.get("train_seconds"),
            })
    if summary_rows:
        section.blocks.append(Table(pd.DataFrame(summary_rows), "Training runs of the shipped models"))
    return section


# ---- generation and speed ----------------------------------------------------------------------------------


def _generation_section(reports: Path, missing: list[str]) -> Section:
    section = Section("文生成 / generation", "generation")
    folder = reports / GENERATION_DIR
    results_path = folder / "results.json"
    if not results_path.is_file():
        missing.append(f"{results_path.as_posix()}: not found")
        section.blocks.append(Notice(f"`{results_path.as_posix()}` not found; "
                                     f"`knbc evaluate-generation --out {folder.as_posix()}` makes it."))
        return section
    results = json.loads(results_path.read_text(encoding="utf-8"))
    section.blocks.append(
        Text("Held-out articles (the shared test split). chrF and character BLEU ignore spaces; token BLEU and "
             "distinct-n are over GiNZA tokens; perplexity is teacher-forced, per target token. "
             f"Details: [{GENERATION_DIR}/{REPORT_MD}]({GENERATION_DIR}/{REPORT_MD}).")
    )
    for key, caption in GENERATION_TABLES.items():
        if results.get(key):
            section.blocks.append(Table(generation_table(results[key]), caption))
    samples = results.get("samples")
    if samples:
        section.blocks.append(Heading("生成例 / sample generations (keywords → sentence)"))
        for sample in samples:
            frame = pd.DataFrame(list(sample["outputs"].items()), columns=["system", "sentence"])
            section.blocks.append(Table(frame, sample["source"]))
    else:
        section.blocks.append(Notice(f"No sample generations in `{results_path.as_posix()}`; "
                                     f"`knbc evaluate-generation --out {folder.as_posix()}` writes them."))
    heatmaps = sorted(folder.glob("attention_*.png"), key=lambda p: (len(p.name), p.name))
    if heatmaps:
        section.blocks.append(Heading("注意の重み / attention (keywords → sentence, beam 4)"))
        section.blocks += [Figure(f"{GENERATION_DIR}/{p.name}", f"attention heatmap {p.stem}") for p in heatmaps]
    return section


def generation_table(rows: dict[str, dict]) -> pd.DataFrame:
    """One row per system of ``results.json``'s task entry; scores rounded for reading."""
    columns = [c for c in GENERATION_COLUMNS if any(c in row for row in rows.values())]
    table = []
    for system, row in rows.items():
        cells = {"system": system}
        for c in columns:
            value = row.get(c)
            if isinstance(value, float):
                value = f"{value:.3f}" if c.startswith("distinct") else f"{value:.2f}"
            cells[GENERATION_COLUMNS[c]] = value
        table.append(cells)
    return pd.DataFrame(table, columns=["system", *(GENERATION_COLUMNS[c] for c in columns)])



def _speed_section(reports: Path, missing: list[str]) -> Section:
    section = Section("速度 / speed benchmarks", "speed")
    found = sorted(reports.glob("benchmark*.json"))
    names = list(BENCHMARKS) + [p.name for p in found if p.name not in BENCHMARKS]
    for name in names:
        what, command = BENCHMARKS.get(name, ("", None))
        path = reports / name
        if not path.is_file():  # only the known benchmarks can be missing, and each has its command
            missing.append(f"{path.as_posix()}: not found")
            section.blocks.append(Notice(f"`{path.as_posix()}` ({what}) not found; "
                                         f"`{command.replace('DIR', reports.as_posix())}` writes it."))
            continue
        data = json.loads(path.read_text(encoding="utf-8"))
        data = data if isinstance(data, dict) else {}
        caption = f"{name}" + (f": {what}" if what else "")
        runs = {key: value for key, value in data.items() if isinstance(value, dict)}
        rows = [[key, _value_text(value)] for key, value in data.items() if key not in runs]
        section.blocks.append(Table(pd.DataFrame(rows, columns=["measure", "value"]), caption))
        if runs:  # one row per run (e.g. per engine), its measures as columns
            table = pd.DataFrame.from_dict(runs, orient="index").rename_axis("run").reset_index()
            section.blocks.append(Table(table.astype(str), f"{name}: per run"))
    return section


def _value_text(value: object) -> str:
    if isinstance(value, list):
        return ", ".join(_value_text(v) for v in value)
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False)
    return str(value)
