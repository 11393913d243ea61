"""knbc evaluate-taggers' parts that need no training: the spaCy baselines' configs, polarity accuracy, the
error analysis, and bad arguments."""

import pytest

from pipeline.errors import UsageError
from pipeline.evaluation.taggers import (
    ONTONOTES_TO_IREX,
    SPANCAT_MAX_LENGTH,
    check_args,
    common_errors,
    polarity,
    polarity_accuracy,
    spacy_baseline_config,
)


def test_spacy_baselines_use_the_quickstart_model_with_ja_ginza_vectors_and_ginzas_tokenizer():
    ner = spacy_baseline_config("ner", 7)
    assert ner["nlp"]["pipeline"] == ["tok2vec", "ner"]
    assert ner["components"]["tok2vec"]["model"]["embed"]["include_static_vectors"] is True
    assert ner["components"]["ner"]["model"]["@architectures"] == "spacy.TransitionBasedParser.v2"
    assert ner["paths"]["vectors"] == "ja_ginza" and ner["training"]["max_epochs"] == 7
    assert ner["nlp"]["tokenizer"]["@tokenizers"] == "knbc.JapaneseTokenizer.v1"
    spancat = spacy_baseline_config("reputation", 7)
    assert spancat["components"]["spancat"]["spans_key"] == "reputation"
    assert spancat["components"]["spancat"]["suggester"]["max_size"] == SPANCAT_MAX_LENGTH
    assert "spans_reputation_f" in spancat["training"]["score_weights"]


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
