"""Training data for the text classifiers: the KNBC tasks on the shared splits, or a user's own files.

Every source ends as spaCy ``Example``s whose reference ``doc.cats`` hold exactly one task's labels
(one-hot), which is what a single-label classifier trains on.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Iterable, Sequence

import pandas as pd
from spacy.language import Language
from spacy.tokens import Doc
from spacy.training import Example
from spacy.util import registry

from pipeline.corpus.labels import SENTIMENT_LABELS, THEME_LABELS
from pipeline.corpus.records import SentenceRecord
from pipeline.errors import DataError, UsageError

TASKS: dict[str, tuple[str, ...]] = {"theme": THEME_LABELS, "sentiment": SENTIMENT_LABELS}


def record_label(record: SentenceRecord, task: str) -> str:
    """A KNBC sentence's gold label for ``task`` ('theme' or 'sentiment')."""
    if task not in TASKS:
        raise UsageError(f"unknown task {task!r}; expected one of {sorted(TASKS)}")
    return record.theme if task == "theme" else record.sentiment


def make_examples(docs: Iterable[Doc], labels: Iterable[str], label_set: Sequence[str]) -> list[Example]:
    """Examples whose reference cats are the one-hot ``label`` over ``label_set``."""
    examples = []
    for doc, label in zip(docs, labels):
        reference = doc.copy()
        reference.cats = {name: float(name == label) for name in label_set}
        examples.append(Example(doc, reference))
    return examples


def task_examples(nlp: Language, records: Sequence[SentenceRecord], task: str) -> list[Example]:
    """Examples of a KNBC task for some sentences, tokenized by ``nlp``'s tokenizer."""
    docs = nlp.tokenizer.pipe(r.text for r in records)
    return make_examples(docs, (record_label(r, task) for r in records), TASKS[task])


def read_labelled_texts(path: str | Path, text_field: str = "text", label_field: str = "label") -> list[tuple[str, str]]:
    """(text, label) pairs from a JSONL or CSV file; every bad line or row is an error naming it."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    pairs: list[tuple[str, str]] = []
    if path.suffix == ".jsonl":
        for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as err:
                raise DataError(f"{path}:{lineno}: not a JSON object: {err.msg}") from None
            pairs.append(_pair(row, text_field, label_field, f"{path}:{lineno}"))
    elif path.suffix == ".csv":
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
        missing = {text_field, label_field} - set(frame.columns)
        if missing:
            raise DataError(f"{path}: missing column(s) {sorted(missing)}; found {list(frame.columns)}")
        for i, row in enumerate(frame.to_dict("records"), start=2):
            pairs.append(_pair(row, text_field, label_field, f"{path}:{i}"))
    else:
        raise DataError(f"{path}: expected a .jsonl or .csv file (or a .spacy DocBin)")
    if not pairs:
        raise DataError(f"{path}: no examples")
    return pairs


def _pair(row: object, text_field: str, label_field: str, where: str) -> tuple[str, str]:
    if not isinstance(row, dict):
        raise DataError(f"{where}: expected an object with {text_field!r} and {label_field!r}")
    text, label = row.get(text_field), row.get(label_field)
    if not isinstance(text, str) or not text.strip():
        raise DataError(f"{where}: {text_field!r} must be a non-empty string, found {text!r}")
    if not isinstance(label, str) or not label:
        raise DataError(f"{where}: {label_field!r} must be a non-empty string, found {label!r}")
    return text, label


def labelled_texts_to_examples(nlp: Language, pairs: Sequence[tuple[str, str]], label_set: Sequence[str]) -> list[Example]:
    """Examples from (text, label) pairs; ``label_set`` fixes the order of labels."""
    docs = nlp.tokenizer.pipe(text for text, _ in pairs)
    return make_examples(docs, (label for _, label in pairs), label_set)


def docbin_examples(nlp: Language, path: str | Path, label_set: Sequence[str] | None = None) -> list[Example]:
    """Examples from a ``.spacy`` DocBin whose Docs carry single-label ``doc.cats``.

    With ``label_set``, only those labels are kept (the KNBC DocBins carry theme and sentiment
    labels together). Each Doc must then have exactly one of them at 1.0.
    """
    from pipeline.corpus.export import read_docbin

    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    examples = []
    for i, gold in enumerate(read_docbin(path, nlp.vocab)):
        cats = {k: v for k, v in gold.cats.items() if label_set is None or k in label_set}
        if sorted(cats.values()) != [0.0] * (len(cats) - 1) + [1.0]:
            raise DataError(f"{path}: Doc {i} ({gold.text[:30]!r}) needs exactly one label at 1.0, has {cats}")
        reference = gold.copy()
        reference.cats = cats if label_set is None else {label: cats.get(label, 0.0) for label in label_set}
        examples.append(Example(nlp.make_doc(gold.text), reference))
    return examples


@registry.readers("knbc.TaskCorpus.v1")
def create_task_corpus(path: str, task: str):
    """A spaCy corpus reader for configs: a KNBC DocBin with ``doc.cats`` cut to one task's labels."""
    if task not in TASKS:
        raise UsageError(f"unknown task {task!r}; expected one of {sorted(TASKS)}")

    def read(nlp: Language):
        return iter(docbin_examples(nlp, path, TASKS[task]))

    return read
