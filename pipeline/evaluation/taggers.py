"""``knbc evaluate-taggers``: the span taggers against spaCy's own ``ner`` / ``spancat``, the BiLSTM-softmax
ablation and (NE) GiNZA's pretrained NER as a zero-shot reference, on the article-grouped folds.

Systems (per task):

* ``bilstm_crf``: ``knbc_tagger`` as in ``models/configs/{task}.cfg``, trained by ``knbc train``'s loop
  (best epoch on the run's dev articles);
* ``bilstm_softmax``: the same with ``crf = false`` (what the CRF adds);
* ``bilstm_crf_elmo`` (only when named in ``systems``): ``models/configs/{task}-pretrained.cfg``, the tagger with
  the pretrained livedoor BiLM's layers as ELMo-style features (``knbc.BiLSTMCRFTagger.v2``), trained the same way;
* ``spacy_ner`` / ``spacy_spancat``: spaCy's quickstart config (``spacy init config --lang ja --pipeline ner
  --optimize accuracy``: tok2vec with ja_ginza's static vectors, the default NER model; for 評判 the
  single-label ``spancat_singlelabel``), GiNZA's tokenizer, trained by ``spacy train`` on the same train / dev
  Docs (``model-best`` kept); spancat's suggester covers span lengths 1..n tokens, n from the run's training
  spans (:func:`suggester_max_length`: 90% of them, n = 15 on every fold; the quickstart's 1..3 covers ~18%),
  and the results say what share of the gold test spans it can produce;
* ``ginza_zero_shot`` (NE only): ja_ginza's own NER, ENE labels mapped to OntoNotes by GiNZA's mapper and
  then to IREX (:data:`ONTONOTES_TO_IREX`); not trained on KNBC, no OPTIONAL.

Scores are computed on character offsets (:func:`pipeline.training.span_metrics.span_scores`), pooled over
the runs' test sentences (each sentence is tested once in cv5). For 評判, each system's spans also give the
sentence's sentiment (:func:`span_sentiment`), scored beside the sentence classifier. Each (run, task, system)
prediction is cached in ``out/cache`` so an interrupted evaluation resumes; ``predictions.jsonl.gz`` keeps
every test sentence's gold and predicted spans.
"""

from __future__ import annotations

import json
import math
import shutil
import time
from collections import defaultdict
from pathlib import Path
from typing import Callable, Sequence

from pipeline.corpus import shipped_corpus
from pipeline.corpus.export import AlignmentReport, records_to_docs
from pipeline.corpus.records import SentenceRecord
from pipeline.corpus.splits import load_splits
from pipeline.errors import UsageError
from pipeline.evaluation.protocols import PROTOCOLS, Run, protocol_runs
from pipeline.training.span_metrics import span_scores
from pipeline.training.tagging import TAGGER_TASKS, gold_target

TASK_SYSTEMS = {
    "ner": ("bilstm_crf", "bilstm_softmax", "spacy_ner", "ginza_zero_shot"),
    "reputation": ("bilstm_crf", "bilstm_softmax", "spacy_spancat"),
}
OPTIONAL_SYSTEMS = ("bilstm_crf_elmo",)  # every task's, run only when named
CONFIG_SUFFIX = {"bilstm_crf": "", "bilstm_softmax": "", "bilstm_crf_elmo": "-pretrained"}  # models/configs/{task}{suffix}.cfg
SPANCAT_COVERAGE = 0.9  # share of the gold 評判 spans spancat's suggester must be able to produce
SPANCAT_MAX_LENGTH = 15  # suggester_max_length of the corpus's gold 評判 spans (GiNZA split C tokens) at 0.9
SPANCAT_NEGATIVE_WEIGHT = 0.2
ONTONOTES_TO_IREX = {"PERSON": "PERSON", "ORG": "ORGANIZATION", "GPE": "LOCATION", "LOC": "LOCATION",
                     "FAC": "LOCATION", "DATE": "DATE", "TIME": "TIME", "MONEY": "MONEY", "PERCENT": "PERCENT",
                     "PRODUCT": "ARTIFACT", "WORK_OF_ART": "ARTIFACT", "LAW": "ARTIFACT"}
CONFIGS = Path(__file__).resolve().parents[2] / "models" / "configs"


def check_args(protocol: str, tasks: Sequence[str], systems: Sequence[str] | None, runs: int | None) -> None:
    if protocol not in PROTOCOLS:
        raise UsageError(f"unknown protocol {protocol!r}; expected one of {list(PROTOCOLS)}")
    unknown = [t for t in tasks if t not in TASK_SYSTEMS]
    if unknown or not tasks:
        raise UsageError(f"unknown task(s) {unknown}; expected some of {list(TASK_SYSTEMS)}")
    known = {s for t in tasks for s in (*TASK_SYSTEMS[t], *OPTIONAL_SYSTEMS)}
    bad = [s for s in systems or [] if s not in known]
    if bad:
        raise UsageError(f"unknown system(s) {bad} for tasks {list(tasks)}; expected some of {sorted(known)}")
    if runs is not None and runs < 1:
        raise UsageError(f"--runs must be at least 1, not {runs}")


# -- the systems ----------------------------------------------------------------------------------------
def _char_spans(doc, key) -> list[list]:
    return [[s.start_char, s.end_char, s.label_] for s in gold_target(doc, key)]


def _train_bilstm(task: str, crf: bool, train: list, dev: list, test: list, log_dir: Path,
                  max_epochs: int | None, shipped_split: bool = False, config_suffix: str = "") -> list[list]:
    """Train the tagger of ``models/configs/{task}{config_suffix}.cfg`` (``crf`` or the softmax ablation) and
    tag ``test``.

    On the shipped split (``shipped_split``) this is ``knbc train models/configs/{task}.cfg`` itself (same data,
    seed and settings, hence the same model): the pipeline is saved in ``log_dir/model`` with its metrics.json,
    and the saved pipeline tags the test sentences."""
    import spacy

    from pipeline.training.settings import read_config
    from pipeline.training.tagging import record_examples, train_tagger
    from pipeline.training.train import tagger_settings, train_from_config

    overrides = {f"components.{task}.model.crf": crf}
    if max_epochs:
        overrides["training.max_epochs"] = max_epochs
    if shipped_split:
        train_from_config(CONFIGS / f"{task}{config_suffix}.cfg", log_dir / "model", overrides, component=task, task=task,
                          progress=False)
        nlp = spacy.load(log_dir / "model")
        return [_char_spans(doc, TAGGER_TASKS[task]) for doc in nlp.pipe(r.text for r in test)]
    config = read_config(CONFIGS / f"{task}{config_suffix}.cfg", overrides)
    nlp = spacy.util.load_model_from_config(config, auto_fill=True, validate=True)
    settings = tagger_settings(config, task)
    train_ex, dev_ex = record_examples(nlp, train), record_examples(nlp, dev)
    train_tagger(nlp, task, train_ex, dev_ex, settings, log_path=log_dir / "train_log.jsonl", progress=False)
    return [_char_spans(doc, TAGGER_TASKS[task]) for doc in nlp.pipe(r.text for r in test)]


def suggester_max_length(lengths: Sequence[int], coverage: float = SPANCAT_COVERAGE) -> int:
    """The smallest n such that at least ``coverage`` of the gold spans (``lengths`` in tokens) are 1..n tokens
    long: the n-gram sizes spancat's suggester needs (it can only label spans it suggests)."""
    if not lengths:
        raise UsageError("no gold spans to size spancat's suggester on")
    if not 0 < coverage <= 1:
        raise UsageError(f"coverage must be in (0, 1], not {coverage}")
    ordered = sorted(lengths)
    return ordered[max(1, math.ceil(coverage * len(ordered) - 1e-9)) - 1]


def suggester_coverage(lengths: Sequence[int], max_length: int) -> float:
    """The share of gold spans (``lengths`` in tokens) that a 1..``max_length`` n-gram suggester can produce."""
    return sum(1 for n in lengths if 1 <= n <= max_length) / len(lengths) if lengths else 0.0


def spacy_baseline_config(task: str, max_epochs: int, max_length: int = SPANCAT_MAX_LENGTH):
    """spaCy's quickstart config (``--optimize accuracy``, CPU) for ``ner`` or ``spancat`` with GiNZA's tokenizer
    and ja_ginza's static vectors; training capped at ``max_epochs`` epochs.

    For 評判 spans the component is spaCy's single-label span categorizer (``spancat_singlelabel``: a softmax over
    the types and "no span", as a 評判 span has one type) with an n-gram suggester of 1..``max_length`` tokens
    (the quickstart's 1..3 covers 18% of the gold spans), ``allow_overlap = false`` (gold 評判 spans hardly
    overlap) and ``negative_weight`` :data:`SPANCAT_NEGATIVE_WEIGHT` (the suggester proposes ~15 candidates per
    token for <1 gold span per sentence; at weight 1 the multi-label spancat stayed at dev F 0.00)."""
    from spacy.cli.init_config import init_config

    if max_length < 1:
        raise UsageError(f"spancat's suggester needs a max length of at least 1 token, not {max_length}")
    component = "ner" if task == "ner" else "spancat_singlelabel"
    config = init_config(lang="ja", pipeline=[component], optimize="accuracy", gpu=False, pretraining=False)
    config["nlp"]["tokenizer"] = {"@tokenizers": "knbc.JapaneseTokenizer.v1", "split_mode": "C"}
    config["paths"]["vectors"] = "ja_ginza"
    config["training"]["max_epochs"] = max_epochs
    config["training"]["max_steps"] = 0
    if component != "ner":
        spancat = config["components"][component]
        spancat["spans_key"] = "reputation"
        spancat["allow_overlap"] = False
        spancat["negative_weight"] = SPANCAT_NEGATIVE_WEIGHT
        spancat["suggester"] = {"@misc": "spacy.ngram_range_suggester.v1", "min_size": 1, "max_size": max_length}
        weights = config["training"]["score_weights"]
        for key in list(weights):
            weights[key.replace("spans_sc_", "spans_reputation_")] = weights.pop(key)
            # null, not absent: spaCy adds the factory's default weights (spans_sc_*) to the config's, so with the
            # key absent model-best and the logged score were half spans_sc_f, a key no doc holds
            weights[key] = None
    return config


def _train_spacy(task: str, train: list, dev: list, test: list, work: Path, max_epochs: int,
                 interrupted: bool = False) -> tuple[list[list], str | None]:
    """Train spaCy's baseline with ``spacy train`` and tag ``test`` with its ``model-best``; returns the
    predictions and a note (None for a full run).

    With ``interrupted`` the training is not run: the ``model-best`` that an interrupted ``spacy train`` left
    in ``work/output`` tags the test sentences, and the note says so and how far it got (the dev F1 spaCy
    recorded for that model-best)."""
    import spacy
    from spacy.cli.train import train as spacy_train
    from spacy.tokens import DocBin

    from pipeline.ginza import blank_japanese

    best = work / "output" / "model-best"
    note = None
    if interrupted:
        if not best.is_dir():
            raise UsageError(f"{best}: no model-best of an interrupted spacy train to use")
        meta = json.loads((best / "meta.json").read_text(encoding="utf-8"))
        note = (f"spacy train interrupted by the time budget before its {max_epochs} epochs; its model-best "
                f"(dev score {meta.get('performance', {}).get('ents_f' if task == 'ner' else 'spans_reputation_f')}) "
                f"tagged the test sentences")
    else:
        tokenizer = blank_japanese()
        work.mkdir(parents=True, exist_ok=True)
        docs = {name: records_to_docs(tokenizer, records, AlignmentReport()) for name, records in
                (("train", train), ("dev", dev))}
        for name, found in docs.items():
            DocBin(docs=found).to_disk(work / f"{name}.spacy")
        max_length = SPANCAT_MAX_LENGTH
        if task != "ner":  # the suggester's sizes from the training spans' lengths
            max_length = suggester_max_length([len(s) for d in docs["train"] for s in d.spans.get("reputation", [])])
        config = spacy_baseline_config(task, max_epochs, max_length)
        config.to_disk(work / "config.cfg")
        spacy_train(work / "config.cfg", work / "output", overrides={"paths.train": str(work / "train.spacy"),
                                                                     "paths.dev": str(work / "dev.spacy")})
    nlp = spacy.load(best)
    key = None if task == "ner" else "reputation"
    predictions = [_char_spans(doc, key) for doc in nlp.pipe(r.text for r in test)]
    shutil.rmtree(work / "output", ignore_errors=True)
    return predictions, note


def ginza_zero_shot(records: Sequence[SentenceRecord], cache: Path) -> dict[str, list[list]]:
    """ja_ginza's NER on ``records``, mapped to IREX types, by sentence id; every sentence is kept in
    ``cache`` (the full pipeline runs ~40 sentences/s), so later runs only process new ones."""
    found = json.loads(cache.read_text(encoding="utf-8")) if cache.is_file() else {}
    missing = [r for r in records if r.sid not in found]
    if missing:
        from ginza.ene_ontonotes_mapper import ENE_ONTONOTES_MAPPING

        from pipeline.ginza import load_ginza

        nlp = load_ginza(tokenizer_only=False)
        for record, doc in zip(missing, nlp.pipe((r.text for r in missing), batch_size=64)):
            spans = []
            for ent in doc.ents:
                label = ONTONOTES_TO_IREX.get(ENE_ONTONOTES_MAPPING.get(ent.label_, ent.label_))
                if label:
                    spans.append([ent.start_char, ent.end_char, label])
            found[record.sid] = spans
        cache.parent.mkdir(parents=True, exist_ok=True)
        cache.write_text(json.dumps(found, ensure_ascii=False), encoding="utf-8")
    return {r.sid: found[r.sid] for r in records}


# -- scoring and the report ------------------------------------------------------------------------------
def polarity(label: str) -> str:
    """The polarity of a 評判 label (``批評+`` -> ``+``, ``メリット-`` -> ``-``), ``""`` for types without one."""
    return label[-1] if label[-1:] in "+-−" and len(label) > 1 else ""


def polarity_accuracy(gold: list[tuple], pred: list[tuple]) -> dict:
    """Of the gold 評判 spans with a polarity that a prediction overlaps (any type), the share whose overlapping
    prediction (the one sharing the most characters) has the same polarity."""
    by_doc = defaultdict(list)
    for p in pred:
        by_doc[p[0]].append(p)
    matched = right = 0
    for g in gold:
        if not polarity(g[3]):
            continue
        best, share = None, 0
        for p in by_doc[g[0]]:
            common = min(g[2], p[2]) - max(g[1], p[1])
            if common > share:
                best, share = p, common
        if best is not None:
            matched += 1
            right += polarity(best[3]) == polarity(g[3])
    return {"accuracy": right / matched if matched else 0.0, "matched": matched}


SENTIMENTS = ("positive", "negative", "mixed", "neutral")
CLASSIFIER_CV5 = ("sentiment-cv5", "bilstm_attention")  # reports/ folder and model of models/sentiment's architecture


def span_sentiment(labels: Sequence[str]) -> str:
    """A sentence's sentiment from the labels of its (predicted) 評判 spans, by the rule that gives the gold
    sentence label (:attr:`SentenceRecord.sentiment`): only ``+`` spans -> positive, only ``-`` -> negative,
    both -> mixed, none (or only 当為 / 要望) -> neutral."""
    found = {polarity(label).replace("−", "-") for label in labels} - {""}
    if found == {"+"}:
        return "positive"
    if found == {"-"}:
        return "negative"
    return "mixed" if found else "neutral"


def sentiment_scores(gold: Sequence[str], pred: Sequence[str]) -> dict:
    """Accuracy, macro-F1 and per-class F1 (with gold support) of sentence sentiment labels."""
    from pipeline.training.metrics import classification_scores

    scores = classification_scores(list(gold), list(pred), SENTIMENTS)
    return {"n": len(gold), "accuracy": scores["accuracy"], "macro_f1": scores["macro_f1"],
            "per_class": {label: {"f1": scores["per_class"][label]["f1"],
                                  "support": scores["per_class"][label]["support"]} for label in SENTIMENTS}}


def classifier_sentiments(protocol: str, plan: Sequence[Run], cache: Path,
                          reports: Path | None = None, model: Path | None = None) -> tuple[dict[str, str], str]:
    """The sentence classifier's label for each test sentence of ``plan``, by sentence id, and where it comes from.

    ``split``: the shipped ``models/sentiment`` (trained on the shipped split's train articles) on the test
    sentences. ``cv5``: the predictions of the same architecture (``bilstm_attention``) trained on the same folds,
    kept in ``reports/sentiment-cv5/predictions.jsonl.gz`` (models/sentiment itself was trained on articles that
    are in the folds' test parts)."""
    root = Path(__file__).resolve().parents[2]
    if protocol == "split":
        path = cache / "sentiment_classifier.json"
        found = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
        missing = [r for run in plan for r in run.test if r.sid not in found]
        if missing:
            import spacy

            import pipeline.components  # noqa: F401  (registers knbc_textcat)

            nlp = spacy.load(model or root / "models" / "sentiment")
            for record, doc in zip(missing, nlp.pipe(r.text for r in missing)):
                found[record.sid] = max(doc.cats, key=doc.cats.get)
            path.write_text(json.dumps(found, ensure_ascii=False), encoding="utf-8")
        return found, "models/sentiment (shipped; trained on the shipped split)"
    folder, name = CLASSIFIER_CV5
    path = (reports or root / "reports") / folder / "predictions.jsonl.gz"
    if not path.is_file():
        raise UsageError(f"{path}: no sentence classifier predictions for protocol {protocol} "
                         f"(run knbc evaluate --task sentiment --protocol {protocol} first)")
    import gzip

    wanted = {(run.name, r.sid) for run in plan for r in run.test}
    found = {}
    with gzip.open(path, "rt", encoding="utf-8") as lines:
        for line in lines:
            row = json.loads(line)
            if row["model"] == name and (row["run"], row["sid"]) in wanted:
                found[row["sid"]] = row["pred"]
    lacking = len(wanted) - len(found)
    if lacking:
        raise UsageError(f"{path}: {lacking} of the {len(wanted)} test sentences have no {name} prediction "
                         f"(the folds differ?)")
    return found, f"{name} (the architecture of models/sentiment) trained on the same folds, from reports/{folder}"


def sentence_sentiment(tested: Sequence[SentenceRecord], pred_by_sid: dict[str, list]) -> dict:
    """:func:`span_sentiment` of each tested sentence's predicted spans scored against its gold sentiment."""
    return sentiment_scores([r.sentiment for r in tested],
                            [span_sentiment([s[2] for s in pred_by_sid.get(r.sid, [])]) for r in tested])


def common_errors(gold: list[tuple], pred: list[tuple], texts: dict[int, str], top: int = 3) -> dict:
    """Per type, the most common kinds of error with up to ``top`` examples each: ``missed`` (no prediction
    overlaps), ``spurious`` (overlaps no gold span), ``boundary`` (same type, other offsets), ``type`` (a
    prediction overlapping with another type)."""
    gold_set, pred_set = set(gold), set(pred)
    errors: dict = defaultdict(lambda: defaultdict(list))

    def overlapping(span, others):
        return [o for o in others if o[0] == span[0] and o[1] < span[2] and span[1] < o[2]]

    pred_by, gold_by = defaultdict(list), defaultdict(list)
    for p in pred:
        pred_by[p[0]].append(p)
    for g in gold:
        gold_by[g[0]].append(g)
    for g in gold:
        if g in pred_set:
            continue
        hits = overlapping(g, pred_by[g[0]])
        text = texts[g[0]]
        if not hits:
            errors[g[3]]["missed"].append(f"{text[g[1]:g[2]]} | {text}")
        elif any(h[3] == g[3] for h in hits):
            h = next(h for h in hits if h[3] == g[3])
            errors[g[3]]["boundary"].append(f"gold {text[g[1]:g[2]]} / predicted {text[h[1]:h[2]]} | {text}")
        else:
            errors[g[3]]["type"].append(f"{text[g[1]:g[2]]} predicted {hits[0][3]} | {text}")
    for p in pred:
        if p not in gold_set and not overlapping(p, gold_by[p[0]]):
            text = texts[p[0]]
            errors[p[3]]["spurious"].append(f"{text[p[1]:p[2]]} | {text}")
    return {label: {kind: {"count": len(items), "examples": [e[:120] for e in items[:top]]}
                    for kind, items in sorted(kinds.items(), key=lambda kv: -len(kv[1]))}
            for label, kinds in sorted(errors.items())}


def _spans(records: Sequence[SentenceRecord], spans_by_sid: dict[str, list]) -> list[tuple]:
    return [(i, s[0], s[1], s[2]) for i, r in enumerate(records) for s in spans_by_sid.get(r.sid, [])]


def score_system(task: str, tested: list[SentenceRecord], gold_by_sid: dict, pred_by_sid: dict,
                 per_run: list[dict]) -> dict:
    gold, pred = _spans(tested, gold_by_sid), _spans(tested, pred_by_sid)
    labels = sorted({s[3] for s in gold})
    result = {"scores": span_scores(gold, pred, labels), "runs": per_run,
              "errors": common_errors(gold, pred, {i: r.text for i, r in enumerate(tested)})}
    if task == "reputation":
        result["polarity"] = polarity_accuracy(gold, pred)
    return result


def evaluate_taggers(out: str | Path, protocol: str = "split", tasks: Sequence[str] = ("ner", "reputation"),
                     systems: Sequence[str] | None = None, runs: int | None = None, max_epochs: int | None = None,
                     spacy_max_epochs: int = 20, log: Callable[[str], None] = print,
                     spacy_interrupted: bool = False, folds: Sequence[str] | None = None,
                     train_fraction: float = 1.0) -> dict:
    """Train and score every system of ``tasks`` on each run of ``protocol``; write ``results.json`` and
    ``results.md`` to ``out`` (after each system, so a partial run shows what finished) and return the results.

    ``spacy_interrupted``: spaCy's baselines are not trained; the ``model-best`` an interrupted run of this
    evaluation left behind tags the test sentences, and the results say so."""
    tasks = list(tasks)
    check_args(protocol, tasks, systems, runs)
    out = Path(out)
    if not 0.0 < train_fraction <= 1.0:
        raise UsageError(f"--train-fraction must be in (0, 1], not {train_fraction}")
    cache = out / ("cache" if train_fraction == 1.0 else f"cache-f{train_fraction:g}")
    cache.mkdir(parents=True, exist_ok=True)
    corpus, splits = shipped_corpus(), load_splits()
    plan = protocol_runs(corpus.sentences, splits, protocol, runs, train_fraction=train_fraction)
    if folds:
        names = [run.name for run in plan]
        unknown = [name for name in folds if name not in names]
        if unknown:
            raise UsageError(f"unknown fold(s) {unknown} for protocol {protocol!r}; expected some of {names}")
        plan = [run for run in plan if run.name in folds]
    from pipeline.ginza import blank_japanese

    gold_docs = records_to_docs(blank_japanese(), corpus.sentences, AlignmentReport())
    gold = {task: {r.sid: _char_spans(doc, TAGGER_TASKS[task]) for r, doc in zip(corpus.sentences, gold_docs)}
            for task in tasks}
    results: dict = {"protocol": protocol, "runs": [run.name for run in plan], "train_fraction": train_fraction,
                     "systems": {}, "seconds": {}}
    rows: list[dict] = []  # every test sentence's predicted spans, for predictions.jsonl.gz
    for task in tasks:
        known = (*TASK_SYSTEMS[task], *OPTIONAL_SYSTEMS)
        for system in [s for s in systems or TASK_SYSTEMS[task] if s in known]:  # in the order given
            predicted: dict[str, list] = {}
            per_run, tested = [], []
            for run in plan:
                path = cache / f"{run.name}-{task}-{system}.json"
                if path.is_file():
                    entry = json.loads(path.read_text(encoding="utf-8"))
                else:
                    log(f"{run.name} {task} {system}: training and predicting {len(run.test)} test sentences")
                    started = time.perf_counter()
                    spans = _run_system(task, system, run, cache, max_epochs, spacy_max_epochs, corpus.sentences,
                                        spacy_interrupted)
                    note = None
                    if isinstance(spans, tuple):
                        spans, note = spans
                    entry = {"spans": dict(zip((r.sid for r in run.test), spans)),
                             "seconds": round(time.perf_counter() - started, 1), "note": note}
                    path.write_text(json.dumps(entry, ensure_ascii=False), encoding="utf-8")
                predicted.update(entry["spans"])
                rows += [{"run": run.name, "task": task, "system": system, "sid": r.sid,
                          "gold": gold[task][r.sid], "pred": entry["spans"].get(r.sid, [])} for r in run.test]
                tested.extend(run.test)
                run_scores = span_scores(_spans(run.test, gold[task]), _spans(run.test, entry["spans"]),
                                         sorted({s[2] for r in run.test for s in gold[task][r.sid]}))
                per_run.append({"run": run.name, "seconds": entry["seconds"], "note": entry.get("note"),
                                "exact_micro_f": run_scores["exact"]["micro"]["f"],
                                "overlap_micro_f": run_scores["overlap"]["micro"]["f"]})
                log(f"{run.name} {task} {system}: exact F {run_scores['exact']['micro']['f']:.4f}, "
                    f"overlap F {run_scores['overlap']['micro']['f']:.4f} ({entry['seconds']} s)")
            results["systems"].setdefault(task, {})[system] = score_system(task, tested, gold[task], predicted, per_run)
            if task == "reputation":
                results["systems"][task][system]["sentence_sentiment"] = sentence_sentiment(tested, predicted)
                if system == "spacy_spancat":
                    results["systems"][task][system]["suggester"] = _suggester_report(plan, tested, gold_docs,
                                                                                      corpus.sentences)
                if "sentence_classifier" not in results:
                    results["sentence_classifier"] = _classifier_scores(protocol, plan, tested, cache)
            if system == "bilstm_crf":
                results.setdefault("renderings", {})[task] = write_renderings(task, tested, gold[task], predicted, out)
            write_results(results, out)
            write_predictions(rows, out)
    return results


def _suggester_report(plan: list[Run], tested: list[SentenceRecord], gold_docs: list, sentences: list) -> dict:
    """The n-gram sizes spancat's suggester had in each run (from its training spans' lengths, as
    :func:`_train_spacy` sets them) and the share of the tested gold 評判 spans those sizes can produce (and the
    quickstart's 1..3)."""
    lengths = {r.sid: [len(s) for s in doc.spans.get("reputation", [])] for r, doc in zip(sentences, gold_docs)}
    sizes = {run.name: suggester_max_length([n for r in run.train for n in lengths[r.sid]]) for run in plan}
    covered = total = quickstart = 0
    for run in plan:
        for r in run.test:
            total += len(lengths[r.sid])
            covered += sum(1 for n in lengths[r.sid] if n <= sizes[run.name])
            quickstart += sum(1 for n in lengths[r.sid] if n <= 3)
    return {"max_length": sizes, "test_gold_spans": total, "test_coverage": covered / total if total else 0.0,
            "quickstart_1_3_coverage": quickstart / total if total else 0.0}


def _classifier_scores(protocol: str, plan: list[Run], tested: list[SentenceRecord], cache: Path) -> dict:
    """The sentence classifier's sentiment scores on ``tested`` (a note instead where it has no predictions)."""
    try:
        by_sid, source = classifier_sentiments(protocol, plan, cache)
    except UsageError as error:
        return {"note": str(error)}
    return {"source": source, **sentiment_scores([r.sentiment for r in tested], [by_sid[r.sid] for r in tested])}


RENDERED = 6  # test sentences rendered per task (the first ones with a gold span)


def write_renderings(task: str, tested: list[SentenceRecord], gold: dict, predicted: dict, out: Path) -> str:
    """displaCy renderings (``ent`` for NEs, ``span`` for 評判) of the first :data:`RENDERED` test sentences that
    have gold spans, gold above predicted, as ``displacy-{task}.html`` in ``out``; returns the file name."""
    from spacy import displacy

    from pipeline.ginza import blank_japanese

    nlp = blank_japanese()
    key = TAGGER_TASKS[task]
    chosen = [r for r in tested if gold.get(r.sid)][:RENDERED]
    parts = []
    for record in chosen:
        for title, spans in (("gold", gold[record.sid]), ("BiLSTM-CRF", predicted.get(record.sid, []))):
            doc = nlp.make_doc(record.text)
            found = [doc.char_span(a, b, label=label, alignment_mode="expand") for a, b, label in spans]
            found = [f for f in found if f is not None]
            if key is None:
                from spacy.util import filter_spans

                doc.ents = filter_spans(found)
                html = displacy.render(doc, style="ent", page=False, jupyter=False)
            else:
                doc.spans[key] = found
                html = displacy.render(doc, style="span", page=False, jupyter=False, options={"spans_key": key})
            parts.append(f"<h4>{record.sid} ({title})</h4>{html}")
    name = f"displacy-{task}.html"
    (out / name).write_text("<!DOCTYPE html><html><head><meta charset='utf-8'></head><body>" + "".join(parts)
                            + "</body></html>", encoding="utf-8")
    return name


def _run_system(task, system, run: Run, cache: Path, max_epochs, spacy_max_epochs, sentences,
                spacy_interrupted: bool = False):
    if system in CONFIG_SUFFIX:
        log_dir = cache / f"{run.name}-{task}-{system}"
        log_dir.mkdir(parents=True, exist_ok=True)
        return _train_bilstm(task, system != "bilstm_softmax", run.train, run.dev, run.test, log_dir, max_epochs,
                             shipped_split=run.name == "split", config_suffix=CONFIG_SUFFIX[system])
    if system in ("spacy_ner", "spacy_spancat"):
        spans, note = _train_spacy(task, run.train, run.dev, run.test, cache / f"{run.name}-{task}-{system}",
                                   spacy_max_epochs, interrupted=spacy_interrupted)
        return (spans, note) if note else spans
    if system == "ginza_zero_shot":
        found = ginza_zero_shot(run.test, cache / "ginza_zero_shot_sentences.json")
        return [found[r.sid] for r in run.test]
    raise UsageError(f"unknown system {system!r}")


LABELS = {"bilstm_crf": "BiLSTM-CRF (ours)", "bilstm_softmax": "BiLSTM-softmax (ablation)",
          "bilstm_crf_elmo": "BiLSTM-CRF + livedoor BiLM features (ELMo-style)",
          "spacy_ner": "spaCy ner (tok2vec + ja_ginza vectors)", "spacy_spancat": "spaCy spancat (tok2vec + ja_ginza vectors)",
          "ginza_zero_shot": "GiNZA ja_ginza NER, zero-shot (mapped to IREX)"}


def write_predictions(rows: list[dict], out: Path) -> None:
    """``predictions.jsonl.gz``: a line per (run, task, system, test sentence) with its gold and predicted
    character spans ``[start, end, label]``."""
    import gzip

    with gzip.open(out / "predictions.jsonl.gz", "wt", encoding="utf-8") as f:
        f.writelines(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)


def write_results(results: dict, out: Path) -> None:
    """``results.json`` and ``results.md`` (tables per task: micro / macro P R F exact and overlap, per type,
    polarity accuracy, the most common errors)."""
    (out / "results.json").write_text(json.dumps(results, ensure_ascii=False, indent=1), encoding="utf-8")
    lines = [f"# Span taggers: protocol {results['protocol']} (runs: {', '.join(results['runs'])})", "",
             "Scores pooled over the runs' test sentences; character offsets; `overlap`: a span shares at least "
             "one character with one of the same type.", ""]
    for task, systems in results["systems"].items():
        lines += [f"## {'Named entities' if task == 'ner' else '評判 expressions'}", "",
                  "| system | exact P | exact R | exact F (micro) | exact F (macro) | overlap P | overlap R | "
                  "overlap F (micro) | overlap F (macro) | train+predict s (per run) |"
                  + (" polarity acc. (matched) |" if task == "reputation" else ""),
                  "|---" * (10 + (task == "reputation")) + "|"]
        for name, r in systems.items():
            e, o = r["scores"]["exact"], r["scores"]["overlap"]
            seconds = ", ".join(str(x["seconds"]) for x in r["runs"])
            row = (f"| {LABELS.get(name, name)} | {e['micro']['p']:.3f} | {e['micro']['r']:.3f} | **{e['micro']['f']:.3f}** | "
                   f"{e['macro']['f']:.3f} | {o['micro']['p']:.3f} | {o['micro']['r']:.3f} | **{o['micro']['f']:.3f}** | "
                   f"{o['macro']['f']:.3f} | {seconds} |")
            if task == "reputation":
                row += f" {r['polarity']['accuracy']:.3f} ({r['polarity']['matched']}) |"
            lines.append(row)
        for name, r in systems.items():
            if "suggester" in r:
                g = r["suggester"]
                lines.append(f"\n{LABELS.get(name, name)}: n-gram suggester of 1..{'/'.join(str(v) for v in sorted(set(g['max_length'].values())))} "
                             f"tokens (sized on each run's training spans to cover {SPANCAT_COVERAGE:.0%} of them); it "
                             f"can produce {g['test_coverage']:.1%} of the {g['test_gold_spans']} gold test spans "
                             f"(the quickstart's 1..3: {g['quickstart_1_3_coverage']:.1%}).")
            for x in r["runs"]:
                if x.get("note"):
                    lines.append(f"\n{LABELS.get(name, name)}, {x['run']}: {x['note']}.")
        names = list(systems)
        types = sorted({t for r in systems.values() for t in r["scores"]["exact"]["per_type"]})
        lines += ["", "Per type, F1 exact / overlap (gold count):", "",
                  "| type | n | " + " | ".join(LABELS.get(n, n) for n in names) + " |", "|---" * (2 + len(names)) + "|"]
        for t in types:
            n = systems[names[0]]["scores"]["exact"]["per_type"][t]["n_gold"]
            cells = [f"{systems[s]['scores']['exact']['per_type'][t]['f']:.3f} / "
                     f"{systems[s]['scores']['overlap']['per_type'][t]['f']:.3f}" for s in names]
            lines.append(f"| {t} | {n} | " + " | ".join(cells) + " |")
        if results.get("renderings", {}).get(task):
            lines += ["", f"displaCy renderings of test sentences, gold and predicted: [{results['renderings'][task]}]"
                      f"({results['renderings'][task]})"]
        for name in names:
            if name not in ("bilstm_crf",):
                continue
            lines += ["", f"Most common errors of {LABELS[name]} per type (count; up to 3 examples, `span | sentence`):", ""]
            for label, kinds in systems[name]["errors"].items():
                top = list(kinds.items())[:2]
                for kind, info in top:
                    examples = "; ".join(x.replace("|", "｜") for x in info["examples"])
                    lines.append(f"- **{label}** {kind} ×{info['count']}: {examples}")
        if task == "reputation":
            lines += sentiment_lines(results, systems)
        lines.append("")
    (out / "results.md").write_text("\n".join(lines) + "\n", encoding="utf-8")


def sentiment_lines(results: dict, systems: dict) -> list[str]:
    """results.md's table of sentence sentiment from predicted 評判 spans beside the sentence classifier."""
    rows = [(LABELS.get(name, name) + ": spans -> sentence", r["sentence_sentiment"])
            for name, r in systems.items() if "sentence_sentiment" in r]
    classifier = results.get("sentence_classifier", {})
    if "macro_f1" in classifier:
        rows.append((f"sentence classifier: {classifier['source']}", classifier))
    if not rows:
        return []
    support = rows[0][1]["per_class"]
    lines = ["", "### Sentence sentiment from the predicted 評判 spans", "",
             "Rule (the one that makes the gold sentence label from the gold spans): only + spans -> positive, only − "
             "-> negative, both -> mixed, none or only 当為 / 要望 -> neutral; scored against the gold label of the "
             f"same {rows[0][1]['n']} test sentences.", "",
             "| system | accuracy | macro-F1 | " + " | ".join(f"F1 {c} (n={support[c]['support']})" for c in SENTIMENTS)
             + " |", "|---" * (3 + len(SENTIMENTS)) + "|"]
    for name, r in rows:
        lines.append(f"| {name} | {r['accuracy']:.3f} | **{r['macro_f1']:.3f}** | "
                     + " | ".join(f"{r['per_class'][c]['f1']:.3f}" for c in SENTIMENTS) + " |")
    if classifier.get("note"):
        lines += ["", f"Sentence classifier: {classifier['note']}."]
    return lines
