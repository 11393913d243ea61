"""knbc_textcat: spaCy's test_overfitting_IO pattern, config round-trips, and bad input."""

import json
import os
import pickle
import signal
import subprocess
import sys

import numpy
import pytest
import spacy
import torch
from spacy.util import load_config_from_str
from thinc.api import NumpyOps, Softmax_v2

from pipeline.components.architectures import mean_of_members, torch_networks
from pipeline.ginza import blank_japanese
from pipeline.nn.text_encoder import HashedNgramBag, RecurrentTextEncoder
from pipeline.training.data import labelled_texts_to_examples
from pipeline.training.loop import TrainSettings, train_component

TINY = {
    "@architectures": "knbc.RNNClassifier.v1",
    "hidden_size": 16,
    "trainable_dim": 8,
    "n_buckets": 500,
    "dropout": 0.0,
}
PAIRS = [
    ("京都の紅葉がきれいでした。", "京都観光"),
    ("清水寺に行きました。", "京都観光"),
    ("新しいケータイの電池がすぐ切れる。", "携帯電話"),
    ("携帯のメールが届かない。", "携帯電話"),
    ("ラーメンがおいしかった。", "グルメ"),
    ("野球の試合を見た。", "スポーツ"),
]
LABELS = ("携帯電話", "京都観光", "スポーツ", "グルメ")


def overfit(model=TINY, name="theme", epochs=40):
    nlp = blank_japanese()
    nlp.add_pipe("knbc_textcat", name=name, config={"model": model})
    examples = labelled_texts_to_examples(nlp, PAIRS, LABELS)
    settings = TrainSettings(max_epochs=epochs, patience=epochs, batch_size=3, learn_rate=0.01, seed=1)
    result = train_component(nlp, name, examples, examples, settings, progress=False)
    return nlp, result


@pytest.fixture(scope="module")
def trained():
    return overfit()


def test_overfitting_io(trained, tmp_path):
    nlp, result = trained
    assert result.best_score == 1.0
    for text, label in PAIRS:
        cats = nlp(text).cats
        assert max(cats, key=cats.get) == label
        assert sum(cats.values()) == pytest.approx(1.0, abs=1e-5)
    nlp.to_disk(tmp_path)
    nlp2 = spacy.load(tmp_path)
    texts = [text for text, _ in PAIRS]
    for text in texts:
        assert nlp2(text).cats == pytest.approx(nlp(text).cats, abs=1e-6)
    batch = [doc.cats for doc in nlp2.pipe(texts, batch_size=4)]
    single = [nlp2(text).cats for text in texts]
    for a, b in zip(batch, single):
        assert a == pytest.approx(b, abs=1e-5)


def test_frozen_vectors_stay_out_of_the_saved_weights(trained, tmp_path):
    nlp, _ = trained
    nlp.to_disk(tmp_path)
    size = sum(f.stat().st_size for f in (tmp_path / "theme").rglob("*") if f.is_file())
    assert size < 2_000_000  # the 20,000 x 300 table would be 24 MB


def test_same_seed_same_model():
    a, _ = overfit(epochs=3)
    b, _ = overfit(epochs=3)
    text = "京都のラーメン"
    assert a(text).cats == b(text).cats


@pytest.mark.parametrize("cell,bidirectional,pooling", [
    ("rnn", False, "last"), ("gru", True, "mean"), ("lstm", True, "max"), ("lstm", False, "attention"),
    ("lstm", True, "concat"),
])
def test_every_variant_learns(cell, bidirectional, pooling):
    model = {**TINY, "cell": cell, "bidirectional": bidirectional, "pooling": pooling}
    _, result = overfit(model=model, epochs=40)
    assert result.best_score == 1.0


def test_fine_tuned_vectors_are_trained_and_saved(tmp_path):
    nlp, _ = overfit(model={**TINY, "freeze_vectors": False}, epochs=5)
    network, = torch_networks(nlp.get_pipe("theme").model)
    assert network.embed.vectors.requires_grad
    nlp.to_disk(tmp_path)
    size = sum(f.stat().st_size for f in (tmp_path / "theme").rglob("*") if f.is_file())
    assert size > 20_000_000  # the tuned 20,000 x 300 table is part of the weights
    reloaded = spacy.load(tmp_path)
    assert reloaded("京都の紅葉").cats == pytest.approx(nlp("京都の紅葉").cats, abs=1e-6)


def test_config_round_trip(trained):
    nlp, _ = trained
    config = nlp.config.to_str()
    assert "knbc.RNNClassifier.v1" in config and "knbc.JapaneseTokenizer.v1" in config
    rebuilt = spacy.util.load_model_from_config(load_config_from_str(config), auto_fill=True)
    assert rebuilt.pipe_names == ["theme"]
    assert rebuilt.config.to_str() == config


@pytest.mark.parametrize("text", ["", " ", "\n\n", "😀🎉", "！？＃", "Hello world, this is English.", "12345"])
def test_odd_texts_get_scores(trained, text):
    nlp, _ = trained
    cats = nlp(text).cats
    assert set(cats) == set(LABELS)
    assert sum(cats.values()) == pytest.approx(1.0, abs=1e-5)
    if not len(nlp.make_doc(text)):
        assert set(cats.values()) == {0.25}


def test_text_over_sudachis_limit_is_classified_whole(trained):
    nlp, _ = trained
    text = "京都の紅葉がきれいでした。" * 4000  # 156,000 bytes, three times SudachiPy's limit
    doc = nlp(text)
    assert doc.text == text
    assert len(doc) == 4000 * len(nlp.make_doc("京都の紅葉がきれいでした。"))
    assert max(doc.cats, key=doc.cats.get) == "京都観光"


def test_non_string_input_is_a_clear_error(trained):
    nlp, _ = trained
    with pytest.raises(ValueError, match="Expected a string"):
        nlp(123)


def test_scores_are_named_after_the_component(trained):
    nlp, _ = trained
    examples = labelled_texts_to_examples(nlp, PAIRS, LABELS)
    scores = nlp.evaluate(examples)
    assert scores["theme_macro_f"] == 1.0
    assert set(scores["theme_f_per_type"]) == set(LABELS)
    assert "theme_macro_auc" in scores
    # spaCy's own keys too, which `spacy evaluate` prints as "TEXTCAT (macro F, theme)" and a per-label table
    assert scores["cats_score"] == scores["theme_macro_f"] and scores["cats_score_desc"] == "macro F, theme"
    assert set(scores["cats_f_per_type"]) == set(LABELS)


def test_ensemble_output_is_the_mean_of_its_members_and_reloads(tmp_path):
    nlp, result = overfit(model={**TINY, "members": 3}, epochs=30)
    assert result.best_score == 1.0
    model = nlp.get_pipe("theme").model
    networks = torch_networks(model)
    assert len(networks) == 3
    assert not torch.equal(networks[0].encoder.rnn.weight_hh_l0, networks[1].encoder.rnn.weight_hh_l0)
    featurize, ensemble = model.layers
    docs = [nlp.make_doc(text) for text, _ in PAIRS]
    features = featurize.predict(docs)
    members = numpy.stack([member.predict(features) for member in ensemble.layers])  # (3, B, nO)
    assert model.predict(docs) == pytest.approx(members.mean(axis=0), abs=1e-6)
    nlp.to_disk(tmp_path)
    reloaded = spacy.load(tmp_path)
    assert reloaded("京都の紅葉").cats == pytest.approx(nlp("京都の紅葉").cats, abs=1e-6)


def test_pipeline_pickles_and_predicts_the_same_after():
    # spaCy pickles the pipeline for nlp.pipe(n_process=N) under spawn / forkserver; every layer
    # function must therefore be importable by name (no closures)
    nlp, _ = overfit(model={**TINY, "members": 2}, epochs=2)
    copy = pickle.loads(pickle.dumps(nlp))
    for text, _ in PAIRS:
        assert copy(text).cats == pytest.approx(nlp(text).cats, abs=1e-6)


MULTIPROCESS_SCRIPT = """
import json, multiprocessing, sys
import spacy, torch
if __name__ == "__main__":
    torch.set_num_threads(2)  # the parent's OpenMP pool in use before workers start: what broke fork
    nlp = spacy.load(sys.argv[1])
    texts = json.loads(sys.argv[2]) * 20
    single = [doc.cats for doc in nlp.pipe(texts)]
    for method in ("fork", "spawn"):
        multiprocessing.set_start_method(method, force=True)
        workers = [doc.cats for doc in nlp.pipe(texts, n_process=2, batch_size=8)]
        assert len(workers) == len(single), method
        worst = max(abs(a[k] - b[k]) for a, b in zip(workers, single) for k in a)
        assert worst < 1e-5, (method, worst)
        print(method, "ok", flush=True)
"""


def test_multiprocess_pipe_equals_single_process_under_fork_and_spawn(trained, tmp_path):
    nlp, _ = trained
    nlp.to_disk(tmp_path / "model")
    script = tmp_path / "pipe_n_process.py"
    script.write_text(MULTIPROCESS_SCRIPT, encoding="utf-8")
    texts = json.dumps([text for text, _ in PAIRS], ensure_ascii=False)
    run = subprocess.Popen([sys.executable, str(script), str(tmp_path / "model"), texts],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:  # a deadlocked worker must fail the test, not hang the suite
        stdout, stderr = run.communicate(timeout=180)
    except subprocess.TimeoutExpired:
        os.killpg(run.pid, signal.SIGKILL)  # the script and its workers
        pytest.fail(f"nlp.pipe(n_process=2) hung; it printed: {run.communicate()[0]!r}")
    assert run.returncode == 0, stderr[-3000:]
    assert stdout.split() == ["fork", "ok", "spawn", "ok"]


def test_each_ensemble_member_gets_its_own_cross_entropy_gradient():
    ops = NumpyOps()
    X = ops.asarray2f(numpy.random.default_rng(0).normal(size=(5, 3)).astype("f"))
    truth = ops.asarray2f(numpy.eye(4, dtype="f")[[0, 1, 2, 3, 0]])
    members = [Softmax_v2(nO=4, nI=3) for _ in range(2)]
    ensemble = mean_of_members(members)
    ensemble.initialize(X=X, Y=truth)
    for member in members:  # distinct, non-zero weights
        member.set_param("W", ops.asarray2f(numpy.random.default_rng(id(member) % 97).normal(size=(4, 3)).astype("f")))
    mean, backprop = ensemble.begin_update(X)
    backprop(mean - truth)  # what TextCategorizer.get_loss hands back
    for member in members:
        alone = Softmax_v2(nO=4, nI=3)
        alone.initialize(X=X, Y=truth)
        alone.set_param("W", member.get_param("W").copy())
        probs, alone_backprop = alone.begin_update(X)
        alone_backprop(probs - truth)
        assert member.get_grad("W") == pytest.approx(alone.get_grad("W"), abs=1e-6)
        assert not numpy.allclose(member.get_grad("W"), 0.0)


def test_ngram_bag_learns_and_ignores_padding():
    _, result = overfit(model={**TINY, "ngram_dim": 8}, epochs=40)
    assert result.best_score == 1.0
    bag = HashedNgramBag(n_tokens=50, dim=4)
    ids = torch.tensor([[3, 7, 9, 0, 0], [0, 0, 0, 0, 0]])
    mask = ids != 0
    out = bag(ids, mask).detach().numpy()
    assert numpy.abs(out[1]).sum() == 0.0  # an empty sequence pools to zeros
    assert bag(ids[:, :3], mask[:, :3])[0].detach().numpy() == pytest.approx(out[0], abs=1e-6)  # padding is never read
    bigram = (3 * 1_000_003 + 7) % 49 + 1
    expected = (bag.unigrams.weight[3] + bag.unigrams.weight[7] + bag.bigrams.weight[bigram]) / 3
    assert bag(ids[:1, :2], mask[:1, :2])[0].detach().numpy() == pytest.approx(expected.detach().numpy(), abs=1e-6)


def test_word_dropout_blanks_whole_tokens_in_training_only():
    torch.manual_seed(0)
    vectors = torch.randn(10, 6)
    encoder = RecurrentTextEncoder(vectors, n_tokens=50, trainable_dim=4, hidden_size=5, dropout=0.0,
                                   ngram_dim=3, word_dropout=0.5)
    rows = torch.tensor([[1, 2, 3, 4, 5, 6, 7, 8]])  # (1, 8)
    ids = torch.tensor([[11, 12, 13, 14, 15, 16, 17, 18]])
    lengths, mask = torch.tensor([8]), torch.ones(1, 8, dtype=torch.bool)
    encoder.eval()
    first = encoder(rows, ids, lengths, mask)
    assert torch.equal(first, encoder(rows, ids, lengths, mask))  # no blanking at prediction time
    encoder.train()
    draws = [encoder(rows, ids, lengths, mask)[0].tolist() for _ in range(20)]
    changed = sum(not numpy.allclose(out, first[0].tolist()) for out in draws)
    assert changed >= 15  # all but the rare draws (1 in 256) that blank none of the 8 tokens
    assert len({tuple(out) for out in draws}) > 10  # each draw blanks other tokens
    # a blanked position (id 0 inside the mask) is absent from the bag, as if the token were not there
    bag = encoder.ngrams
    with_gap = bag(torch.tensor([[11, 0, 13]]), torch.ones(1, 3, dtype=torch.bool))
    expected = (bag.unigrams.weight[11] + bag.unigrams.weight[13]) / 2
    assert with_gap[0].detach().numpy() == pytest.approx(expected.detach().numpy(), abs=1e-6)
    with pytest.raises(ValueError, match="word_dropout"):
        RecurrentTextEncoder(vectors, n_tokens=50, word_dropout=1.0)


def test_word_dropout_option_trains():
    _, result = overfit(model={**TINY, "word_dropout": 0.1}, epochs=40)
    assert result.best_score == 1.0


def test_a_saved_classifier_records_its_vectors_and_refuses_other_ones(trained, tmp_path):
    import srsly

    from pipeline.components.architectures import ginza_vectors_record
    from pipeline.errors import VectorsMismatchError

    nlp, _ = trained
    nlp.to_disk(tmp_path / "model")
    cfg_path = tmp_path / "model" / "theme" / "cfg"
    cfg = srsly.read_json(cfg_path)
    assert cfg["vectors"] == ginza_vectors_record() and cfg["vectors"]["shape"] == [20000, 300]
    expected = nlp("京都の紅葉").cats

    srsly.write_json(cfg_path, {**cfg, "vectors": {**cfg["vectors"], "version": "9.9.9", "sha256": "0" * 64}})
    with pytest.raises(VectorsMismatchError, match="9.9.9.*installed"):
        spacy.load(tmp_path / "model")

    srsly.write_json(cfg_path, {key: value for key, value in cfg.items() if key != "vectors"})  # saved before records
    with pytest.warns(UserWarning, match="no record of the vectors"):
        older = spacy.load(tmp_path / "model")
    assert older("京都の紅葉").cats == pytest.approx(expected, abs=1e-6)


def test_classifiers_sharing_features_in_one_pipeline_score_each_doc_as_alone(trained, tmp_path):
    nlp, _ = trained
    nlp.to_disk(tmp_path / "model")
    both = spacy.load(tmp_path / "model")
    both.add_pipe("theme", name="theme_again", source=spacy.load(tmp_path / "model"))
    texts = [text for text, _ in PAIRS] * 30 + ["", "京都"]
    alone = [nlp(text).cats for text in texts]
    for doc, expected in zip(both.pipe(texts, batch_size=50), alone):
        assert doc.cats == pytest.approx(expected, abs=1e-6)  # the second classifier read the first's features


def test_the_classifier_reads_the_pipelines_vectors_and_does_not_save_them(trained, tmp_path):
    from spacy.vectors import Vectors

    from pipeline.ginza import GinzaVectors, ginza_vocab

    nlp, _ = trained
    assert isinstance(nlp.vocab.vectors, GinzaVectors) and nlp.vocab.vectors.data is ginza_vocab().vectors.data
    network, = torch_networks(nlp.get_pipe("theme").model)
    assert tuple(network.embed.vectors.shape) == (20000, 300)
    nlp.to_disk(tmp_path)
    assert not [p.name for p in (tmp_path / "vocab").iterdir() if p.name.startswith("vectors")]  # ja_ginza's, not saved
    # a pipeline given other vectors before its classifier reads those
    other = blank_japanese()
    other.vocab.vectors = Vectors(data=numpy.ones((3, 300), dtype="f"), keys=["京都", "紅葉", "猫"])
    other.add_pipe("knbc_textcat", config={"model": TINY})
    network, = torch_networks(other.get_pipe("knbc_textcat").model)
    assert tuple(network.embed.vectors.shape) == (3, 300)
    # Docs from a vocab without vectors are refused, not featurized as all "no vector"
    with pytest.raises(ValueError, match="no vectors"):
        nlp.get_pipe("theme").predict([spacy.blank("ja")("京都")])


def test_concat_pooling_is_last_max_mean():
    import torch
    from pipeline.nn.encoders import Pooling
    states = torch.tensor([[[1.0, -1.0], [3.0, 0.0], [0.0, 0.0]], [[0.0, 0.0], [0.0, 0.0], [0.0, 0.0]]])  # (2, 3, 2)
    mask = torch.tensor([[True, True, False], [False, False, False]])
    final = torch.tensor([[3.0, 0.0], [0.0, 0.0]])
    pooled, _ = Pooling("concat", 2)(states, final, mask)
    assert Pooling("concat", 2).output_dim == 6
    assert pooled.tolist() == [[3.0, 0.0, 3.0, 0.0, 2.0, -0.5], [0.0] * 6]
