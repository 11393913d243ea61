"""``knbc evaluate-posts``: the post classifier against the naive vote and whole-post baselines on the
article-grouped 5-fold CV (cv5: dev = ~10% of each theme's training articles), in one run.

Per fold it trains the hierarchical attention network (models/configs/posts.cfg) on the training
articles (gold KNBC sentences), selects its epoch on the dev articles, and scores the test articles:

* **post**: accuracy and macro-F1 of each article's theme;
* **sentence theme in context**: macro-F1 over every test sentence, each labelled by the model reading
  its post (the HAN's sentence heads; a whole-post baseline labels each sentence with its post's label);
* **sentence sentiment**: macro-F1 and per-class F1 of the HAN's per-sentence sentiment (read with its
  neighbours) against sentence-only classifiers (mean vectors + LR, TF-IDF + LR, trained in this run;
  the shipped recurrent recipe's cv5 numbers come from reports/sentiment-cv5, the stored run of
  ``knbc evaluate --task sentiment --protocol cv5`` on the same folds).

Baselines (logistic regression with C tuned on the dev articles' macro-F1, as in ``knbc evaluate``):
``naive_vote`` (mean ja_ginza vectors + LR per sentence; the post's label is the argmax of its sentences'
summed log-probabilities and every sentence is labelled by its post; ``sentence alone`` is the same
model's per-sentence macro-F1), ``tfidf_lr_post`` and ``mean_vectors_lr_post`` (LR over the whole post).

Speed: ``nlp.pipe``-style throughput on the 249 whole articles (their sentences joined): the tokenizer
alone against the tokenizer + sentence starts (the simple 。！？ rule) + ``knbc_post_classifier``.
"""

from __future__ import annotations

import csv
import gzip
import json
import time
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import torch
from threadpoolctl import threadpool_limits

from pipeline.corpus import shipped_corpus
from pipeline.corpus.labels import SENTIMENT_LABELS, THEME_LABELS
from pipeline.corpus.splits import load_splits
from pipeline.evaluation.baselines import MeanVectorLogisticRegression, TfidfLogisticRegression
from pipeline.evaluation.protocols import protocol_runs
from pipeline.models.posts import simple_sentence_starts
from pipeline.resources import shipped_path
from pipeline.training.metrics import classification_scores
from pipeline.training.posts import (
    knbc_post_examples,
    post_settings,
    predict_posts,
    train_post_classifier,
)
from pipeline.training.settings import read_config

POSTS_CONFIG = shipped_path("models/configs/posts.cfg")
SENTENCE_ONLY_REPORT = shipped_path("reports/sentiment-cv5/results.csv")
STORED_SENTIMENT_MODELS = {"bilstm_attention": "sentence-only BiLSTM + attention (models/configs/sentiment.cfg's recipe)",
                           "bilstm_attention_ensemble": "sentence-only BiLSTM + attention ensemble (best stored)"}


def _scores(gold, pred, labels) -> dict:
    s = classification_scores(gold, pred, labels)
    return {"accuracy": s["accuracy"], "macro_f1": s["macro_f1"],
            "per_class_f1": {k: v["f1"] for k, v in s["per_class"].items()}}


def build_post_pipeline(config_path: str | Path = POSTS_CONFIG, overrides: Mapping[str, Any] | None = None):
    """(nlp, component name, training settings) of a posts config."""
    import spacy

    config = read_config(config_path, overrides or {})
    nlp = spacy.util.load_model_from_config(config, auto_fill=True, validate=True)
    name = next(n for n in nlp.pipe_names if nlp.get_pipe_meta(n).factory == "knbc_post_classifier")
    return nlp, name, post_settings(config)


def _vote(model, sentence_docs, groups) -> tuple[list[str], np.ndarray]:
    """The naive vote: each post's argmax of summed sentence log-probabilities; sentence probabilities."""
    probs = model.predict_proba(sentence_docs)  # (n_sentences, n_labels)
    logp = np.log(np.clip(probs, 1e-12, 1.0))
    labels = [model.labels[int(logp[idx].sum(axis=0).argmax())] for idx in groups]
    return labels, probs


def _speed(nlp, component, texts: list[str], repeats: int = 2) -> dict:
    """Posts/s and sentences/s of the tokenizer alone and of tokenizer + sentence starts + the classifier."""
    best_tok, best_full, n_sentences = float("inf"), float("inf"), 0
    for _ in range(repeats):
        start = time.perf_counter()
        list(nlp.tokenizer.pipe(texts))
        best_tok = min(best_tok, time.perf_counter() - start)
        start = time.perf_counter()
        docs = list(component.pipe(simple_sentence_starts(doc) for doc in nlp.tokenizer.pipe(texts)))
        best_full = min(best_full, time.perf_counter() - start)
        n_sentences = sum(len(doc._.post_sentences) for doc in docs)
    return {"posts": len(texts), "sentences": n_sentences, "characters": sum(map(len, texts)),
            "tokenizer_posts_per_s": len(texts) / best_tok, "tokenizer_sentences_per_s": n_sentences / best_tok,
            "pipeline_posts_per_s": len(texts) / best_full, "pipeline_sentences_per_s": n_sentences / best_full,
            "ratio": best_tok / best_full, "repeats": repeats, "torch_threads": torch.get_num_threads()}


def stored_sentence_only(path: Path = SENTENCE_ONLY_REPORT) -> dict:
    """Per-fold sentiment scores of the stored sentence-only models (reports/sentiment-cv5/results.csv)."""
    if not Path(path).is_file():
        return {}
    rows: dict[str, dict] = {}
    with open(path, encoding="utf-8") as f:
        for row in csv.DictReader(f):
            if row["model"] in STORED_SENTIMENT_MODELS and row["protocol"] == "cv5":
                rows.setdefault(row["model"], {})[row["run"]] = {
                    "macro_f1": float(row["macro_f1"]), "accuracy": float(row["accuracy"]),
                    "per_class_f1": {label: float(row[f"f1_{label}"]) for label in SENTIMENT_LABELS}}
    return rows


def evaluate_posts(out: str | Path, runs: int | None = None, overrides: Mapping[str, Any] | None = None,
                   config_path: str | Path = POSTS_CONFIG, progress: bool = True) -> dict:
    """Run the comparison (see the module docstring); write ``results.json``, ``results.md`` and
    ``predictions.jsonl.gz`` (the HAN's per-sentence predictions) into ``out``; return the results."""
    started = time.perf_counter()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    nlp, name, settings = build_post_pipeline(config_path, overrides)
    component = nlp.get_pipe(name)
    corpus, splits = shipped_corpus(), load_splits()
    examples = {e.post_id: e for e in knbc_post_examples(nlp, corpus.sentences)}
    by_article: dict[str, list] = {}
    for record in corpus.sentences:
        if record.text:
            by_article.setdefault(record.article_id, []).append(record)
    sentence_docs = {aid: [doc.as_doc() for doc in examples[aid].doc.sents] for aid in examples}
    folds: list[dict] = []
    predictions = []
    sample = None
    for run in protocol_runs(corpus.sentences, splits, "cv5", runs):
        fold_start = time.perf_counter()
        ids = {part: list(dict.fromkeys(r.article_id for r in getattr(run, part) if r.text))
               for part in ("train", "dev", "test")}
        train, dev, test = ([examples[a] for a in ids[p]] for p in ("train", "dev", "test"))
        result = train_post_classifier(component, train, dev, settings, list(THEME_LABELS))
        predicted = predict_posts(component, [component.features(e.doc)[1] for e in test])
        gold_post = [e.label for e in test]
        gold_theme = [t for e in test for t in e.sentence_themes]
        gold_sent = [s for e in test for s in e.sentiments]
        han_post = [THEME_LABELS[int(p["post"].argmax())] for p in predicted]
        han_theme = [THEME_LABELS[int(i)] for p in predicted for i in p["theme"].argmax(-1)]
        han_sent = [SENTIMENT_LABELS[int(i)] for p in predicted for i in p["sentiment"].argmax(-1)]
        fold: dict[str, Any] = {"run": run.name, "n_train_articles": len(train), "n_dev_articles": len(dev),
                                "n_test_articles": len(test), "n_test_sentences": len(gold_theme)}
        fold["han"] = {"post": _scores(gold_post, han_post, THEME_LABELS),
                       "sentence_theme": _scores(gold_theme, han_theme, THEME_LABELS),
                       "sentiment": _scores(gold_sent, han_sent, SENTIMENT_LABELS),
                       "best_epoch": result.best_epoch, "train_seconds": round(result.seconds, 1)}
        for example, p in zip(test, predicted):
            for i, record in enumerate(by_article[example.post_id]):
                predictions.append({"run": run.name, "article_id": example.post_id, "sid": record.sid, "index": i,
                                    "text": record.text, "gold_theme": example.label,
                                    "post_pred": THEME_LABELS[int(p["post"].argmax())],
                                    "theme_pred": THEME_LABELS[int(p["theme"][i].argmax())],
                                    "gold_sentiment": record.sentiment,
                                    "sentiment_pred": SENTIMENT_LABELS[int(p["sentiment"][i].argmax())],
                                    "attention": round(float(p["attention"][i]), 4)})
            if sample is None and 5 <= len(p["attention"]) <= 12:
                sample = {"run": run.name, "article_id": example.post_id, "gold": example.label,
                          "pred": THEME_LABELS[int(p["post"].argmax())],
                          "sentences": [r.text for r in by_article[example.post_id]],
                          "attention": [round(float(a), 4) for a in p["attention"]]}
        # sentence-level features once for the LR baselines
        s_train = [d for e in train for d in sentence_docs[e.post_id]]
        s_dev = [d for e in dev for d in sentence_docs[e.post_id]]
        s_test = [d for e in test for d in sentence_docs[e.post_id]]
        groups, offset = [], 0
        for e in test:
            n = len(sentence_docs[e.post_id])
            groups.append(np.arange(offset, offset + n))
            offset += n
        with threadpool_limits(1):
            vote_model = MeanVectorLogisticRegression(list(THEME_LABELS), vocab=nlp.vocab).fit(
                s_train, [t for e in train for t in e.sentence_themes], s_dev, [t for e in dev for t in e.sentence_themes])
            vote_post, probs = _vote(vote_model, s_test, groups)
            alone = [THEME_LABELS[int(i)] for i in probs.argmax(axis=1)]
            fold["naive_vote"] = {"post": _scores(gold_post, vote_post, THEME_LABELS),
                                  "sentence_theme": _scores(gold_theme, [vote_post[k] for k, g in enumerate(groups)
                                                                          for _ in g], THEME_LABELS),
                                  "sentence_alone": _scores(gold_theme, alone, THEME_LABELS), "lr_C": vote_model.C}
            for key, cls in (("tfidf_lr_post", TfidfLogisticRegression), ("mean_vectors_lr_post", MeanVectorLogisticRegression)):
                kwargs = {"vocab": nlp.vocab} if cls is MeanVectorLogisticRegression else {}
                model = cls(list(THEME_LABELS), **kwargs).fit([e.doc for e in train], [e.label for e in train],
                                                              [e.doc for e in dev], [e.label for e in dev])
                post = model.predict([e.doc for e in test])
                fold[key] = {"post": _scores(gold_post, post, THEME_LABELS),
                             "sentence_theme": _scores(gold_theme, [post[k] for k, g in enumerate(groups) for _ in g],
                                                       THEME_LABELS), "lr_C": model.C}
            for key, cls in (("mean_vectors_lr_sentence", MeanVectorLogisticRegression),
                             ("tfidf_lr_sentence", TfidfLogisticRegression)):
                kwargs = {"vocab": nlp.vocab} if cls is MeanVectorLogisticRegression else {}
                model = cls(list(SENTIMENT_LABELS), **kwargs).fit(
                    s_train, [s for e in train for s in e.sentiments], s_dev, [s for e in dev for s in e.sentiments])
                fold[key] = {"sentiment": _scores(gold_sent, model.predict(s_test), SENTIMENT_LABELS), "lr_C": model.C}
        fold["seconds"] = round(time.perf_counter() - fold_start, 1)
        folds.append(fold)
        if progress:
            print(json.dumps({"run": run.name, "han_post_accuracy": fold["han"]["post"]["accuracy"],
                              "han_sentence_theme_f1": fold["han"]["sentence_theme"]["macro_f1"],
                              "han_sentiment_f1": fold["han"]["sentiment"]["macro_f1"],
                              "vote_post_accuracy": fold["naive_vote"]["post"]["accuracy"],
                              "vote_sentence_theme_f1": fold["naive_vote"]["sentence_theme"]["macro_f1"],
                              "seconds": fold["seconds"]}, ensure_ascii=False), flush=True)
    texts = ["".join(r.text for r in by_article[aid]) for aid in examples]
    speed = _speed(nlp, component, texts)
    stored = stored_sentence_only()
    results = {"protocol": "cv5", "config": str(config_path), "overrides": dict(overrides or {}),
               "settings": {k: v for k, v in vars(settings).items()}, "model": vars(component.options),
               "folds": folds, "summary": summarize(folds, stored), "stored_sentence_only": stored,
               "speed": speed, "attention_sample": sample,
               "seconds": round(time.perf_counter() - started, 1)}
    (out / "results.json").write_text(json.dumps(results, ensure_ascii=False, indent=2), encoding="utf-8")
    with gzip.open(out / "predictions.jsonl.gz", "wt", encoding="utf-8") as f:
        for row in predictions:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    (out / "results.md").write_text(results_markdown(results), encoding="utf-8")
    return results


ROWS = (  # (model key, what, name in the table)
    ("han", "HAN (this work): post head; sentences by their heads in context"),
    ("naive_vote", "naive vote: mean vectors + LR per sentence, summed log-probs"),
    ("tfidf_lr_post", "TF-IDF + LR over the whole post"),
    ("mean_vectors_lr_post", "mean vectors + LR over the whole post"),
)
SENTIMENT_ROWS = (
    ("han", "HAN sentence heads (in context)"),
    ("mean_vectors_lr_sentence", "sentence-only mean vectors + LR (this run)"),
    ("tfidf_lr_sentence", "sentence-only TF-IDF + LR (this run)"),
)


def _ms(values) -> dict:
    values = [v for v in values if v is not None]
    return {"mean": float(np.mean(values)), "std": float(np.std(values)), "n": len(values)} if values else {}


def summarize(folds: list[dict], stored: Mapping[str, Mapping] | None = None) -> dict:
    """Mean and std over folds of every score of every model (``{model: {metric: {mean, std, n}}}``)."""
    summary: dict[str, dict] = {}
    keys = {k for fold in folds for k, v in fold.items() if isinstance(v, dict)}
    for model in sorted(keys):
        metrics: dict[str, list] = {}
        for fold in folds:
            for part, scores in fold[model].items():
                if isinstance(scores, dict):
                    metrics.setdefault(f"{part}_accuracy", []).append(scores["accuracy"])
                    metrics.setdefault(f"{part}_macro_f1", []).append(scores["macro_f1"])
                    for label, f1 in scores["per_class_f1"].items():
                        metrics.setdefault(f"{part}_f1_{label}", []).append(f1)
        summary[model] = {k: _ms(v) for k, v in metrics.items()}
    runs = {fold["run"] for fold in folds}
    for model, by_run in (stored or {}).items():
        rows = [by_run[r] for r in sorted(runs) if r in by_run]
        if rows:
            summary[f"stored_{model}"] = {"sentiment_macro_f1": _ms([r["macro_f1"] for r in rows]),
                                          **{f"sentiment_f1_{label}": _ms([r["per_class_f1"][label] for r in rows])
                                             for label in SENTIMENT_LABELS}}
    return summary


def _cell(summary: dict, model: str, metric: str) -> str:
    value = summary.get(model, {}).get(metric)
    return f"{value['mean']:.3f} ± {value['std']:.3f}" if value else "—"


def results_markdown(results: dict) -> str:
    """The Markdown tables of ``results.json`` (mean ± std over the folds)."""
    s = results["summary"]
    n = len(results["folds"])
    lines = [f"# Posts: the hierarchical attention network on the article-grouped CV ({n} fold(s) of cv5)", "",
             "Made by `knbc evaluate-posts --out reports/posts` "
             f"({results['seconds'] / 60:.1f} min). Mean ± std over folds.", "",
             "## Theme of posts and of sentences in their post", "",
             "| model | post accuracy | post macro-F1 | sentence theme macro-F1 (in context) | sentence alone |",
             "|---|---|---|---|---|"]
    for key, label in ROWS:
        alone = _cell(s, key, "sentence_alone_macro_f1") if key == "naive_vote" else "—"
        lines.append(f"| {label} | {_cell(s, key, 'post_accuracy')} | {_cell(s, key, 'post_macro_f1')} | "
                     f"{_cell(s, key, 'sentence_theme_macro_f1')} | {alone} |")
    lines += ["", "Targets: post accuracy ≥ 0.97 and sentence theme macro-F1 ≥ 0.94 in the same run.", "",
              "## Sentiment of each sentence: in context vs sentence-only", "",
              "| model | macro-F1 | F1 positive | F1 negative | F1 mixed | F1 neutral |", "|---|---|---|---|---|---|"]
    rows = [*SENTIMENT_ROWS, *((f"stored_{k}", f"{v} — stored `knbc evaluate --task sentiment --protocol cv5`")
                               for k, v in STORED_SENTIMENT_MODELS.items())]
    for key, label in rows:
        lines.append(f"| {label} | {_cell(s, key, 'sentiment_macro_f1')} | "
                     + " | ".join(_cell(s, key, f"sentiment_f1_{c}") for c in SENTIMENT_LABELS) + " |")
    sp = results.get("speed")
    if sp:
        lines += ["", "## Speed (whole articles, one process, torch threads: "
                  f"{sp['torch_threads']})", "",
                  "| | posts/s | sentences/s |", "|---|---|---|",
                  f"| tokenizer alone | {sp['tokenizer_posts_per_s']:.1f} | {sp['tokenizer_sentences_per_s']:.1f} |",
                  f"| tokenizer + sentence starts + knbc_post_classifier | {sp['pipeline_posts_per_s']:.1f} | "
                  f"{sp['pipeline_sentences_per_s']:.1f} |", "",
                  f"Ratio pipeline / tokenizer: {sp['ratio']:.2f} (target ≥ 0.5); {sp['posts']} articles, "
                  f"{sp['sentences']} sentences by the simple 。！？ rule, best of {sp['repeats']}."]
    lines += ["", "## Per fold (HAN)", "", "| fold | post acc | sentence theme F1 | sentiment F1 | best epoch | s |",
              "|---|---|---|---|---|---|"]
    for fold in results["folds"]:
        h = fold["han"]
        lines.append(f"| {fold['run']} | {h['post']['accuracy']:.3f} | {h['sentence_theme']['macro_f1']:.3f} | "
                     f"{h['sentiment']['macro_f1']:.3f} | {h['best_epoch']} | {h['train_seconds']} |")
    if results.get("attention_plot"):
        sample = results["attention_sample"]
        lines += ["", "## Which sentences decided", "",
                  f"Sentence attention of one test post ({sample['article_id']}, {sample['run']}: gold "
                  f"{sample['gold']}, predicted {sample['pred']}):", "", f"![attention]({results['attention_plot']})"]
    return "\n".join(lines) + "\n"


