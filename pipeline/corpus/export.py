"""The corpus in the forms users want: pandas DataFrames, JSONL / CSV / Parquet files, spaCy DocBins.

DocBin Docs are tokenized by GiNZA (not the gold JUMAN morphemes) and carry the gold labels:
``doc.cats`` (theme and sentiment, one-hot), ``doc.ents`` (named entities), ``doc.spans["reputation"]``
(評判 expressions, labelled e.g. ``批評+``) and ``doc.user_data["knbc"]`` (ids, position, the 評判
holder and target). Character spans that do not fall on GiNZA token boundaries are widened to the
tokens they touch and counted; a span that still cannot be placed is counted, never dropped silently.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

import pandas as pd
from spacy.language import Language
from spacy.tokens import Doc, DocBin, Span

from pipeline.corpus.labels import SENTIMENT_LABELS, THEME_LABELS
from pipeline.corpus.records import Corpus, SentenceRecord
from pipeline.corpus.splits import Splits
from pipeline.msgpack_cache import cached_msgpack_registries

TABLE_FORMATS = ("jsonl", "csv", "parquet")
REPUTATION_SPANS = "reputation"


def gold_cats(record: SentenceRecord) -> dict[str, float]:
    """One-hot gold categories: the four themes and the four sentiment labels."""
    cats = {label: float(label == record.theme) for label in THEME_LABELS}
    cats.update({label: float(label == record.sentiment) for label in SENTIMENT_LABELS})
    return cats


def _reputation_dicts(record: SentenceRecord) -> list[dict]:
    return [
        {
            "label": r.label,
            "category": r.category,
            "polarity": r.polarity,
            "expression": r.expression,
            "start": r.start,
            "end": r.end,
            "holder": r.holder,
            "target": r.target,
        }
        for r in record.reputations
    ]


def sentence_frame(corpus: Corpus, splits: Splits | None = None) -> pd.DataFrame:
    """One row per sentence: ids, theme, position, texts, labels, entities and 評判 (as lists of dicts)."""
    rows = []
    for r in corpus.sentences:
        polarities = Counter(rep.polarity for rep in r.reputations)
        row = {
            "sid": r.sid,
            "article_id": r.article_id,
            "theme": r.theme,
            "position": r.position,
            "sub_index": r.sub_index,
            "is_title": r.is_title,
            "is_parenthetical": r.is_parenthetical,
            "text": r.text,
            "raw_text": r.raw_text,
            "sentiment": r.sentiment,
            "n_positive": polarities[1],
            "n_negative": polarities[-1],
            "n_unpolar": polarities[0],
            "has_knp": r.knp is not None,
            "n_morphemes": len(r.morphemes),
            "entities": [{"label": e.label, "start": e.start, "end": e.end, "text": e.text} for e in r.entities],
            "reputations": _reputation_dicts(r),
        }
        if splits is not None:
            row["split"] = splits.split_of(r.article_id)
            row["fold"] = splits.fold_of(r.article_id)
        rows.append(row)
    return pd.DataFrame(rows)


def token_frame(corpus: Corpus) -> pd.DataFrame:
    """One row per gold JUMAN morpheme of the model-facing text, with its tag unit and bunsetsu heads.

    ``start``/``end`` are offsets in the sentence's ``text`` (the theme marker left out).
    """
    rows = []
    for r in corpus.sentences:
        if r.knp is None:
            continue
        shift = r.marker_length
        tags, bunsetsu, morphemes = r.knp.tags, r.knp.bunsetsu, r.morphemes
        first = len(r.knp.morphemes) - len(morphemes)  # morphemes of a theme marker come first
        for i, m in enumerate(morphemes):
            tag, chunk = tags[m.tag], bunsetsu[m.bunsetsu]
            rows.append(
                {
                    "sid": r.sid,
                    "index": i,
                    "surface": m.surface,
                    "reading": m.reading,
                    "lemma": m.lemma,
                    "pos": m.pos,
                    "sub_pos": m.sub_pos,
                    "conj_type": m.conj_type,
                    "conj_form": m.conj_form,
                    "start": m.start - shift,
                    "end": m.end - shift,
                    "ne": m.ne or "",
                    "tag": m.tag,
                    "tag_head": tag.head,
                    "tag_dep": tag.dep_type,
                    "bunsetsu": m.bunsetsu,
                    "bunsetsu_head": chunk.head,
                    "bunsetsu_dep": chunk.dep_type,
                    # the tag unit's case / coreference relations, on its first morpheme
                    "cases": ";".join(f"{c.relation}:{c.target}" for c in tag.case_relations)
                    if tag.morpheme_start == first + i
                    else "",
                }
            )
    return pd.DataFrame(rows)


def write_table(frame: pd.DataFrame, path: str | Path, fmt: str) -> Path:
    """Write a frame as JSONL, CSV or Parquet; list columns become JSON strings in CSV."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "jsonl":
        frame.to_json(path, orient="records", lines=True, force_ascii=False)
    elif fmt == "csv":
        flat = frame.copy()
        for column in flat.columns:
            if flat[column].map(lambda v: isinstance(v, list)).any():
                flat[column] = flat[column].map(lambda v: json.dumps(v, ensure_ascii=False))
        flat.to_csv(path, index=False)
    elif fmt == "parquet":
        frame.to_parquet(path, index=False)
    else:
        raise ValueError(f"unknown table format {fmt!r}; expected one of {TABLE_FORMATS}")
    return path


@dataclass
class AlignmentReport:
    """How character spans met GiNZA's tokens: exact, widened to token edges, or not placed."""

    counts: Counter = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        """Human-readable summary lines."""
        lines = []
        for kind in ("entities", "reputations"):
            exact, widened, failed = (self.counts[f"{kind}:{k}"] for k in ("exact", "widened", "failed"))
            lines.append(f"{kind}: {exact} on token edges, {widened} widened to token edges, {failed} not placed")
        lines.append(f"entities overlapping another kept only in doc.spans['ne']: {self.counts['entities:overlap']}")
        return lines


def _char_span(doc: Doc, start: int, end: int, label: str, kind: str, sid: str, report: AlignmentReport) -> Span | None:
    span = doc.char_span(start, end, label=label)
    if span is not None:
        report.counts[f"{kind}:exact"] += 1
        return span
    span = doc.char_span(start, end, label=label, alignment_mode="expand")
    if span is not None and len(span):
        report.counts[f"{kind}:widened"] += 1
        return span
    report.counts[f"{kind}:failed"] += 1
    report.failures.append(f"{sid}: {kind} {label} [{start}:{end}] {doc.text[start:end]!r}")
    return None


def record_to_doc(nlp: Language, record: SentenceRecord, report: AlignmentReport, doc: Doc | None = None) -> Doc:
    """A GiNZA Doc of the record's model text carrying its gold labels (see the module docstring)."""
    doc = doc if doc is not None else nlp.make_doc(record.text)
    doc.cats = gold_cats(record)
    entities = []
    for e in record.entities:
        span = _char_span(doc, e.start, e.end, e.label, "entities", record.sid, report)
        if span is not None:
            entities.append(span)
    doc.spans["ne"] = entities
    kept: list[Span] = []
    for span in sorted(entities, key=lambda s: (s.start, -len(s))):
        if kept and span.start < kept[-1].end:
            report.counts["entities:overlap"] += 1
            continue
        kept.append(span)
    doc.ents = kept
    reputations = []
    for r in record.reputations:
        if r.start is None:
            report.counts["reputations:failed"] += 1
            report.failures.append(f"{record.sid}: reputation {r.label} {r.expression!r} not in the text")
            continue
        span = _char_span(doc, r.start, r.end, r.label, "reputations", record.sid, report)
        if span is not None:
            reputations.append(span)
    doc.spans[REPUTATION_SPANS] = reputations
    doc.user_data["knbc"] = {
        "sid": record.sid,
        "article_id": record.article_id,
        "theme": record.theme,
        "sentiment": record.sentiment,
        "position": record.position,
        "sub_index": record.sub_index,
        "is_title": record.is_title,
        "raw_text": record.raw_text,
        "reputations": _reputation_dicts(record),
    }
    return doc


def records_to_docs(
    nlp: Language, records: Iterable[SentenceRecord], report: AlignmentReport | None = None, batch_size: int = 256
) -> list[Doc]:
    """GiNZA-tokenized Docs with gold labels for many records (tokenized in batches)."""
    records = list(records)
    report = report if report is not None else AlignmentReport()
    docs = nlp.tokenizer.pipe((r.text for r in records), batch_size=batch_size)
    return [record_to_doc(nlp, record, report, doc) for record, doc in zip(records, docs)]


def write_docbins(
    nlp: Language, corpus: Corpus, splits: Splits, out_dir: str | Path
) -> tuple[dict[str, Path], AlignmentReport]:
    """Write ``train.spacy``, ``dev.spacy`` and ``test.spacy`` (the shared article split) to ``out_dir``."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    report = AlignmentReport()
    paths = {}
    for split in ("train", "dev", "test"):
        docs = records_to_docs(nlp, splits.select(corpus.sentences, split), report)
        path = out_dir / f"{split}.spacy"
        with cached_msgpack_registries():
            DocBin(docs=docs, store_user_data=True).to_disk(path)
        paths[split] = path
    return paths, report


def read_docbin(path: str | Path, vocab) -> list[Doc]:
    """The Docs of a ``.spacy`` file (read with srsly's registries cached: several times faster)."""
    with cached_msgpack_registries():
        return list(DocBin().from_disk(path).get_docs(vocab))
