"""The report's tables as DataFrames, from saved results: a comparison's results (mean ± std over runs,
published KNBC theme results beside ours under the peer protocol), per-class F1, run sizes and most
confident mistakes; the generation metrics; the sentence splitter's boundary scores, the post
classifier's scores and the span taggers' scores (each from its ``results.json``). Rendering is
:mod:`pipeline.report.blocks`' business."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from pipeline.evaluation.metrics import HEADLINE, format_mean_std, mean_std
from pipeline.evaluation.posts import ROWS as POST_ROWS
from pipeline.evaluation.posts import SENTIMENT_ROWS, STORED_SENTIMENT_MODELS
from pipeline.evaluation.results import Comparison
from pipeline.evaluation.taggers import LABELS as TAGGER_LABELS

PROTOCOLS = {
    "cv5": "5-fold cross-validation grouped by article (every sentence is tested once; "
    "dev: ~10% of each fold's training articles, per theme)",
    "peer": "the protocol of published KNBC results: a random 10% sentence-level test set stratified by theme, "
    "5 seeds (dev: ~10% of the training sentences, per theme)",
    "split": "the shipped article-level train / dev / test split (one run)",
}
# Published KNBC theme classification results (peer protocol); quoted, not rerun here.
PUBLISHED_THEME = [
    {"model": "LSTM", "accuracy": None, "weighted_f1": 0.76},
    {"model": "LSTM + self-attention", "accuracy": None, "weighted_f1": 0.79},
    {"model": "fine-tuned Japanese BERT", "accuracy": 0.837, "weighted_f1": 0.838},
]
FAMILY_NAMES = {"baseline": "baseline", "spacy": "spaCy textcat", "recurrent": "recurrent"}
PUBLISHED_FAMILY = "published, not rerun here"
COLUMN_NAMES = {"accuracy": "accuracy", "macro_f1": "macro-F1", "weighted_f1": "weighted-F1"}
GENERATION_COLUMNS = {
    "chrf": "chrF",
    "char_bleu": "char BLEU",
    "token_bleu": "token BLEU",
    "distinct_1": "distinct-1",
    "distinct_2": "distinct-2",
    "repetition": "repeats a unit 3x",
    "perplexity": "perplexity",
    "sentences_per_s": "sentences/s",
    "tokens": "tokens",
}


def featured_models(results: pd.DataFrame) -> list[str]:
    """The best recurrent model, the best spaCy textcat and the best baseline by mean macro-F1 (those
    present); the best model overall when none of these families was run."""
    means = results.groupby("model", sort=False)["macro_f1"].mean()
    families = results.groupby("model", sort=False)["family"].first()
    best = [means[families == f].idxmax() for f in ("recurrent", "spacy", "baseline") if (families == f).any()]
    return best or [means.idxmax()]


def model_families(results: pd.DataFrame) -> pd.Series:
    """Each model's family (``baseline``, ``spacy``, ``recurrent``), by model name."""
    return results.groupby("model", sort=False)["family"].first()


def run_sizes(config: dict) -> pd.DataFrame:
    """Train / dev / test sentences of each run of a comparison."""
    rows = [[run, s["train"], s["dev"], s["test"]] for run, s in config["runs"].items()]
    return pd.DataFrame(rows, columns=["run", "train", "dev", "test"])


def with_published(config: dict) -> bool:
    """Whether published results are shown beside the comparison's (theme, peer protocol)."""
    return config["protocol"] == "peer" and config["task"] == "theme"


def results_table(results: pd.DataFrame, config: dict) -> pd.DataFrame:
    """One row per model (mean ± std over runs, sorted by macro-F1), then the published KNBC theme
    results under the peer protocol (family "published, not rerun here")."""
    summary = mean_std(results, (*HEADLINE, "train_seconds"))
    family = model_families(results)
    header = ["model", "family", "runs", *COLUMN_NAMES.values(), "train s / run"]
    rows = [
        [
            model,
            FAMILY_NAMES[family[model]],
            int(s["runs"]),
            *(format_mean_std(s[f"{c}_mean"], s[f"{c}_std"]) for c in HEADLINE),
            f"{s['train_seconds_mean']:.1f}",
        ]
        for model, s in summary.sort_values("macro_f1_mean", ascending=False).iterrows()
    ]
    if with_published(config):
        for published in PUBLISHED_THEME:
            scores = [f"{published[c]:.3f}" if published.get(c) is not None else "—" for c in HEADLINE]
            rows.append([published["model"], PUBLISHED_FAMILY, "—", *scores, "—"])
    return pd.DataFrame(rows, columns=header)


def results_notes(config: dict) -> list[str]:
    """What :func:`results_table` shows, in sentences (Markdown)."""
    notes = ["Mean ± sample standard deviation over runs, sorted by macro-F1."]
    if with_published(config):
        notes.append(
            f"Rows marked *{PUBLISHED_FAMILY}* are KNBC theme results reported in the literature "
            "under the same kind of protocol (random 10% sentence-level test); they were not reproduced "
            "with this code, their test sentences differ from ours."
        )
    return notes


def per_class_table(results: pd.DataFrame, labels: Sequence[str]) -> pd.DataFrame:
    """Mean F1 over runs per model (rows) and class (columns)."""
    stats = mean_std(results, [f"f1_{label}" for label in labels])
    rows = [[model, *(f"{s[f'f1_{label}_mean']:.3f}" for label in labels)] for model, s in stats.iterrows()]
    return pd.DataFrame(rows, columns=["model", *labels])


def best_of_families(comparison: Comparison) -> dict[str, str | None]:
    """``best <family>`` → ``model: mean ± std`` of macro-F1 (None where the family was not run)."""
    results = comparison.results
    summary = mean_std(results, ("macro_f1",))
    family = model_families(results)
    row: dict[str, str | None] = {}
    for key, title in FAMILY_NAMES.items():
        members = summary[family[summary.index] == key]
        if len(members):
            best = members["macro_f1_mean"].idxmax()
            s = members.loc[best]
            row[f"best {title}"] = f"{best}: {format_mean_std(s['macro_f1_mean'], s['macro_f1_std'])}"
        else:
            row[f"best {title}"] = None
    return row


def worst_table(comparison: Comparison, model: str, n: int) -> pd.DataFrame:
    """The ``n`` wrong predictions of ``model`` made with the highest confidence."""
    rows = [[r.run, r.text, r.gold, r.pred, f"{r.confidence:.3f}"] for r in comparison.worst(model, n).itertuples()]
    return pd.DataFrame(rows, columns=["run", "text", "gold", "predicted", "confidence"])


def generation_table(rows: dict[str, dict]) -> pd.DataFrame:
    """One row per system of ``results.json``'s task entry; scores rounded for reading."""
    columns = [c for c in GENERATION_COLUMNS if any(c in row for row in rows.values())]
    table = []
    for system, row in rows.items():
        cells = {"system": system}
        for c in columns:
            value = row.get(c)
            if isinstance(value, float):
                value = f"{value:.3f}" if c.startswith(("distinct", "repetition")) else f"{value:.2f}"
            cells[GENERATION_COLUMNS[c]] = value
        table.append(cells)
    return pd.DataFrame(table, columns=["system", *(GENERATION_COLUMNS[c] for c in columns)])


# ---- the sentence splitter (knbc evaluate-splitter) ------------------------------------------------------------

JOINED = {"newline": "a line break", "none": "nothing"}  # table cells: plain text, no inline Markdown


def _joined(variant: str) -> str:
    return JOINED.get(variant, variant)


def splitter_table(variants: dict[str, dict]) -> pd.DataFrame:
    """Boundary counts, precision, recall and F1 per way of joining an article's sentences."""
    rows = [{"sentences joined with": _joined(name), "gold boundaries": v["gold_boundaries"],
             "predicted": v["true_positives"] + v["false_positives"], "correct": v["true_positives"],
             "missed": v["false_negatives"], "spurious": v["false_positives"], "precision": f"{v['precision']:.4f}",
             "recall": f"{v['recall']:.4f}", "F1": f"{v['f1']:.4f}"} for name, v in variants.items()]
    return pd.DataFrame(rows)


def splitter_errors_table(variants: dict[str, dict]) -> pd.DataFrame:
    """Errors by kind (missed, spurious) and by what stands before the boundary; a count column per variant."""
    counts: dict[tuple[str, str], dict[str, int]] = {}
    for name, v in variants.items():
        for c in v["error_categories"]:
            counts.setdefault((c["kind"], c["category"]), {})[_joined(name)] = c["count"]
    rows = [{"kind": kind, "before the boundary": category, **by_variant}
            for (kind, category), by_variant in sorted(counts.items(), key=lambda kv: (kv[0][0], -sum(kv[1].values())))]
    columns = ["kind", "before the boundary", *(_joined(n) for n in variants)]
    return pd.DataFrame(rows, columns=columns, dtype=object)  # counts stay integers beside the absent ones


def splitter_speed_table(speed: dict[str, dict]) -> pd.DataFrame:
    """Sentences per second of GiNZA's tokenizer alone and with the splitter, per kind of text."""
    rows = [{"texts": f"{s['texts']} articles (joined with nothing)" if name == "articles"
             else f"{s['texts']} corpus sentences, one a text" if name == "single_sentences" else f"{name}: {s['texts']}",
             "tokenizer alone, sentences/s": f"{s['tokenizer_sentences_per_s']:.0f}",
             "tokenizer + splitter, sentences/s": f"{s['with_splitter_sentences_per_s']:.0f}",
             "splitter's share of the time": f"{100 * s['splitter_share']:.1f}%"} for name, s in speed.items()]
    return pd.DataFrame(rows)


# ---- the post classifier (knbc evaluate-posts) ----------------------------------------------------------------


def _summary_cell(summary: dict, model: str, metric: str) -> str | None:
    value = summary.get(model, {}).get(metric)
    return format_mean_std(value["mean"], value["std"]) if value else None


def posts_theme_table(summary: dict) -> pd.DataFrame:
    """The theme of posts and of sentences read in their post: one row per system, mean ± std over folds."""
    columns = {"post_accuracy": "post accuracy", "post_macro_f1": "post macro-F1",
               "sentence_theme_macro_f1": "sentence theme macro-F1 (in context)",
               "sentence_alone_macro_f1": "sentence theme macro-F1 (sentence alone)"}
    rows = [{"model": label, **{title: _summary_cell(summary, key, metric) for metric, title in columns.items()}}
            for key, label in POST_ROWS if key in summary]
    return pd.DataFrame(rows, columns=["model", *columns.values()])


def posts_sentiment_table(summary: dict) -> pd.DataFrame:
    """Sentence sentiment read in context (the HAN) against sentence-only classifiers: macro-F1 and F1 per class."""
    labels = list(dict.fromkeys(metric.removeprefix("sentiment_f1_") for scores in summary.values()
                                for metric in scores if metric.startswith("sentiment_f1_")))
    systems = [*SENTIMENT_ROWS, *((f"stored_{key}", f"{title} (stored: knbc evaluate --task sentiment --protocol cv5)")
                                  for key, title in STORED_SENTIMENT_MODELS.items())]
    rows = [{"model": label, "macro-F1": _summary_cell(summary, key, "sentiment_macro_f1"),
             **{f"F1 {c}": _summary_cell(summary, key, f"sentiment_f1_{c}") for c in labels}}
            for key, label in systems if key in summary]
    return pd.DataFrame(rows, columns=["model", "macro-F1", *(f"F1 {c}" for c in labels)])


def posts_folds_table(folds: list[dict]) -> pd.DataFrame:
    """The HAN per fold: articles, test sentences, its three scores, the kept epoch and the training time."""
    rows = [{"fold": f["run"], "train / dev / test articles": f"{f['n_train_articles']} / {f['n_dev_articles']} / "
             f"{f['n_test_articles']}", "test sentences": f["n_test_sentences"],
             "post accuracy": f"{f['han']['post']['accuracy']:.3f}",
             "sentence theme macro-F1": f"{f['han']['sentence_theme']['macro_f1']:.3f}",
             "sentiment macro-F1": f"{f['han']['sentiment']['macro_f1']:.3f}",
             "kept epoch": f["han"]["best_epoch"], "train s": f["han"]["train_seconds"]} for f in folds]
    return pd.DataFrame(rows)


def posts_speed_table(speed: dict) -> pd.DataFrame:
    """Posts and sentences per second: GiNZA's tokenizer alone, then with sentence starts and the classifier."""
    rows = [["tokenizer alone", f"{speed['tokenizer_posts_per_s']:.1f}", f"{speed['tokenizer_sentences_per_s']:.1f}"],
            ["tokenizer + sentence starts + knbc_post_classifier", f"{speed['pipeline_posts_per_s']:.1f}",
             f"{speed['pipeline_sentences_per_s']:.1f}"]]
    return pd.DataFrame(rows, columns=["", "posts/s", "sentences/s"])


# ---- the span taggers (knbc evaluate-taggers) -----------------------------------------------------------------


def tagger_table(systems: dict[str, dict]) -> pd.DataFrame:
    """One row per system of a task: span P / R / F (micro) and macro F, exact and overlap, the seconds of each
    run, and (評判) the polarity accuracy over the gold spans a prediction overlaps."""
    rows = []
    for name, r in systems.items():
        exact, overlap = r["scores"]["exact"], r["scores"]["overlap"]
        row = {"system": TAGGER_LABELS.get(name, name)}
        for kind, scores in (("exact", exact), ("overlap", overlap)):
            row |= {f"{kind} P": f"{scores['micro']['p']:.3f}", f"{kind} R": f"{scores['micro']['r']:.3f}",
                    f"{kind} F (micro)": f"{scores['micro']['f']:.3f}", f"{kind} F (macro)": f"{scores['macro']['f']:.3f}"}
        row["train+predict s (per run)"] = ", ".join(str(run["seconds"]) for run in r["runs"])
        if "polarity" in r:
            row["polarity acc. (matched)"] = f"{r['polarity']['accuracy']:.3f} ({r['polarity']['matched']})"
        rows.append(row)
    return pd.DataFrame(rows)


def span_sentiment_table(results: dict) -> pd.DataFrame | None:
    """Sentence sentiment from each system's predicted 評判 spans (accuracy, macro-F1, F1 per class) beside the
    sentence classifier on the same test sentences; None when the results have none (older results.json)."""
    rows = []
    for name, r in results.get("systems", {}).get("reputation", {}).items():
        if "sentence_sentiment" in r:
            rows.append((f"{TAGGER_LABELS.get(name, name)}: spans -> sentence", r["sentence_sentiment"]))
    classifier = results.get("sentence_classifier", {})
    if "macro_f1" in classifier:
        rows.append((f"sentence classifier: {classifier['source']}", classifier))
    if not rows:
        return None
    table = []
    for name, scores in rows:
        row = {"system": name, "accuracy": f"{scores['accuracy']:.3f}", "macro-F1": f"{scores['macro_f1']:.3f}"}
        row |= {f"F1 {label} (n={c['support']})": f"{c['f1']:.3f}" for label, c in scores["per_class"].items()}
        table.append(row)
    return pd.DataFrame(table)


def tagger_types_table(systems: dict[str, dict]) -> pd.DataFrame:
    """F1 per span type, exact / overlap, one column per system; the gold count of each type."""
    types = sorted({t for r in systems.values() for t in r["scores"]["exact"]["per_type"]})
    rows = []
    for t in types:
        row = {"type": t, "gold": next(r["scores"]["exact"]["per_type"][t]["n_gold"] for r in systems.values()
                                       if t in r["scores"]["exact"]["per_type"])}
        for name, r in systems.items():
            exact, overlap = (r["scores"][k]["per_type"].get(t) for k in ("exact", "overlap"))
            row[TAGGER_LABELS.get(name, name)] = f"{exact['f']:.3f} / {overlap['f']:.3f}" if exact and overlap else None
        rows.append(row)
    return pd.DataFrame(rows)
