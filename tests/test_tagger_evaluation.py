"""knbc evaluate-taggers' parts that need no training: the spaCy baselines' configs, polarity accuracy, the
error analysis, and bad arguments."""

import pytest

from pipeline.errors import UsageError
from pipeline.evaluation.taggers import (
    ONTONOTES_TO_IREX,
    SPANCAT_MAX_LENGTH,
    SPANCAT_NEGATIVE_WEIGHT,
    check_args,
    classifier_sentiments,
    common_errors,
    polarity,
    polarity_accuracy,
    sentence_sentiment,
    sentiment_scores,
    spacy_baseline_config,
    span_sentiment,
    suggester_coverage,
    suggester_max_length,
)


def test_spacy_baselines_use_the_quickstart_model_with_ja_ginza_vectors_and_ginzas_tokenizer():
    ner = spacy_baseline_config("ner", 7)
    assert ner["nlp"]["pipeline"] == ["tok2vec", "ner"]
    assert ner["components"]["tok2vec"]["model"]["embed"]["include_static_vectors"] is True
    assert ner["components"]["ner"]["model"]["@architectures"] == "spacy.TransitionBasedParser.v2"
    assert ner["paths"]["vectors"] == "ja_ginza" and ner["training"]["max_epochs"] == 7
    assert ner["nlp"]["tokenizer"]["@tokenizers"] == "knbc.JapaneseTokenizer.v1"
    spancat = spacy_baseline_config("reputation", 7)
    assert spancat["nlp"]["pipeline"] == ["tok2vec", "spancat_singlelabel"]
    component = spancat["components"]["spancat_singlelabel"]
    assert component["spans_key"] == "reputation"
    assert component["suggester"] == {"@misc": "spacy.ngram_range_suggester.v1", "min_size": 1,
                                      "max_size": SPANCAT_MAX_LENGTH}
    assert component["negative_weight"] == SPANCAT_NEGATIVE_WEIGHT and component["allow_overlap"] is False
    assert spancat["training"]["score_weights"] == {"spans_reputation_f": 1.0, "spans_reputation_p": 0.0,
                                                    "spans_reputation_r": 0.0, "spans_sc_f": None,
                                                    "spans_sc_p": None, "spans_sc_r": None}


def test_spancat_score_is_the_reputation_f_alone():
    from spacy.util import load_model_from_config

    config = spacy_baseline_config("reputation", 1)
    config["paths"]["vectors"] = None  # no need for ja_ginza's table to read the weights
    config["initialize"]["vectors"] = None
    nlp = load_model_from_config(config, auto_fill=True, validate=False)
    weights = nlp.config["training"]["score_weights"]  # the config's weights combined with the factory's
    assert {k: v for k, v in weights.items() if v} == {"spans_reputation_f": 1.0}
    assert spacy_baseline_config("reputation", 7, max_length=4)["components"]["spancat_singlelabel"][
        "suggester"]["max_size"] == 4
    with pytest.raises(UsageError, match="at least 1 token"):
        spacy_baseline_config("reputation", 7, max_length=0)


def test_suggester_sizes_come_from_the_gold_span_lengths():
    lengths = [1, 2, 2, 3, 3, 3, 4, 5, 8, 20]
    assert suggester_max_length(lengths, 0.9) == 8  # 9 of 10 spans are 1..8 tokens
    assert suggester_max_length(lengths, 0.5) == 3
    assert suggester_max_length(lengths, 1.0) == 20
    assert suggester_max_length([6], 0.1) == 6
    assert suggester_coverage(lengths, 3) == 0.6 and suggester_coverage(lengths, 20) == 1.0
    assert suggester_coverage([], 3) == 0.0
    with pytest.raises(UsageError, match="no gold spans"):
        suggester_max_length([])
    with pytest.raises(UsageError, match="coverage"):
        suggester_max_length(lengths, 0)


def test_the_corpus_span_lengths_give_the_configured_suggester_size():
    from pipeline.corpus import shipped_corpus
    from pipeline.corpus.export import AlignmentReport, records_to_docs
    from pipeline.ginza import blank_japanese

    records = shipped_corpus().sentences[:600]
    docs = records_to_docs(blank_japanese(), records, AlignmentReport())
    lengths = [len(span) for doc in docs for span in doc.spans["reputation"]]
    assert suggester_coverage(lengths, 3) < 0.5  # the quickstart's sizes 1..3 miss most gold spans
    assert suggester_coverage(lengths, SPANCAT_MAX_LENGTH) > 0.8


def test_span_sentiment_follows_the_gold_sentence_rule():
    assert span_sentiment(["批評+", "感情+"]) == "positive"
    assert span_sentiment(["メリット-"]) == "negative"
    assert span_sentiment(["メリット−", "当為"]) == "negative"
    assert span_sentiment(["批評+", "採否-"]) == "mixed"
    assert span_sentiment(["当為", "要望"]) == "neutral"
    assert span_sentiment([]) == "neutral"


def test_span_sentiment_reproduces_the_corpus_labels_from_gold_spans():
    from pipeline.corpus import shipped_corpus

    records = shipped_corpus().sentences[:500]
    assert {r.sentiment for r in records} == {"positive", "negative", "mixed", "neutral"}
    for r in records:
        assert span_sentiment([x.label for x in r.reputations]) == r.sentiment, r.sid


class _Record:
    def __init__(self, sid, sentiment):
        self.sid, self.sentiment = sid, sentiment


def test_sentence_sentiment_scores_the_rule_on_predicted_spans():
    tested = [_Record("a", "positive"), _Record("b", "mixed"), _Record("c", "neutral"), _Record("d", "negative")]
    pred = {"a": [[0, 2, "批評+"]], "b": [[0, 2, "批評+"], [3, 4, "感情-"]], "d": [[0, 1, "感情+"]]}
    scores = sentence_sentiment(tested, pred)
    assert scores["n"] == 4 and scores["accuracy"] == 0.75
    assert scores["per_class"]["mixed"] == {"f1": 1.0, "support": 1}
    assert scores["per_class"]["negative"]["f1"] == 0.0
    assert scores["per_class"]["positive"]["f1"] == pytest.approx(2 / 3)
    assert scores["macro_f1"] == pytest.approx((2 / 3 + 0 + 1 + 1) / 4)
    assert sentiment_scores(["neutral"], ["neutral"])["per_class"]["positive"]["support"] == 0


def test_cv5_classifier_predictions_come_from_the_same_folds(tmp_path):
    import gzip
    import json

    from pipeline.evaluation.protocols import Run

    folder = tmp_path / "sentiment-cv5"
    folder.mkdir()
    rows = [{"model": "bilstm_attention", "run": "fold0", "sid": "a", "pred": "mixed"},
            {"model": "tfidf_lr", "run": "fold0", "sid": "b", "pred": "neutral"},
            {"model": "bilstm_attention", "run": "fold0", "sid": "b", "pred": "positive"},
            {"model": "bilstm_attention", "run": "fold1", "sid": "c", "pred": "negative"}]
    with gzip.open(folder / "predictions.jsonl.gz", "wt", encoding="utf-8") as f:
        f.write("\n".join(json.dumps(r) for r in rows))
    plan = [Run("fold0", [], [], [_Record("a", "x"), _Record("b", "x")])]
    found, source = classifier_sentiments("cv5", plan, tmp_path, reports=tmp_path)
    assert found == {"a": "mixed", "b": "positive"} and "same folds" in source
    plan.append(Run("fold1", [], [], [_Record("d", "x")]))
    with pytest.raises(UsageError, match="1 of the 3 test sentences"):
        classifier_sentiments("cv5", plan, tmp_path, reports=tmp_path)
    with pytest.raises(UsageError, match="no sentence classifier predictions"):
        classifier_sentiments("cv5", plan, tmp_path, reports=tmp_path / "elsewhere")


def test_polarity_accuracy_counts_matched_gold_spans_with_a_polarity():
    assert [polarity(x) for x in ("批評+", "メリット-", "当為", "要望")] == ["+", "-", "", ""]
    gold = [(0, 0, 5, "批評+"), (0, 10, 12, "感情-"), (1, 0, 3, "当為"), (2, 0, 4, "批評-")]
    pred = [(0, 1, 4, "メリット+"), (0, 11, 14, "感情+"), (1, 0, 3, "当為")]
    assert polarity_accuracy(gold, pred) == {"accuracy": 0.5, "matched": 2}


def test_common_errors_sort_misses_spurious_boundaries_and_types():
    texts = {0: "京都と大阪に行った"}
    gold = [(0, 0, 2, "LOCATION"), (0, 3, 5, "LOCATION")]
    pred = [(0, 0, 1, "LOCATION"), (0, 3, 5, "ORGANIZATION"), (0, 6, 8, "DATE")]
    errors = common_errors(gold, pred, texts)
    assert errors["LOCATION"]["boundary"]["count"] == 1
    assert errors["LOCATION"]["type"]["examples"][0].startswith("大阪 predicted ORGANIZATION")
    assert errors["DATE"]["spurious"]["count"] == 1


def test_ginza_types_map_only_onto_irex_types():
    assert set(ONTONOTES_TO_IREX.values()) <= {"ORGANIZATION", "PERSON", "LOCATION", "ARTIFACT", "DATE", "TIME",
                                               "MONEY", "PERCENT"}


@pytest.mark.parametrize("args,message", [
    (("folds", ["ner"], None, None), "unknown protocol"),
    (("cv5", ["pos"], None, None), "unknown task"),
    (("cv5", ["ner"], ["spacy_spancat"], None), "unknown system"),
    (("cv5", ["ner"], None, 0), "--runs"),
])
def test_bad_arguments_are_refused_before_training(args, message):
    with pytest.raises(UsageError, match=message):
        check_args(*args)


def test_predictions_are_written_compressed_one_line_per_sentence(tmp_path):
    import gzip
    import json

    from pipeline.evaluation.taggers import write_predictions

    rows = [{"run": "fold0", "task": "ner", "system": "bilstm_crf", "sid": "s1", "gold": [[0, 2, "LOCATION"]],
             "pred": []}, {"run": "fold0", "task": "ner", "system": "bilstm_crf", "sid": "s2", "gold": [], "pred": []}]
    write_predictions(rows, tmp_path)
    with gzip.open(tmp_path / "predictions.jsonl.gz", "rt", encoding="utf-8") as f:
        assert [json.loads(line) for line in f] == rows
