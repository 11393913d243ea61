"""pipeline.evaluation: metrics on hand-made cases, baselines, dev carve-outs, a tiny compare run and its report."""

import json
import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import accuracy_score, f1_score, precision_recall_fscore_support

from pipeline.corpus.splits import load_splits
from pipeline.errors import UsageError
from pipeline.evaluation.baselines import C_GRID, MajorityClass, MeanVectorLogisticRegression, TfidfLogisticRegression
from pipeline.evaluation.compare import compare
from pipeline.evaluation.metrics import format_mean_std, mean_std
from pipeline.evaluation.models import build_model, load_compared_models, with_vectors
from pipeline.training.metrics import classification_scores, confusion_matrix
from pipeline.evaluation.protocols import protocol_runs
from pipeline.evaluation.results import load_comparison
from pipeline.ginza import blank_japanese, ginza_vocab
from pipeline.models.features import VectorLookup
from pipeline.report.build import write_report
from pipeline.training.data import TASKS

THEMES = list(TASKS["theme"])  # 携帯電話, 京都観光, スポーツ, グルメ
TINY = {"training.max_epochs": 1, "model.hidden_size": 8, "model.trainable_dim": 8, "model.n_buckets": 500,
        "training.batch_size": 32}
ONE_EPOCH = {"training.max_epochs": 1}


# ---- metrics -------------------------------------------------------------------------------------


def test_metrics_hand_made_with_a_class_never_predicted():
    gold = ["a", "a", "a", "b", "b", "c"]
    pred = ["a", "a", "b", "b", "b", "a"]  # c is never predicted
    scores = classification_scores(gold, pred, ["a", "b", "c"])
    assert scores["confusion"] == [[2, 1, 0], [0, 2, 0], [1, 0, 0]]
    assert scores["accuracy"] == pytest.approx(4 / 6)
    a, b, c = (scores["per_class"][k] for k in "abc")
    assert (a["precision"], a["recall"], a["f1"], a["support"]) == pytest.approx((2 / 3, 2 / 3, 2 / 3, 3))
    assert (b["precision"], b["recall"], b["f1"]) == pytest.approx((2 / 3, 1.0, 0.8))
    assert (c["precision"], c["recall"], c["f1"], c["support"]) == (0.0, 0.0, 0.0, 1)
    assert scores["macro_f1"] == pytest.approx((2 / 3 + 0.8 + 0) / 3)
    assert scores["weighted_f1"] == pytest.approx((3 * 2 / 3 + 2 * 0.8 + 0) / 6)


def test_metrics_agree_with_scikit_learn():
    rng = np.random.default_rng(0)
    gold = list(rng.choice(THEMES, 200, p=[0.4, 0.3, 0.2, 0.1]))
    pred = list(rng.choice(THEMES[:3], 200))  # グルメ never predicted
    scores = classification_scores(gold, pred, THEMES)
    assert scores["accuracy"] == pytest.approx(accuracy_score(gold, pred))
    assert scores["macro_f1"] == pytest.approx(f1_score(gold, pred, average="macro", zero_division=0))
    assert scores["weighted_f1"] == pytest.approx(f1_score(gold, pred, average="weighted", zero_division=0))
    p, _, f, _ = precision_recall_fscore_support(gold, pred, labels=THEMES, zero_division=0)
    assert [scores["per_class"][k]["f1"] for k in THEMES] == pytest.approx(list(f))
    assert [scores["per_class"][k]["precision"] for k in THEMES] == pytest.approx(list(p))


def test_macro_f1_ignores_a_label_absent_from_gold_and_predictions():
    assert classification_scores(["a", "b"], ["a", "b"], ["a", "b", "c"])["macro_f1"] == 1.0


def test_confusion_matrix_rejects_unknown_labels_and_length_mismatch():
    with pytest.raises(ValueError, match="not in"):
        confusion_matrix(["a"], ["z"], ["a", "b"])
    with pytest.raises(ValueError, match="predictions"):
        confusion_matrix(["a", "b"], ["a"], ["a", "b"])


def test_mean_std_over_runs():
    results = pd.DataFrame(
        {"model": ["x", "x", "y"], "run": ["r0", "r1", "r0"], "accuracy": [0.5, 0.7, 0.9], "macro_f1": [0.4, 0.6, 0.8]}
    )
    summary = mean_std(results, ["accuracy", "macro_f1"])
    assert list(summary.index) == ["x", "y"]
    assert summary.loc["x", "runs"] == 2
    assert summary.loc["x", "accuracy_mean"] == pytest.approx(0.6)
    assert summary.loc["x", "accuracy_std"] == pytest.approx(np.std([0.5, 0.7], ddof=1))
    assert summary.loc["y", "macro_f1_std"] == 0.0  # a single run
    assert format_mean_std(0.81234, 0.0129) == "0.812 ± 0.013"


# ---- dev carve-outs --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def splits():
    return load_splits()


@pytest.mark.parametrize("protocol", ["cv5", "peer"])
def test_dev_carve_out_never_overlaps_test(corpus, splits, protocol):
    runs = protocol_runs(corpus.sentences, splits, protocol)
    assert len(runs) == 5
    for run in runs:
        train, dev, test = ({r.sid for r in part} for part in (run.train, run.dev, run.test))
        assert not dev & test and not dev & train and not train & test
        assert len(train | dev | test) == len(corpus.sentences)
        assert 0.07 < len(dev) / (len(train) + len(dev)) < 0.13
        assert {r.theme for r in run.dev} == set(THEMES)  # stratified by theme
        if protocol == "cv5":  # articles never straddle train / dev / test
            articles = [{r.article_id for r in part} for part in (run.train, run.dev, run.test)]
            assert not articles[0] & articles[1] and not articles[1] & articles[2] and not articles[0] & articles[2]
    again = protocol_runs(corpus.sentences, splits, protocol, runs=2)
    assert [[r.sid for r in run.dev] for run in again] == [[r.sid for r in run.dev] for run in runs[:2]]


def test_split_protocol_is_the_shipped_split(corpus, splits):
    (run,) = protocol_runs(corpus.sentences, splits, "split")
    assert {r.article_id for r in run.dev} == splits.dev
    assert {r.article_id for r in run.test} == splits.test
    with pytest.raises(ValueError, match="protocol"):
        protocol_runs(corpus.sentences, splits, "loo")


# ---- baselines -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tokenized(corpus, splits):
    """(docs, labels) of small train / dev / test slices of the shipped split, 30/10/10 sentences per theme."""
    from pipeline.ginza import blank_japanese

    tokenizer = blank_japanese().tokenizer
    parts = {}
    for name, per_theme in (("train", 30), ("dev", 10), ("test", 10)):
        records = [
            r
            for theme in THEMES
            for r in [s for s in splits.select(corpus.sentences, name) if s.theme == theme][:per_theme]
        ]
        parts[name] = (list(tokenizer.pipe(r.text for r in records)), [r.theme for r in records])
    return parts


def test_majority_class(tokenized):
    docs, _ = tokenized["test"]
    model = MajorityClass(THEMES).fit(docs[:5], ["スポーツ", "グルメ", "スポーツ", "携帯電話", "グルメ"])
    assert model.predict(docs) == ["スポーツ"] * len(docs)  # tie スポーツ / グルメ: the first in THEMES
    assert model.predict_proba(docs[:2]).tolist() == [[0.2, 0.0, 0.4, 0.4]] * 2


def test_tfidf_logistic_regression(tokenized):
    model = TfidfLogisticRegression(THEMES).fit(*tokenized["train"], *tokenized["dev"])
    assert model.C in C_GRID
    probs = model.predict_proba(tokenized["test"][0])
    assert probs.shape == (len(tokenized["test"][0]), 4)
    assert probs.sum(axis=1) == pytest.approx(np.ones(len(probs)))
    train_docs, train_gold = tokenized["train"]
    assert classification_scores(train_gold, model.predict(train_docs), THEMES)["accuracy"] > 0.9
    with pytest.raises(ValueError, match="dev"):
        TfidfLogisticRegression(THEMES).fit(*tokenized["train"])


def test_mean_vector_regression_reads_vectors_by_lemma_and_norm(tokenized):
    model = MeanVectorLogisticRegression(THEMES).fit(*tokenized["train"], *tokenized["dev"])
    assert model.C in C_GRID
    train_docs, train_gold = tokenized["train"]
    assert classification_scores(train_gold, model.predict(train_docs), THEMES)["accuracy"] > 0.8
    # 焼肉 and よく have no vector under their text; the lookup finds one by lemma or norm
    doc = blank_japanese().tokenizer("焼肉よく")
    assert list(VectorLookup(ginza_vocab(), ("text",)).rows(doc)) == [-1, -1]
    features = model._mean_vectors([doc, blank_japanese().tokenizer("")])  # (2, 300)
    assert np.abs(features[0]).sum() > 0 and np.abs(features[1]).sum() == 0  # no tokens: zeros


def test_spacy_ensemble_with_static_vectors_uses_ja_ginza_vectors(tokenized):
    model = build_model("spacy_ensemble_vectors", THEMES, load_compared_models(overrides=ONE_EPOCH))
    embed = model.nlp.config["components"]["task"]["model"]["tok2vec"]["embed"]
    assert embed["include_static_vectors"] is True
    assert model.nlp.vocab.vectors.shape == (20000, 300)
    tokenizer = with_vectors(blank_japanese()).tokenizer
    docs = list(tokenizer.pipe(["京都の紅葉", "携帯の電池", "ラーメンのスープ", "野球の試合"] * 3))
    model.fit(docs, [*THEMES[:2], "グルメ", "スポーツ"] * 3, docs[:4], [*THEMES[:2], "グルメ", "スポーツ"])
    static = [layer for layer in model.nlp.get_pipe("task").model.walk() if layer.name == "static_vectors"]
    assert static and static[0].get_dim("nM") == 300
    assert model.predict_proba(docs[:4]).shape == (4, 4)


def test_spacy_textcat_trains_through_the_shared_loop(tokenized):
    model = build_model("spacy_bow", THEMES, load_compared_models(overrides={"training.max_epochs": 2}))
    model.fit(*tokenized["train"], *tokenized["dev"])
    assert model.details()["best_epoch"] in (1, 2)
    docs = tokenized["test"][0]
    probs = model.predict_proba(docs)
    assert probs.shape == (len(docs), 4) and probs.sum(axis=1) == pytest.approx(np.ones(len(docs)), abs=1e-4)
    assert all(not doc.cats for doc in docs)  # the shared Docs were copied, not annotated


def test_variants_and_training_settings_come_from_the_variants_config():
    compared = load_compared_models(overrides={"model.hidden_size": 32, "training.learn_rate": 0.01})
    settings = compared.settings
    assert (settings.learn_rate, settings.batch_size, settings.max_epochs, settings.patience) == (0.01, 64, 8, 2)
    assert compared.rnn_options == {"hidden_size": 32, "trainable_dim": 64, "dropout": 0.3}
    assert compared.names[-6:] == ("rnn", "gru", "lstm", "bilstm", "bilstm_attention", "bilstm_attention_ensemble")
    assert compared.recorded["variant_configs"]["gru"] == "models/configs/variants.cfg [variants.gru]"
    with pytest.raises(UsageError, match="unknown setting 'model.colour'"):
        load_compared_models(overrides={"model.colour": 1})
    with pytest.raises(UsageError, match="unknown model"):
        build_model("bert", THEMES)


def test_variants_are_read_from_the_file_given(tmp_path):
    path = tmp_path / "mine.cfg"
    path.write_text("[training]\nmax_epochs = 1\n\n[model]\nhidden_size = 8\n\n[variants]\n\n"
                    "[variants.tiny_gru]\ncell = \"gru\"\npooling = \"max\"\n", encoding="utf-8")
    compared = load_compared_models(path)
    assert compared.families["tiny_gru"] == "recurrent" and "bilstm" not in compared.names
    assert compared.recorded["variant_configs"] == {"tiny_gru": f"{path} [variants.tiny_gru]"}
    model = build_model("tiny_gru", THEMES, compared).nlp.config["components"]["task"]["model"]
    assert (model["cell"], model["pooling"], model["hidden_size"]) == ("gru", "max", 8)


def test_a_variants_options_apply_and_the_callers_override_them():
    def options(name, overrides=None):
        model = build_model(name, THEMES, load_compared_models(overrides=overrides))
        return model.nlp.config["components"]["task"]["model"]

    plain = options("bilstm_attention")
    assert (plain["members"], plain["ngram_dim"], plain["dropout"]) == (1, 0, 0.3)
    ensemble = options("bilstm_attention_ensemble")
    assert (ensemble["members"], ensemble["ngram_dim"], ensemble["dropout"]) == (5, 64, 0.5)
    assert ensemble["pooling"] == "attention" and ensemble["bidirectional"]
    assert options("bilstm_attention_ensemble", {"variants.bilstm_attention_ensemble.dropout": 0.2})["dropout"] == 0.2
    assert options("bilstm_attention_ensemble", {"model.dropout": 0.2})["dropout"] == 0.5  # the variant's own wins
    assert options("bilstm_attention", {"model.members": 3})["members"] == 3


# ---- compare + report ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_comparison(corpus, splits, tmp_path_factory):
    """cv5 fold 0 over the first 8 sentences of 6 articles per theme (2 of them in fold 0's test part)."""
    by_article: dict[str, list] = {}
    for s in corpus.sentences:
        by_article.setdefault(s.article_id, []).append(s)
    chosen = []
    for theme in THEMES:
        articles = [a for a, records in by_article.items() if records[0].theme == theme]
        chosen += [a for a in articles if splits.fold_of(a) == 0][:2] + [a for a in articles if splits.fold_of(a) != 0][
            :4
        ]
    sentences = [s for a in chosen for s in by_article[a][:8]]
    out = tmp_path_factory.mktemp("evaluation")
    lines = []
    comparison = compare(
        "theme",
        "cv5",
        out,
        models=["spacy_bow", "gru"],
        runs=1,
        compared=load_compared_models(overrides=TINY),
        sentences=sentences,
        splits=splits,
        log=lines.append,
    )
    return comparison, lines


def test_compare_writes_results_predictions_and_confusions(tiny_comparison):
    comparison, lines = tiny_comparison
    results = comparison.results
    assert list(results["model"]) == ["spacy_bow", "gru"] and set(results["run"]) == {"fold0"}
    for column in ["accuracy", "macro_f1", "weighted_f1", *(f"f1_{t}" for t in THEMES)]:
        assert results[column].between(0, 1).all()
    assert (results["train_seconds"] > 0).all() and (results["best_epoch"] == 1).all()
    n_test = int(results["n_test"].iloc[0])
    assert 50 <= int(results["n_train"].iloc[0]) <= 200 and n_test > 0
    assert len(comparison.predictions) == 2 * n_test
    assert (comparison.predictions["confidence"] >= comparison.predictions["p_gold"]).all()
    assert comparison.confusion("gru").sum() == n_test
    assert any("gru" in line and "macro-F1" in line for line in lines)  # progress lines
    for name in ["config.json", "results.csv", "predictions.jsonl.gz", "confusion.json"]:
        assert (comparison.directory / name).stat().st_size > 0
    reloaded = load_comparison(comparison.directory)
    pd.testing.assert_frame_equal(reloaded.results, results)


def test_report_renders_tables_plots_and_mistakes(tiny_comparison):
    import matplotlib.image

    directory = tiny_comparison[0].directory
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        path = write_report(directory, n_examples=3)
    assert not [w for w in caught if "missing from font" in str(w.message)]  # Japanese glyphs render
    text = path.read_text(encoding="utf-8")
    assert "## Results" in text and "| gru | recurrent | 1 |" in text and "spacy_bow" in text
    assert "published, not rerun here" not in text  # cv5: no published numbers beside ours
    assert "### gru" in text and "### spacy_bow" in text
    for png in ["per_class_f1.png", "confusion_gru.png", "confusion_spacy_bow.png"]:
        assert f"]({png})" in text
        image = matplotlib.image.imread(directory / png)
        assert image.shape[0] > 200 and image.shape[1] > 200 and image.std() > 0.05


def test_report_puts_published_results_beside_peer_theme(tiny_comparison, tmp_path):
    source = tiny_comparison[0].directory
    for name in ["results.csv", "predictions.jsonl.gz", "confusion.json"]:
        (tmp_path / name).write_bytes((source / name).read_bytes())
    config = json.loads((source / "config.json").read_text(encoding="utf-8"))
    (tmp_path / "config.json").write_text(json.dumps({**config, "protocol": "peer"}), encoding="utf-8")
    text = write_report(tmp_path).read_text(encoding="utf-8")
    assert "| LSTM + self-attention | published, not rerun here | — | — | — | 0.790 | — |" in text
    assert "| fine-tuned Japanese BERT | published, not rerun here | — | 0.837 | — | 0.838 | — |" in text
