"""DataFrames, table files and DocBins carry the gold annotation faithfully."""

import json

import pandas as pd
import pytest

from pipeline.corpus.export import (
    AlignmentReport,
    read_docbin,
    records_to_docs,
    sentence_frame,
    token_frame,
    write_docbins,
    write_table,
)
from pipeline.corpus.splits import load_splits


@pytest.fixture(scope="module")
def frame(corpus):
    return sentence_frame(corpus, load_splits())


def test_sentence_frame(frame):
    assert len(frame) == 4186 and frame.sid.is_unique
    row = frame.set_index("sid").loc["KN001_Keitai_1-1-3-01"]
    assert row.theme == "携帯電話" and row.sentiment == "mixed" and row.split in {"train", "dev", "test"}
    assert [r["label"] for r in row.reputations] == ["メリット-", "批評+"]
    assert frame.n_positive.sum() == 1423 and frame.n_negative.sum() == 865


def test_token_frame_offsets_index_the_model_text(corpus):
    tokens = token_frame(corpus)
    assert len(tokens) == sum(len(s.morphemes) for s in corpus.sentences)
    texts = {s.sid: s.text for s in corpus.sentences}
    sample = tokens.sample(500, random_state=0)
    for row in sample.itertuples():
        if texts[row.sid][row.start : row.end] != row.surface:
            # only the six sentences whose corpus1 and corpus2 texts differ may disagree
            assert row.sid in corpus.report.text_mismatches
    title = tokens[tokens.sid == "KN001_Keitai_1-1-1-01"]
    assert list(title.surface) == ["プリペイド", "カード", "携帯", "布教", "。"]
    assert title.start.iloc[0] == 0


@pytest.mark.parametrize("fmt", ["jsonl", "csv", "parquet"])
def test_table_round_trip(frame, tmp_path, fmt):
    path = write_table(frame.head(50), tmp_path / f"out.{fmt}", fmt)
    if fmt == "jsonl":
        back = pd.read_json(path, lines=True)
        reps = back.reputations
    elif fmt == "csv":
        back = pd.read_csv(path)
        reps = back.reputations.map(json.loads)
    else:
        back = pd.read_parquet(path)
        reps = back.reputations.map(list)
    assert list(back.sid) == list(frame.head(50).sid)
    assert list(back.text) == list(frame.head(50).text)
    assert [len(r) for r in reps] == [len(r) for r in frame.head(50).reputations]


def test_unknown_table_format(frame, tmp_path):
    with pytest.raises(ValueError, match="unknown table format 'xlsx'"):
        write_table(frame, tmp_path / "x.xlsx", "xlsx")


def test_docs_carry_gold_labels(ginza, sentences_by_id):
    report = AlignmentReport()
    records = [sentences_by_id[i] for i in ("KN024_Kyoto_1-1-2-01", "KN001_Keitai_1-1-3-01", "KN001_Keitai_1-1-1-01")]
    docs = records_to_docs(ginza, records, report)
    city, prepaid, title = docs
    assert [(e.label_, e.text) for e in city.ents] == [("ORGANIZATION", "大阪市交通局"), ("ORGANIZATION", "京都市交通局")]
    assert city.cats["京都観光"] == 1.0 and city.cats["携帯電話"] == 0.0 and city.cats["mixed"] == 1.0
    assert [(s.label_, s.text) for s in prepaid.spans["reputation"]] == [
        ("メリット-", "犯罪に用いられるなどによりかなりイメージを悪化させてしまった"),
        ("批評+", "かなり使いでがある"),
    ]
    assert prepaid.user_data["knbc"]["sid"] == "KN001_Keitai_1-1-3-01"
    assert title.text == "プリペイドカード携帯布教。" and "［" not in title.text
    assert report.counts["entities:exact"] == 2 and report.counts["reputations:exact"] == 4


def test_misaligned_spans_are_counted(ginza, sentences_by_id):
    import copy

    record = copy.deepcopy(sentences_by_id["KN024_Kyoto_1-1-2-01"])
    record.entities[0].end = 2  # '大阪' inside the GiNZA token '大阪市交通局'? widened, and counted
    record.reputations[0].start = None  # an expression not found in the text
    report = AlignmentReport()
    doc = records_to_docs(ginza, [record], report)[0]
    assert report.counts["reputations:failed"] == 1 and report.failures
    placed = report.counts["entities:exact"] + report.counts["entities:widened"]
    assert placed == 2 and len(doc.ents) == 2


def test_docbins_for_the_shared_split(ginza, corpus, tmp_path):
    splits = load_splits()
    paths, report = write_docbins(ginza, corpus, splits, tmp_path)
    sizes = {}
    for split, path in paths.items():
        docs = read_docbin(path, ginza.vocab)
        sizes[split] = len(docs)
        assert all(d.user_data["knbc"]["article_id"] in getattr(splits, split) for d in docs)
    assert sum(sizes.values()) == 4186
    assert report.counts["entities:failed"] == 0 and report.counts["reputations:failed"] == 0
    placed = report.counts["entities:exact"] + report.counts["entities:widened"]
    assert placed == sum(len(s.entities) for s in corpus.sentences)


def test_cached_msgpack_registries_change_nothing_but_speed(ginza, sentences_by_id, tmp_path):
    from spacy.tokens import DocBin
    from srsly.msgpack import msgpack_encoders

    from pipeline.msgpack_cache import cached_msgpack_registries

    docs = records_to_docs(ginza, [sentences_by_id["KN001_Keitai_1-1-3-01"]])
    plain = DocBin(docs=docs, store_user_data=True).to_bytes()
    with cached_msgpack_registries():
        assert "get_all" in vars(msgpack_encoders)
        cached = DocBin(docs=docs, store_user_data=True).to_bytes()
    assert "get_all" not in vars(msgpack_encoders)  # restored on exit
    assert cached == plain
