"""Training data and the training loop of the span taggers (``knbc_tagger``): KNBC named entities and 評判
expressions on the shipped split, or a user's DocBin / JSONL ``{"text", "spans": [{"start", "end", "label"}]}``
(character offsets, spaCy's convention).

Character spans that do not fall on token edges are widened to the tokens they touch; what cannot be
placed at all is counted and reported (:class:`SpanAlignment`), never dropped silently.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from spacy.language import Language
from spacy.tokens import Doc
from spacy.training import Example

from pipeline.corpus.export import REPUTATION_SPANS, AlignmentReport, records_to_docs
from pipeline.corpus.records import SentenceRecord
from pipeline.errors import DataError
from pipeline.training.loop import TrainResult, TrainSettings, length_bucketed_batches, run_epochs
from pipeline.training.span_metrics import span_scores

TAGGER_TASKS = {"ner": None, "reputation": REPUTATION_SPANS}  # KNBC task -> spans_key (None: doc.ents)
TAGGER_METRICS = ("f", "overlap_f")  # the dev scores a run can select its epoch by ({component}_f, ...)


@dataclass
class SpanAlignment:
    """How a user file's character spans met the tokens: on token edges, widened to them, or not placed."""

    counts: Counter = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)

    def summary(self) -> dict:
        return {"exact": self.counts["exact"], "widened": self.counts["widened"], "not_placed": self.counts["failed"],
                "overlapping": self.counts["overlap"], "examples_not_placed": self.failures[:20]}


def gold_target(doc: Doc, spans_key: str | None) -> list:
    return list(doc.ents) if spans_key is None else list(doc.spans.get(spans_key, []))


def _unannotated(gold: Doc) -> Doc:
    doc = gold.copy()
    doc.ents = []
    doc.spans.clear()
    doc.cats = {}
    return doc


def record_examples(nlp: Language, records: Sequence[SentenceRecord], report: AlignmentReport | None = None) -> list[Example]:
    """Examples of KNBC sentences tokenized by ``nlp``: the reference carries the gold ``doc.ents`` and
    ``doc.spans["reputation"]`` (pipeline.corpus.export), the predicted Doc the same tokens unannotated."""
    report = report if report is not None else AlignmentReport()
    return [Example(_unannotated(gold), gold) for gold in records_to_docs(nlp, records, report)]


def read_span_jsonl(nlp: Language, path: str | Path, spans_key: str | None, alignment: SpanAlignment) -> list[Example]:
    """Examples from JSONL lines ``{"text": str, "spans": [{"start": int, "end": int, "label": str}, ...]}``.

    Every bad line is a :class:`DataError` naming the file and line. Spans go to ``doc.ents`` (overlaps
    resolved as spaCy does and counted) or ``doc.spans[spans_key]``.
    """
    from spacy.util import filter_spans

    path = Path(path)
    rows = []
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{path}:{lineno}"
        try:
            row = json.loads(line)
        except json.JSONDecodeError as err:
            raise DataError(f"{where}: not a JSON object: {err.msg}") from None
        if not isinstance(row, dict) or not isinstance(row.get("text"), str) or not row["text"].strip():
            raise DataError(f"{where}: expected an object with a non-empty string 'text'")
        spans = row.get("spans", [])
        if not isinstance(spans, list):
            raise DataError(f"{where}: 'spans' must be a list of {{start, end, label}} objects")
        for i, span in enumerate(spans):
            ok = isinstance(span, dict) and all(isinstance(span.get(k), int) and not isinstance(span.get(k), bool)
                                                for k in ("start", "end"))
            if not ok or not isinstance(span.get("label"), str) or not span["label"]:
                raise DataError(f"{where}: span {i} must be {{\"start\": int, \"end\": int, \"label\": str}}, not {span!r}")
            if not 0 <= span["start"] < span["end"] <= len(row["text"]):
                raise DataError(f"{where}: span {i} [{span['start']}:{span['end']}] is not inside the "
                                f"text ({len(row['text'])} characters)")
        rows.append((row["text"], spans, where))
    if not rows:
        raise DataError(f"{path}: no examples")
    examples = []
    for (text, spans, where), doc in zip(rows, nlp.tokenizer.pipe(t for t, _, _ in rows)):
        gold = doc.copy()
        placed = []
        for span in spans:
            found = gold.char_span(span["start"], span["end"], label=span["label"])
            kind = "exact"
            if found is None:
                found = gold.char_span(span["start"], span["end"], label=span["label"], alignment_mode="expand")
                kind = "widened"
            if found is None or not len(found):
                alignment.counts["failed"] += 1
                alignment.failures.append(f"{where}: {span['label']} [{span['start']}:{span['end']}] "
                                          f"{text[span['start']:span['end']]!r}")
                continue
            alignment.counts[kind] += 1
            placed.append(found)
        if spans_key is None:
            kept = filter_spans(placed)
            alignment.counts["overlap"] += len(placed) - len(kept)
            gold.ents = kept
        else:
            gold.spans[spans_key] = placed
        examples.append(Example(_unannotated(gold), gold))
    return examples


def read_span_docbin(nlp: Language, path: str | Path, spans_key: str | None, alignment: SpanAlignment) -> list[Example]:
    """Examples from a ``.spacy`` DocBin whose Docs carry gold ``doc.ents`` or ``doc.spans[spans_key]``,
    retokenized by ``nlp``; gold spans that do not map onto its tokens are counted as not placed."""
    from pipeline.corpus.export import read_docbin

    examples = []
    for i, gold in enumerate(read_docbin(path, nlp.vocab)):
        example = Example(nlp.make_doc(gold.text), gold)
        spans = gold_target(gold, spans_key)
        aligned = example.get_aligned_spans_y2x(spans, allow_overlap=True)
        placed = {(s.start_char, s.end_char, s.label_) for s in aligned}
        for span in spans:
            if (span.start_char, span.end_char, span.label_) in placed:
                alignment.counts["exact"] += 1
            else:
                alignment.counts["failed"] += 1
                alignment.failures.append(f"{path}: Doc {i}: {span.label_} {span.text!r}")
        examples.append(example)
    if not examples:
        raise DataError(f"{path}: no examples")
    return examples


def read_span_file(nlp: Language, path: str | Path, spans_key: str | None, alignment: SpanAlignment) -> list[Example]:
    """A user's span data: ``.jsonl`` or ``.spacy``."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    if path.suffix == ".jsonl":
        return read_span_jsonl(nlp, path, spans_key, alignment)
    if path.suffix == ".spacy":
        return read_span_docbin(nlp, path, spans_key, alignment)
    raise DataError(f"{path}: expected a .jsonl file ({{\"text\", \"spans\": [...]}}) or a .spacy DocBin")


def doc_spans(docs: Sequence[Doc], spans_key: str | None) -> list[tuple]:
    """``(doc_index, start_char, end_char, label)`` of the target spans of every Doc."""
    return [(i, s.start_char, s.end_char, s.label_) for i, doc in enumerate(docs) for s in gold_target(doc, spans_key)]


def tagger_scores(nlp: Language, component: str, examples: Sequence[Example]) -> dict:
    """Exact and overlap span scores of ``component`` on copies of the examples' predicted Docs, keyed
    ``{component}_p/_r/_f`` (exact, micro), ``{component}_overlap_f``, ``{component}_macro_f`` and
    ``{component}_per_type`` (exact)."""
    pipe = nlp.get_pipe(component)
    key = pipe.spans_key
    docs = list(pipe.pipe(eg.predicted.copy() for eg in examples))
    scores = span_scores(doc_spans([eg.reference for eg in examples], key), doc_spans(docs, key), pipe.labels)
    exact, overlap = scores["exact"], scores["overlap"]
    return {f"{component}_p": exact["micro"]["p"], f"{component}_r": exact["micro"]["r"],
            f"{component}_f": exact["micro"]["f"], f"{component}_overlap_f": overlap["micro"]["f"],
            f"{component}_macro_f": exact["macro"]["f"],
            f"{component}_per_type": {k: v["f"] for k, v in exact["per_type"].items()}}


def train_tagger(nlp: Language, component: str, train: Sequence[Example], dev: Sequence[Example],
                 settings: TrainSettings, log_path: str | Path | None = None, progress: bool = True) -> TrainResult:
    """Initialize and train ``nlp``'s tagger ``component`` on ``train``, keeping its best epoch on ``dev``
    (``{component}_{settings.metric}``); the other components are left untouched."""
    from spacy.util import fix_random_seed
    from thinc.api import Adam
    from tqdm.auto import tqdm

    if not train:
        raise DataError("no training examples")
    if not dev:
        raise DataError("no dev examples: early stopping needs a dev set")
    if settings.metric not in TAGGER_METRICS:
        raise DataError(f"a tagger selects its epoch by one of {[f'{component}_{m}' for m in TAGGER_METRICS]}, "
                        f"not {component}_{settings.metric}")
    fix_random_seed(settings.seed)
    pipe = nlp.get_pipe(component)
    pipe.initialize(lambda: train, nlp=nlp)
    if not pipe.labels:
        raise DataError("the training data hold no spans to learn")
    optimizer = Adam(settings.learn_rate, grad_clip=settings.grad_clip, L2=settings.L2, use_averages=False)
    others = [name for name in nlp.pipe_names if name != component]
    rng = random.Random(settings.seed)
    order = list(train)

    def train_epoch(epoch: int) -> float:
        rng.shuffle(order)
        losses: dict[str, float] = {}
        batches = length_bucketed_batches(order, settings.batch_size, rng)
        bar = tqdm(batches, desc=f"{component} epoch {epoch}", leave=False, disable=not progress)
        for batch in bar:
            nlp.update(batch, sgd=optimizer, losses=losses, exclude=others)
        return losses.get(component, 0.0)

    return run_epochs(f"{component}_{settings.metric}", settings, train_epoch,
                      evaluate=lambda: tagger_scores(nlp, component, dev),
                      snapshot=pipe.to_bytes, restore=pipe.from_bytes, log_path=log_path, progress=progress)
