"""knbc_tagger: spaCy's test_overfitting_IO pattern (learns tiny data, survives to_disk / from_disk), nlp.pipe
equals nlp(), empty Docs, the doc.ents and doc.spans targets, the softmax ablation, and bad user data."""

import json

import pytest
import spacy

from pipeline.errors import DataError, ModelError
from pipeline.ginza import blank_japanese
from pipeline.training.loop import TrainSettings
from pipeline.training.span_metrics import span_scores
from pipeline.training.tagging import SpanAlignment, read_span_file, tagger_scores, train_tagger

TINY = {"@architectures": "knbc.BiLSTMCRFTagger.v1", "hidden_size": 16, "trainable_dim": 8, "n_buckets": 500,
        "dropout": 0.0}
DATA = [
    {"text": "京都の清水寺に行きました。", "spans": [{"start": 0, "end": 2, "label": "LOCATION"},
                                                 {"start": 3, "end": 6, "label": "LOCATION"}]},
    {"text": "田中さんと大阪で会った。", "spans": [{"start": 0, "end": 2, "label": "PERSON"},
                                               {"start": 5, "end": 7, "label": "LOCATION"}]},
    {"text": "ドコモの携帯を買った。", "spans": [{"start": 0, "end": 3, "label": "ORGANIZATION"}]},
    {"text": "昨日は雨でした。", "spans": []},
    {"text": "山田さんは東京に住んでいる。", "spans": [{"start": 0, "end": 2, "label": "PERSON"},
                                                  {"start": 5, "end": 7, "label": "LOCATION"}]},
]


def write_jsonl(path, rows):
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n", encoding="utf-8")
    return path


def overfit(tmp_path, spans_key=None, crf=True, epochs=40):
    nlp = blank_japanese()
    nlp.add_pipe("knbc_tagger", name="ner", config={"model": {**TINY, "crf": crf}, "spans_key": spans_key})
    alignment = SpanAlignment()
    examples = read_span_file(nlp, write_jsonl(tmp_path / "train.jsonl", DATA), spans_key, alignment)
    settings = TrainSettings(max_epochs=epochs, patience=epochs, batch_size=2, learn_rate=0.02, seed=1, metric="f")
    result = train_tagger(nlp, "ner", examples, examples, settings, progress=False)
    return nlp, result, examples


def predicted(doc, spans_key=None):
    spans = doc.ents if spans_key is None else doc.spans[spans_key]
    return [(s.start_char, s.end_char, s.label_) for s in spans]


def gold(row):
    return [(s["start"], s["end"], s["label"]) for s in row["spans"]]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    return overfit(tmp_path_factory.mktemp("ner"))


def test_overfitting_io_into_doc_ents(trained, tmp_path):
    nlp, result, _ = trained
    assert result.best_score == 1.0
    for row in DATA:
        assert predicted(nlp(row["text"])) == gold(row)
    nlp.to_disk(tmp_path / "p")
    nlp2 = spacy.load(tmp_path / "p")
    texts = [row["text"] for row in DATA]
    assert [predicted(nlp2(t)) for t in texts] == [gold(row) for row in DATA]
    assert [predicted(d) for d in nlp2.pipe(texts, batch_size=2)] == [predicted(nlp2(t)) for t in texts]
    assert (tmp_path / "p" / "ner" / "model.pt").stat().st_size < 1_000_000  # no vector table (24 MB) in the weights


def test_empty_and_unusual_docs_get_no_spans_and_no_error(trained):
    nlp, _, _ = trained
    assert list(nlp("").ents) == []
    assert [len(d.ents) for d in nlp.pipe(["", "京都の清水寺に行きました。", "  "])][0] == 0


def test_overfitting_io_into_doc_spans_with_type_and_polarity_labels(tmp_path):
    rows = [{"text": "この店のラーメンはおいしい。", "spans": [{"start": 9, "end": 13, "label": "批評+"}]},
            {"text": "電池がすぐ切れるのが不満だ。", "spans": [{"start": 0, "end": 8, "label": "メリット-"}]},
            {"text": "今日は晴れ。", "spans": []}]
    nlp = blank_japanese()
    nlp.add_pipe("knbc_tagger", name="reputation", config={"model": TINY, "spans_key": "reputation"})
    examples = read_span_file(nlp, write_jsonl(tmp_path / "r.jsonl", rows), "reputation", SpanAlignment())
    settings = TrainSettings(max_epochs=40, patience=40, batch_size=2, learn_rate=0.02, seed=1, metric="f")
    train_tagger(nlp, "reputation", examples, examples, settings, progress=False)
    for row in rows:
        doc = nlp(row["text"])
        assert predicted(doc, "reputation") == gold(row)
        assert list(doc.ents) == []
    nlp.to_disk(tmp_path / "p")
    assert predicted(spacy.load(tmp_path / "p")(rows[0]["text"]), "reputation") == gold(rows[0])


def test_softmax_ablation_learns_without_a_crf(tmp_path):
    nlp, result, examples = overfit(tmp_path, crf=False)
    assert nlp.get_pipe("ner").network.crf is None
    assert result.best_score >= 0.8
    assert tagger_scores(nlp, "ner", examples)["ner_f"] == result.best_score


def test_unaligned_spans_are_counted_not_dropped_silently(tmp_path):
    nlp = blank_japanese()
    rows = [{"text": "京都に行った。", "spans": [{"start": 0, "end": 1, "label": "LOCATION"}]},  # half a token
            {"text": "京都に行った。", "spans": [{"start": 0, "end": 2, "label": "LOCATION"}]}]
    alignment = SpanAlignment()
    examples = read_span_file(nlp, write_jsonl(tmp_path / "a.jsonl", rows), None, alignment)
    assert alignment.summary()["widened"] == 1 and alignment.summary()["exact"] == 1
    assert [len(eg.reference.ents) for eg in examples] == [1, 1]


@pytest.mark.parametrize("line,message", [
    ("{not json", "a.jsonl:2: not a JSON object"),
    ('{"text": ""}', "a.jsonl:2: expected an object with a non-empty string 'text'"),
    ('{"text": "京都", "spans": [{"start": 0, "end": 9, "label": "X"}]}', "a.jsonl:2: span 0 [0:9] is not inside"),
    ('{"text": "京都", "spans": [{"start": 0, "label": "X"}]}', "a.jsonl:2: span 0 must be"),
])
def test_bad_lines_are_one_line_errors_naming_file_and_line(tmp_path, line, message):
    path = tmp_path / "a.jsonl"
    path.write_text(json.dumps(DATA[0], ensure_ascii=False) + "\n" + line + "\n", encoding="utf-8")
    with pytest.raises(DataError, match=message.replace("[", r"\[").replace("]", r"\]")) as err:
        read_span_file(blank_japanese(), path, None, SpanAlignment())
    assert "\n" not in str(err.value)


def test_damaged_weights_name_the_file(trained, tmp_path):
    nlp, _, _ = trained
    nlp.to_disk(tmp_path / "p")
    (tmp_path / "p" / "ner" / "model.pt").write_bytes(b"garbage")
    with pytest.raises(ModelError, match="model.pt"):
        spacy.load(tmp_path / "p")


def test_span_scores_exact_and_overlap():
    gold_spans = [(0, 0, 2, "A"), (0, 3, 5, "A"), (1, 0, 1, "B")]
    pred_spans = [(0, 0, 2, "A"), (0, 3, 4, "A"), (1, 0, 1, "A")]
    scores = span_scores(gold_spans, pred_spans)
    assert scores["exact"]["micro"]["p"] == pytest.approx(1 / 3)
    assert scores["overlap"]["micro"]["p"] == pytest.approx(2 / 3)
    assert scores["overlap"]["micro"]["r"] == pytest.approx(2 / 3)
    assert scores["overlap"]["per_type"]["B"]["r"] == 0.0
    assert scores["exact"]["macro"]["f"] == pytest.approx((scores["exact"]["per_type"]["A"]["f"] + 0.0) / 2)


@pytest.fixture(scope="module")
def saved(trained, tmp_path_factory):
    from pipeline.loading import save_pipeline

    path = tmp_path_factory.mktemp("saved") / "ner"
    save_pipeline(trained[0], path)
    return path


def test_knbc_tag_prints_spans_with_offsets_and_labels(saved):
    from typer.testing import CliRunner

    from pipeline.cli import app

    result = CliRunner().invoke(app, ["tag", "--model", str(saved), DATA[1]["text"], ""])
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.output.splitlines()]
    assert lines[0]["ner"] == [{"start": s["start"], "end": s["end"], "label": s["label"],
                                "text": DATA[1]["text"][s["start"]:s["end"]]} for s in DATA[1]["spans"]]
    assert lines[1] == {"text": "", "ner": []}


def test_knbc_tag_refuses_a_pipeline_without_taggers(tmp_path):
    from typer.testing import CliRunner

    from pipeline.cli import app
    from pipeline.loading import save_pipeline

    save_pipeline(blank_japanese(), tmp_path / "empty")
    result = CliRunner().invoke(app, ["tag", "--model", str(tmp_path / "empty"), "京都"])
    assert result.exit_code == 2 and "no span tagger" in result.output


@pytest.mark.parametrize("suffix", ["jsonl", "parquet"])
def test_process_with_spans_writes_every_span_in_every_format(saved, tmp_path, suffix):
    import pandas as pd

    from pipeline.batch import AnnotateOptions, process

    source = tmp_path / "in.txt"
    source.write_text("\n".join(row["text"] for row in DATA) + "\n", encoding="utf-8")
    out = tmp_path / f"out.{suffix}"
    process([str(source)], out, AnnotateOptions(model=str(saved), spans=True), progress=False)
    rows = ([json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()] if suffix == "jsonl"
            else [{**r, "ner": json.loads(r["ner"])} for r in pd.read_parquet(out).to_dict("records")])
    assert [[(s["start"], s["end"], s["label"]) for s in r["ner"]] for r in rows] == [gold(row) for row in DATA]


def test_assemble_accepts_tagger_pipelines_and_the_result_tags(saved, tmp_path):
    from pipeline.loading import load
    from pipeline.training.train import assemble

    out = assemble([saved], tmp_path / "knbc")
    nlp = load(out)
    assert "ner" in nlp.pipe_names and nlp.pipe_names[0] == "knbc_vectors"
    assert predicted(nlp(DATA[0]["text"])) == gold(DATA[0])
    assert predicted(spacy.load(out)(DATA[0]["text"])) == gold(DATA[0])


def test_knbc_train_trains_a_tagger_config_on_user_jsonl_and_reports_alignment(tmp_path):
    from typer.testing import CliRunner

    from pipeline.cli import app

    rows = DATA + [{"text": "京都に行った。", "spans": [{"start": 0, "end": 1, "label": "LOCATION"}]}]
    train = write_jsonl(tmp_path / "train.jsonl", rows)  # also the dev file: its one widened span counts twice
    args = ["train", "models/configs/ner.cfg", "--out", str(tmp_path / "m"), "--train", str(train), "--dev", str(train),
            "--max-epochs", "2", "--quiet", "--set", "components.ner.model.hidden_size=8",
            "--set", "components.ner.model.n_buckets=100"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    metrics = json.loads((tmp_path / "m" / "metrics.json").read_text(encoding="utf-8"))
    assert metrics["data"]["alignment"]["widened"] == 2 and metrics["data"]["alignment"]["not_placed"] == 0
    assert metrics["labels"] == ["LOCATION", "ORGANIZATION", "PERSON"]
    assert spacy.load(tmp_path / "m").pipe_names == ["ner"]
    (tmp_path / "bad.jsonl").write_text('{"text": "京都", "spans": 3}\n', encoding="utf-8")
    bad = CliRunner().invoke(app, [*args[:3], str(tmp_path / "m2"), "--train", str(tmp_path / "bad.jsonl"),
                                   "--dev", str(train), "--quiet"])
    assert bad.exit_code == 2 and "bad.jsonl:1: 'spans' must be a list" in bad.output
    assert not (tmp_path / "m2").exists()


def test_character_features_reach_only_tokens_without_a_vector_and_survive_save_load(tmp_path):
    import torch

    from pipeline.nn.tagger import RecurrentTagger

    network = RecurrentTagger(torch.randn(5, 4), n_tokens=10, trainable_dim=3, hidden_size=4, n_chars=20, char_dim=6)
    vector_rows = torch.tensor([[0, -1, -1]])  # a token with a vector, one without, padding
    token_ids = torch.tensor([[1, 2, 0]])
    chars = torch.tensor([[[3, 4, 0], [5, 0, 0], [0, 0, 0]]])  # (B, T, C)
    features = network.character_features(vector_rows, token_ids, chars)  # (1, 3, 6)
    assert features.shape == (1, 3, 6)
    assert features[0, 0].abs().sum() == 0 and features[0, 2].abs().sum() == 0
    assert torch.allclose(features[0, 1], network.chars.weight[5])  # the mean over its one character
    with pytest.raises(ValueError, match="character ids"):
        network.emissions(vector_rows, token_ids, torch.tensor([2]), token_ids != 0)

    nlp = blank_japanese()
    nlp.add_pipe("knbc_tagger", name="ner", config={"model": {**TINY, "char_dim": 8}})
    examples = read_span_file(nlp, write_jsonl(tmp_path / "train.jsonl", DATA), None, SpanAlignment())
    settings = TrainSettings(max_epochs=40, patience=40, batch_size=2, learn_rate=0.02, seed=1, metric="f")
    result = train_tagger(nlp, "ner", examples, examples, settings, progress=False)
    assert result.best_score == 1.0
    assert nlp.get_pipe("ner").network.chars is not None
    nlp.to_disk(tmp_path / "p")
    loaded = spacy.load(tmp_path / "p")
    assert [predicted(loaded(row["text"])) for row in DATA] == [gold(row) for row in DATA]
