"""The report's sections, built as blocks (:mod:`pipeline.report.blocks`) from saved results: one
comparison (its own ``report.md``, or its part of the combined report), the overview, the corpus
statistics, the learning curves, the generation metrics, the pretrained language model, the sentence
splitter, the post classifier, the span taggers, the speed benchmarks and the most confident mistakes. An input that is missing becomes a :class:`~pipeline.report.blocks.Notice` naming the command
that makes it (from :mod:`pipeline.report.registry`). Sections draw no plots and read no result files
(:mod:`pipeline.report.build` does both); only the corpus statistics load the corpus."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from pipeline.evaluation.results import Comparison
from pipeline.report.blocks import Block, Embed, Figure, Heading, Items, Notice, Section, Table, Text
from pipeline.report.registry import TASK_TITLES, Artefact
from pipeline.report.tables import (
    FAMILY_NAMES,
    PROTOCOLS,
    TAGGER_LABELS,
    best_of_families,
    featured_models,
    generation_table,
    model_families,
    per_class_table,
    posts_folds_table,
    posts_sentiment_table,
    posts_speed_table,
    posts_theme_table,
    results_notes,
    results_table,
    run_sizes,
    splitter_errors_table,
    splitter_speed_table,
    splitter_table,
    span_sentiment_table,
    tagger_table,
    tagger_types_table,
    worst_table,
)

REPORT_MD = "report.md"
PER_CLASS_PNG = "per_class_f1.png"
CURVES_DIR = "learning_curves"
NO_EVALUATIONS = "No evaluation results found; `make evaluate` runs every comparison."
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
MODELS_DESCRIPTION = (
    "every model sees the same GiNZA tokens; TF-IDF + LR uses token uni- and bigrams of GiNZA "
    "normalized forms, mean_vectors_lr the standardized mean of the tokens' ja_ginza vectors (text → "
    "lemma → norm lookup), each with C chosen on dev; spacy_ensemble_vectors is spaCy's "
    "TextCatEnsemble with include_static_vectors = true over ja_ginza's vectors (spaCy looks them up "
    "by token text), spacy_ensemble the same without; neural models keep their best dev macro-F1 epoch"
)


def confusion_png(model: str) -> str:
    """The file name of ``model``'s confusion-matrix plot inside its results folder."""
    return f"confusion_{model}.png"


def missing_notice(artefact: Artefact, what: str, reports: Path, models: Path = Path("models")) -> Notice:
    """``what`` (inline Markdown, e.g. "`reports/x` not found"), then the command that makes the artefact."""
    return Notice(f"{what}; {artefact.how_to_make(reports, models)}")


# ---- one comparison ----------------------------------------------------------------------------------------


def _protocol_items(config: dict) -> list[str]:
    protocol = config["protocol"]
    return [f"protocol `{protocol}`: {PROTOCOLS.get(protocol, protocol)}", f"labels: {', '.join(config['labels'])}"]


def _setup_blocks(config: dict) -> list[Block]:
    settings = {**config["train_settings"], **config["rnn_options"]}
    variants = [
        f"`{name}` sets `{json.dumps(options, ensure_ascii=False)}` (over the options above; "
        "options passed with `--set` override it)"
        for name, options in config.get("recurrent_variants", {}).items()
        if set(options) - {"cell", "bidirectional", "pooling"}
    ]
    shared = config["train_settings"]
    variants += [  # a variant's own [variants.NAME.training]: the settings where it differs from the shared ones
        f"`{name}` trains with `{json.dumps({k: v for k, v in own.items() if shared.get(k) != v}, ensure_ascii=False)}` "
        "(over the training settings above; `keep: last` trains every epoch and keeps the last, `refit: true` "
        "retrains on train + dev for the epoch count chosen on dev)"
        for name, own in config.get("variant_train_settings", {}).items()
    ]
    items = [*_protocol_items(config), MODELS_DESCRIPTION,
             f"neural training settings and recurrent options: `{json.dumps(settings, ensure_ascii=False)}`", *variants]
    return [Items(items), Table(run_sizes(config))]


def _results_blocks(comparison: Comparison) -> list[Block]:
    config = comparison.config
    return [Table(results_table(comparison.results, config), "Results (mean ± std over runs)"),
            *(Text(note) for note in results_notes(config))]


def _per_class_blocks(comparison: Comparison, name: str, prefix: str) -> list[Block]:
    figure = Figure(f"{prefix}{PER_CLASS_PNG}", f"per-class F1, {name}", "F1 per class, mean over runs (± std bars)")
    return [figure, Table(per_class_table(comparison.results, comparison.config["labels"]))]


def _confusion_blocks(comparison: Comparison, name: str, prefix: str) -> list[Block]:
    family = model_families(comparison.results)
    blocks: list[Block] = [Text("Rows: gold label, columns: predicted; counts summed over runs. "
                                "The best model of each family by mean macro-F1.")]
    for model in featured_models(comparison.results):
        blocks.append(Figure(f"{prefix}{confusion_png(model)}", f"confusion matrix of {model}, {name}",
                             f"Best {FAMILY_NAMES[family[model]]}: `{model}`", half=True))
    return blocks


def _mistakes_blocks(comparison: Comparison, n: int, heading: str = "") -> list[Block]:
    blocks: list[Block] = []
    for model in featured_models(comparison.results):
        blocks += [Heading(f"{heading}{model}"), Table(worst_table(comparison, model, n))]
    return blocks


def comparison_title(comparison: Comparison) -> str:
    return f"KNBC {comparison.config['task']} classification ({comparison.config['protocol']})"


def comparison_sections(comparison: Comparison, n_examples: int) -> list[Section]:
    """A comparison's own report (``report.md`` in its folder, images beside it)."""
    name = comparison.directory.name
    return [
        Section("Setup", "setup", _setup_blocks(comparison.config)),
        Section("Results", "results", _results_blocks(comparison)),
        Section("Per-class F1", "per-class", _per_class_blocks(comparison, name, "")),
        Section("Confusion matrices", "confusion", _confusion_blocks(comparison, name, "")),
        Section("Most confident mistakes", "mistakes", _mistakes_blocks(comparison, n_examples)),
    ]


def evaluation_section(artefact: Artefact, comparison: Comparison | None, reports: Path) -> Section:
    """A comparison's part of the combined report (images under its folder), or a notice when absent."""
    name = artefact.name
    task, protocol = (comparison.config["task"], comparison.config["protocol"]) if comparison else (
        artefact.task, artefact.protocol)
    if artefact.task is None and comparison is not None:  # found on disk, not registered
        title = f"{TASK_TITLES.get(task, task)} — {protocol}"
    else:
        title = artefact.title
    section = Section(f"{title} (`{name}`)", f"eval-{name}")
    if comparison is None:
        folder = artefact.location(reports).as_posix()
        section.blocks.append(missing_notice(artefact, f"`{folder}` has no complete results", reports))
        return section
    sizes = run_sizes(comparison.config)
    section.blocks += [
        Items([
            *_protocol_items(comparison.config),
            f"{len(sizes)} runs; test sentences per run: {_span(sizes['test'])}, "
            f"train: {_span(sizes['train'])}, dev: {_span(sizes['dev'])}",
            f"this comparison's own report: [{name}/{REPORT_MD}]({name}/{REPORT_MD})",
        ]),
        *_results_blocks(comparison),
        Heading("クラス別 F1 / per-class F1"),
        *_per_class_blocks(comparison, name, f"{name}/"),
        Heading("混同行列 / confusion matrices"),
        *_confusion_blocks(comparison, name, f"{name}/"),
    ]
    return section


def _span(values: pd.Series) -> str:
    low, high = int(values.min()), int(values.max())
    return str(low) if low == high else f"{low}–{high}"


# ---- the combined report -----------------------------------------------------------------------------------


def overview_section(comparisons: dict[str, Comparison | None]) -> Section:
    """The best model of each family in each comparison, by mean macro-F1."""
    rows = [
        {"evaluation": name, "task": c.config["task"], "protocol": c.config["protocol"],
         "runs": c.results["run"].nunique(), **best_of_families(c)}
        for name, c in comparisons.items() if c is not None
    ]
    section = Section("概要 / overview", "overview")
    if rows:
        section.blocks.append(Text("Best model of each family in each comparison: mean macro-F1 ± std over runs."))
        section.blocks.append(Table(pd.DataFrame(rows)))
    else:
        section.blocks.append(Notice(NO_EVALUATIONS))
    return section


def dataset_section(corpus, missing: list[str]) -> Section:
    """The corpus statistics (``knbc corpus stats``) and the reader's report; ``corpus`` None: the shipped one."""
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


def curves_section(histories: dict[str, dict[str, tuple[pd.DataFrame, dict]]], absent: list[Artefact],
                   models: Path, reports: Path) -> Section:
    """Learning curves: one figure per group (``CURVES_DIR/<group>.png``, drawn by the caller) of the
    model folders in ``histories`` (group → folder name → history), notices for ``absent`` folders,
    and a table of the training runs."""
    section = Section("学習曲線 / learning curves", "learning-curves")
    section.blocks.append(
        Text(f"Per epoch, from `{models.as_posix()}/*/train_log.jsonl`: the training loss (classifiers: "
             "spaCy's loss summed over the epoch's batches; generators: mean per target token) and the dev "
             "score that picks the kept epoch (dotted line).")
    )
    section.blocks += [missing_notice(a, f"`{a.location(reports, models).as_posix()}` has no training log",
                                      reports, models) for a in absent]
    summary_rows = []
    for group, members in histories.items():
        section.blocks.append(Figure(f"{CURVES_DIR}/{group}.png", f"learning curves of the {group}"))
        for name, (history, metrics) in members.items():
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


def generation_blocks(results: dict, heatmaps: list[str], prefix: str) -> list[Block]:
    """The generation metrics, samples and attention heatmaps of ``results.json`` (images by file name,
    under ``prefix``)."""
    counts = ", ".join(f"{task} {n}" for task, n in results.get("test_pairs", {}).items())
    blocks: list[Block] = [
        Text("Held-out articles (the shared test split" + (f"; test pairs: {counts}" if counts else "") + "). chrF and "
             "character BLEU ignore spaces; token BLEU and distinct-n are over GiNZA tokens; perplexity is "
             "teacher-forced, per target token."
             + (f" Details: [{prefix}{REPORT_MD}]({prefix}{REPORT_MD})." if prefix else ""))
    ]
    blocks += [Table(generation_table(results[key]), caption)
               for key, caption in GENERATION_TABLES.items() if results.get(key)]
    if results.get("samples"):
        blocks.append(Heading("生成例 / sample generations (keywords → sentence)"))
        for sample in results["samples"]:
            frame = pd.DataFrame(list(sample["outputs"].items()), columns=["system", "sentence"])
            blocks.append(Table(frame, sample["source"]))
    if heatmaps:
        blocks.append(Heading("注意の重み / attention (keywords → sentence, beam 4)"))
        blocks += [Figure(f"{prefix}{name}", f"attention heatmap {Path(name).stem}") for name in heatmaps]
    return blocks


def generation_section(artefact: Artefact, results: dict | None, heatmaps: list[str], reports: Path) -> Section:
    """The generation part of the combined report; a notice naming the command when ``results`` is None."""
    section = Section(artefact.title, "generation")
    folder = artefact.location(reports)
    if results is None:
        what = f"`{(folder / 'results.json').as_posix()}` not found"
        section.blocks.append(missing_notice(artefact, what, reports))
        return section
    section.blocks += generation_blocks(results, heatmaps, f"{artefact.name}/")
    if not results.get("samples"):
        what = f"No sample generations in `{(folder / 'results.json').as_posix()}`"
        section.blocks.append(missing_notice(artefact, what, reports))
    return section


def language_model_section(artefact: Artefact, results: dict | None, reports: Path) -> Section:
    """Perplexity on the KNBC test articles over the pretrained LM's vocabulary, and the continuation
    comparison with its samples (``knbc evaluate-lm``); a notice naming the command when absent."""
    section = Section(artefact.title, "language-models")
    if results is None:
        what = f"`{(artefact.location(reports) / 'results.json').as_posix()}` not found"
        section.blocks.append(missing_notice(artefact, what, reports))
        return section
    rows = []
    for name, row in results.items():
        if isinstance(row, dict) and "test" in row:
            test = row["test"]
            rows.append({"model": name, **{f"{d} perplexity": f"{s['perplexity']:.1f}" for d, s in test.items()},
                         "tokens": next(iter(test.values()))["tokens"], "best epoch": row.get("best_epoch", "—")})
    section.blocks.append(Text(
        f"KNBC test articles, over the pretrained model's vocabulary of {results.get('vocabulary', '?'):,} words; a word "
        f"outside it is `<unk>`, predicted like any other word ({results.get('unknown_rate_test', 0):.1%} of the test "
        "tokens). Fine-tuning and training use the KNBC training articles only; the dev articles pick the epoch."))
    section.blocks.append(Table(pd.DataFrame(rows).fillna("—"), "Perplexity (lower is better)"))
    continuation = results.get("continuation")
    if continuation:
        section.blocks.append(Table(generation_table(continuation["rows"]),
                                    f"The sentence after a sentence ({continuation['test_pairs']} test pairs)"))
        for sample in continuation.get("samples", []):
            frame = pd.DataFrame(list(sample["outputs"].items()), columns=["system", "sentence"])
            section.blocks.append(Table(frame, sample["source"]))
    return section


def _results_missing(section: Section, artefact: Artefact, reports: Path) -> Section:
    what = f"`{(artefact.location(reports) / 'results.json').as_posix()}` not found"
    section.blocks.append(missing_notice(artefact, what, reports))
    return section


def splitter_section(artefact: Artefact, results: dict | None, reports: Path) -> Section:
    """The sentence splitter's boundary precision, recall and F1 against KNBC's sentences of whole articles,
    its errors by kind and its speed (``knbc evaluate-splitter``); a notice naming the command when absent."""
    section = Section(artefact.title, "sentences")
    if results is None:
        return _results_missing(section, artefact, reports)
    own = f"{artefact.name}/README.md"
    section.blocks += [
        Text(f"GiNZA's tokenizer and `knbc_sentences` on the {results['articles']} whole KNBC articles, against the "
             f"corpus's sentences ({results['asides_restored']} parenthesised asides put back into their sentences). "
             "The corpus does not keep what stood between an article's sentences, so each article is joined both "
             "ways: a line break after every sentence, or nothing between them. A boundary is the offset where a "
             f"sentence but the first begins. The commonest errors with their context: [{own}]({own})."),
        Text(artefact.how_to_make(reports)),
        Table(splitter_table(results["variants"]), "Sentence boundaries found (micro over all articles)"),
        Table(splitter_errors_table(results["variants"]),
              "Errors by kind and by what stands before the boundary (count per way of joining)"),
    ]
    if results.get("speed"):
        rounds = {s.get("rounds") for s in results["speed"].values()}
        best = f"best of {rounds.pop()} rounds" if len(rounds) == 1 else "best round"
        section.blocks.append(Table(splitter_speed_table(results["speed"]),
                                    f"Speed ({best}; the tokenizer and the splitter timed apart, one thread)"))
    return section


def posts_section(artefact: Artefact, results: dict | None, attention: str | None, reports: Path) -> Section:
    """The hierarchical attention post classifier against the naive vote and whole-post baselines on the
    article-grouped folds (``knbc evaluate-posts``): theme of posts and of sentences in context, sentence
    sentiment in context against sentence-only, speed, the sentence attention of one post (``attention``:
    its image under ``reports``, None when there is none), the folds; a notice naming the command when absent."""
    section = Section(artefact.title, "posts")
    if results is None:
        return _results_missing(section, artefact, reports)
    protocol, folds = results.get("protocol", "cv5"), results["folds"]
    own = f"{artefact.name}/results.md"
    section.blocks += [
        Items([f"protocol `{protocol}`: {PROTOCOLS.get(protocol, protocol)}",
               f"{len(folds)} folds, {results['seconds'] / 60:.0f} minutes for the whole run; mean ± std over the "
               "folds, as `results.json` records them",
               f"this evaluation's own report: [{own}]({own})"]),
        Text(artefact.how_to_make(reports)),
        Table(posts_theme_table(results["summary"]), "Theme of each post, and of each sentence read in its post"),
        Table(posts_sentiment_table(results["summary"]), "Sentiment of each sentence: read in its post (HAN) "
                                                         "against sentence-only classifiers"),
    ]
    speed = results.get("speed")
    if speed:
        section.blocks.append(Table(posts_speed_table(speed), f"Speed on the {speed['posts']} whole articles "
                                    f"({speed['sentences']} sentences; best of {speed['repeats']}, torch threads: "
                                    f"{speed['torch_threads']}): pipeline / tokenizer {speed['ratio']:.2f}"))
    sample = results.get("attention_sample")
    if sample and attention:
        section.blocks += [Heading("注意の重み / which sentences decided"),
                           Figure(attention, f"sentence attention of {sample['article_id']}",
                                  f"Sentence attention of one test post, {sample['article_id']} ({sample['run']}): "
                                  f"gold {sample['gold']}, predicted {sample['pred']}")]
    section.blocks.append(Table(posts_folds_table(folds), "The HAN per fold"))
    return section


TAGGER_TASKS = {"ner": "固有表現 / named entities (IREX types)",
                "reputation": "評判 expressions (type + polarity)"}


def taggers_section(artefact: Artefact, results: dict | None, renderings: dict[str, list[tuple[str, str]]],
                    reports: Path) -> Section:
    """The BiLSTM-CRF span taggers against the softmax ablation, spaCy's ner / spancat and GiNZA's zero-shot
    NER (``knbc evaluate-taggers``): per task the span scores, any note a run left, F1 per type, and
    ``renderings`` (task → (title, displaCy markup) of a test sentence or two); a notice naming the command
    when absent."""
    section = Section(artefact.title, "taggers")
    if results is None:
        return _results_missing(section, artefact, reports)
    protocol = results["protocol"]
    own = f"{artefact.name}/results.md"
    section.blocks += [
        Items([f"protocol `{protocol}`: {PROTOCOLS.get(protocol, protocol)}; runs: {', '.join(results['runs'])}",
               "scores on character offsets, pooled over the runs' test sentences; `exact`: same offsets and type; "
               "`overlap`: shares at least one character with a span of the same type",
               f"this evaluation's own report, with the commonest errors: [{own}]({own})"]),
        Text(artefact.how_to_make(reports)),
    ]
    for task, systems in results["systems"].items():
        section.blocks += [Heading(TAGGER_TASKS.get(task, task)), Table(tagger_table(systems), "Span scores")]
        section.blocks += [Text(f"*{TAGGER_LABELS.get(name, name)}, {run['run']}*: {run['note'].rstrip('.')}.")
                           for name, r in systems.items() for run in r["runs"] if run.get("note")]
        section.blocks.append(Table(tagger_types_table(systems), "F1 per type, exact / overlap"))
        sentiment = span_sentiment_table(results) if task == "reputation" else None
        if sentiment is not None:
            section.blocks += [Text("A sentence's sentiment from its predicted 評判 spans, by the rule that makes the "
                                    "gold label from the gold spans (only + -> positive, only − -> negative, both -> "
                                    "mixed, none -> neutral), beside the sentence classifier on the same test "
                                    "sentences:"),
                               Table(sentiment, "Sentence sentiment from 評判 spans")]
        source = results.get("renderings", {}).get(task)
        for title, markup in renderings.get(task, []) if source else []:
            section.blocks.append(Embed(markup, f"{artefact.name}/{source}", f"displaCy, test sentence {title}"))
    return section


def speed_section(benchmarks: dict[Artefact, dict | None], reports: Path) -> Section:
    """One table per benchmark file (its scalar measures; runs as rows), a notice for each absent one."""
    section = Section("速度 / speed benchmarks", "speed")
    for artefact, data in benchmarks.items():
        name = artefact.name
        if data is None:
            what = f"`{artefact.location(reports).as_posix()}` ({artefact.title}) not found"
            section.blocks.append(missing_notice(artefact, what, reports))
            continue
        caption = name + (f": {artefact.title}" if artefact.title else "")
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


def mistakes_section(comparisons: dict[str, Comparison | None], n: int) -> Section:
    """The most confident wrong predictions of each featured model of each comparison."""
    section = Section("最も自信のある誤り / most confident mistakes", "mistakes")
    section.blocks.append(
        Text(f"For each featured model, the {n} test sentences it got wrong with the highest confidence "
             "(more in each comparison's own report).")
    )
    present = {name: c for name, c in comparisons.items() if c is not None}
    if not present:
        section.blocks.append(Notice(NO_EVALUATIONS))
    for name, comparison in present.items():
        section.blocks += _mistakes_blocks(comparison, n, f"{name}: ")
    return section
