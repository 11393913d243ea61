"""knbc.RNNClassifier.v2 over a pretrained BiLM: the scalar mix, the network with each encoder option,
ULMFiT's schedule (which groups are frozen when, through the real training loop), spaCy's
test_overfitting_IO pattern with save/load (also without the LM's folder), v1 still building, and the
evaluation's variants and training subsamples. Every LM here is a tiny random one."""

import io
import json
import shutil

import pytest
import spacy
import torch

from pipeline.components.architectures import torch_networks
from pipeline.ginza import blank_japanese
from pipeline.nn.finetune_schedule import FinetuneSchedule
from pipeline.nn.pretrained_classifier import PretrainedEncoderClassifier, bilm_encoder
from pipeline.nn.scalar_mix import ScalarMix
from pipeline.training.data import labelled_texts_to_examples
from pipeline.training.loop import TrainSettings, train_component

PAIRS = [
    ("京都の紅葉がきれいでした。", "京都観光"),
    ("新しいケータイの電池がすぐ切れる。", "携帯電話"),
    ("ラーメンがおいしかった。", "グルメ"),
]
LABELS = ("京都観光", "携帯電話", "グルメ")


# --- the scalar mix -------------------------------------------------------------------------------

def test_scalar_mix_weights_sum_to_one_and_padding_is_zero():
    torch.manual_seed(0)
    mix = ScalarMix(3)
    with torch.no_grad():
        mix.scalars.copy_(torch.tensor([0.5, -1.0, 2.0]))
        mix.gamma.fill_(2.0)
    assert torch.isclose(mix.weights.sum(), torch.tensor(1.0))
    layers = [torch.randn(2, 4, 5) for _ in range(3)]
    mask = torch.tensor([[True, True, True, False], [True, False, False, False]])
    out = mix(layers, mask)  # (2, 4, 5)
    assert out.shape == (2, 4, 5)
    assert torch.all(out[~mask] == 0)
    expected = 2.0 * sum(w * layer for w, layer in zip(mix.weights, layers))
    assert torch.allclose(out[mask], expected[mask], atol=1e-6)
    out.sum().backward()
    assert mix.scalars.grad is not None and mix.gamma.grad is not None


def test_scalar_mix_layer_norm_ignores_what_padding_holds():
    torch.manual_seed(0)
    mix = ScalarMix(2, layer_norm=True)
    layers = [torch.randn(2, 4, 3) for _ in range(2)]
    mask = torch.tensor([[True, True, False, False], [True, True, True, False]])
    noisy = [layer.masked_fill(~mask.unsqueeze(-1), 1000.0) for layer in layers]
    assert torch.allclose(mix(layers, mask), mix(noisy, mask), atol=1e-5)
    with pytest.raises(ValueError):
        mix(layers[:1], mask)


# --- the network ----------------------------------------------------------------------------------

def tiny_network(encoder, vector_dim=6, layers=1):
    torch.manual_seed(0)
    vocab_size = 12
    bilm = bilm_encoder(vector_dim, vocab_size, trainable_dim=3, hidden_size=5, layers=layers) if encoder else None
    hashes = torch.arange(vocab_size, dtype=torch.long) * 7 + 100 if encoder else None  # id i <-> hash 100 + 7i
    network = PretrainedEncoderClassifier(torch.randn(9, vector_dim), n_tokens=20, encoder=encoder, bilm=bilm,
                                          vocab_hashes=hashes, trainable_dim=4, hidden_size=4, dropout=0.0,
                                          pooling="concat" if encoder == "finetune" else "attention")
    network.set_vectors(torch.randn(9, vector_dim))
    return network


def tiny_batch():
    lengths = torch.tensor([4, 2, 0])
    mask = torch.arange(4).unsqueeze(0) < lengths.unsqueeze(1)  # (3, 4)
    rows = torch.randint(-1, 9, (3, 4)).masked_fill(~mask, -1)
    ids = torch.randint(1, 20, (3, 4)).masked_fill(~mask, 0)
    orth = torch.tensor([[100, 107, 5, 121], [128, 999, 0, 0], [0, 0, 0, 0]]).masked_fill(~mask, 0)
    return rows, ids, lengths, mask, orth


def test_the_lm_reads_its_own_ids_by_orth_hash():
    network = tiny_network("features")
    *_, mask, orth = tiny_batch()
    assert network.bilm_ids(orth, mask).tolist() == [[0, 1, 1, 3], [4, 1, 0, 0], [0, 0, 0, 0]]


@pytest.mark.parametrize("encoder", [None, "features", "finetune"])
def test_v2_network_forward_and_backprop(encoder):
    network = tiny_network(encoder, layers=2)
    out = network(*tiny_batch())
    assert out.shape == (3, network.output_dim) and torch.isfinite(out).all()
    assert torch.all(out[2] == 0)  # an empty text pools to zeros
    out.sum().backward()
    lm_grads = [p.grad for p in network.bilm.parameters()] if network.bilm is not None else []
    if encoder == "features":  # frozen LM, trained mix
        assert all(g is None for g in lm_grads) and network.mix.scalars.grad is not None
    if encoder == "finetune":
        assert any(g is not None and g.abs().sum() > 0 for g in lm_grads)
    trained = [p for name, p in network.named_parameters() if not name.startswith("bilm") and p.requires_grad]
    assert not trained if encoder == "finetune" else True  # concat pooling: the head is the component's softmax
    assert encoder == "finetune" or any(p.grad is not None and p.grad.abs().sum() > 0 for p in trained)


def test_features_mode_keeps_the_lm_in_eval_mode():
    network = tiny_network("features").train()
    assert network.training and not network.bilm.training


# --- the fine-tuning schedule ---------------------------------------------------------------------

def test_schedule_unfreezes_one_group_per_epoch_and_scales_learning_rates():
    groups = [[torch.nn.Parameter(torch.zeros(1))] for _ in range(3)]  # embedding, LSTM, head
    schedule = FinetuneSchedule(groups, decay=2.6)
    assert schedule.trainable(0) == [False, False, True]
    assert schedule.trainable(1) == [False, True, True]
    assert schedule.trainable(2) == schedule.trainable(5) == [True, True, True]
    assert [schedule.lr_scale(g) for g in range(3)] == pytest.approx([1 / 2.6 ** 2, 1 / 2.6, 1.0])
    schedule.apply(1)
    assert [g[0].requires_grad for g in groups] == [False, True, True]
    assert schedule.parameter_lr_scale(groups[1][0]) == pytest.approx(1 / 2.6)
    assert FinetuneSchedule(groups, unfreeze=False).trainable(0) == [True, True, True]
    with pytest.raises(ValueError):
        FinetuneSchedule(groups, decay=0.5)


def test_network_layer_groups_cover_every_parameter_once():
    network = tiny_network("finetune", layers=2)
    groups = network.layer_groups()
    assert len(groups) == 4  # embedding, 2 LSTM layers, head
    ids = [id(p) for group in groups for p in group]
    assert len(ids) == len(set(ids)) == len(list(network.parameters()))


# --- the component ---------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def lm_folder(make_lm_folder):
    """A tiny random BiLM saved as `knbc pretrain` saves one, over the test sentences' tokens."""
    return make_lm_folder([text for text, _ in PAIRS])


def v2(encoder, lm_folder, **options):
    return {"@architectures": "knbc.RNNClassifier.v2", "encoder": encoder, "encoder_path": str(lm_folder),
            "hidden_size": 8, "trainable_dim": 8, "n_buckets": 100, "dropout": 0.0, **options}


def overfit(model, epochs=40, batch_size=3, keep="best"):
    nlp = blank_japanese()
    nlp.add_pipe("knbc_textcat", name="theme", config={"model": model})
    examples = labelled_texts_to_examples(nlp, PAIRS, LABELS)
    settings = TrainSettings(max_epochs=epochs, patience=epochs, batch_size=batch_size, learn_rate=0.01, seed=1,
                             keep=keep)
    return nlp, train_component(nlp, "theme", examples, examples, settings, progress=False)


def predictions(nlp):
    return [nlp(text).cats for text, _ in PAIRS]


@pytest.mark.parametrize("encoder,pooling", [(None, "attention"), ("features", "attention"), ("finetune", "concat")])
def test_overfitting_io(encoder, pooling, lm_folder, tmp_path):
    # finetune + concat pooling: in the first epoch nothing of the torch network trains (the head is the
    # component's softmax layer)
    nlp, result = overfit(v2(encoder, lm_folder, pooling=pooling))
    assert result.best_score == 1.0
    for text, label in PAIRS:
        cats = nlp(text).cats
        assert max(cats, key=cats.get) == label
    before = predictions(nlp)
    nlp.to_disk(tmp_path / "nlp")
    moved = tmp_path / "lm-gone"
    shutil.copytree(lm_folder, moved)
    config = (tmp_path / "nlp" / "config.cfg").read_text(encoding="utf-8")
    (tmp_path / "nlp" / "config.cfg").write_text(config.replace(str(lm_folder), str(moved)), encoding="utf-8")
    shutil.rmtree(moved)  # the saved pipeline must not need the LM's folder
    loaded = spacy.load(tmp_path / "nlp")
    after = predictions(loaded)
    for a, b in zip(before, after):
        assert a == pytest.approx(b, abs=1e-5)
    # the weights are a state_dict that loads with weights_only=True, the LM's in fp16
    network, = torch_networks(loaded.get_pipe("theme").model)
    payload = torch.load(io.BytesIO(network_bytes(loaded)), weights_only=True)
    lm_weights = [v for k, v in payload["state"].items() if k.startswith("bilm.") and v.is_floating_point()]
    assert (len(lm_weights) > 0) == (encoder is not None)
    assert all(v.dtype == torch.float16 for v in lm_weights)


def network_bytes(nlp):
    from pipeline.components.architectures import serialize_v2_network

    network, = torch_networks(nlp.get_pipe("theme").model)
    return serialize_v2_network(network)


def test_training_without_the_lm_folder_is_a_one_line_error(tmp_path):
    from pipeline.errors import ModelError

    with pytest.raises(ModelError, match="no pretrained LM there"):
        overfit(v2("features", tmp_path / "missing"), epochs=1)


def lm_weights(nlp, part):
    network, = torch_networks(nlp.get_pipe("theme").model)
    module = network.bilm.embed if part == "embedding" else network.bilm.rnns
    return [p.detach().clone() for p in module.parameters()]


def changed(a, b):
    return any(not torch.equal(x, y) for x, y in zip(a, b))


def test_gradual_unfreezing_through_the_training_loop(lm_folder):
    """Epoch 1: the head alone; epoch 2: + the LSTM; epoch 3: + the embedding (3 examples an epoch; the
    last epoch kept, not the best)."""
    nlp, _ = overfit(v2("finetune", lm_folder), epochs=1, batch_size=2, keep="last")  # initialize and one epoch
    fresh = blank_japanese()
    fresh.add_pipe("knbc_textcat", name="theme", config={"model": v2("finetune", lm_folder)})
    start_embed, start_lstm = lm_weights(fresh, "embedding"), lm_weights(fresh, "lstm")
    assert not changed(lm_weights(nlp, "embedding"), start_embed)
    assert not changed(lm_weights(nlp, "lstm"), start_lstm)
    nlp, _ = overfit(v2("finetune", lm_folder), epochs=2, batch_size=2, keep="last")
    assert changed(lm_weights(nlp, "lstm"), start_lstm) and not changed(lm_weights(nlp, "embedding"), start_embed)
    nlp, _ = overfit(v2("finetune", lm_folder), epochs=3, batch_size=2, keep="last")
    assert changed(lm_weights(nlp, "embedding"), start_embed)
    nlp, _ = overfit(v2("finetune", lm_folder, gradual_unfreezing=False), epochs=1, batch_size=2, keep="last")
    assert changed(lm_weights(nlp, "embedding"), start_embed)


def test_v1_configs_still_build_and_shipped_v1_models_load():
    from pipeline.components.textcat import DEFAULT_MODEL

    nlp = blank_japanese()
    nlp.add_pipe("knbc_textcat", config={"model": DEFAULT_MODEL})
    assert nlp.config["components"]["knbc_textcat"]["model"]["@architectures"] == "knbc.RNNClassifier.v1"
    from pipeline.resources import CHECKOUT_DIR

    shipped = spacy.load(CHECKOUT_DIR / "models" / "sentiment")
    assert shipped("とてもおいしかった。").cats


# --- the evaluation ---------------------------------------------------------------------------------

def test_variants_may_name_v2_and_a_wrong_setting_is_a_user_error(tmp_path):
    from pipeline.errors import UsageError
    from pipeline.evaluation.models import VARIANTS_CONFIG, build_model, load_compared_models

    compared = load_compared_models(VARIANTS_CONFIG.parent / "variants-pretrained.cfg")
    assert {"bilstm_attention", "elmo_features", "ulmfit"} <= set(compared.names)
    model = build_model("ulmfit", ["a", "b"], compared)
    assert model.nlp.config["components"]["task"]["model"]["@architectures"] == "knbc.RNNClassifier.v2"
    bad = tmp_path / "bad.cfg"
    bad.write_text("[training]\n[model]\n[variants]\n[variants.x]\nencoder = \"features\"\n", encoding="utf-8")
    with pytest.raises(UsageError, match="has no setting 'encoder'"):
        load_compared_models(bad)


def test_train_fraction_subsamples_articles_nested_and_the_same_every_time(corpus):
    from pipeline.corpus.splits import load_splits
    from pipeline.evaluation.protocols import protocol_runs, subsample_articles

    full, = protocol_runs(corpus.sentences, load_splits(), "cv5", runs=1)
    runs = {f: protocol_runs(corpus.sentences, load_splits(), "cv5", runs=1, train_fraction=f)[0] for f in (0.1, 0.5)}
    articles = {f: {r.article_id for r in run.train} for f, run in runs.items()}
    assert articles[0.1] < articles[0.5] < {r.article_id for r in full.train}
    assert runs[0.1].dev == full.dev and runs[0.1].test == full.test
    assert {r.theme for r in runs[0.1].train} == {r.theme for r in full.train}  # every theme keeps an article
    assert subsample_articles(full.train, 0.25, 1) == subsample_articles(full.train, 0.25, 1)
    with pytest.raises(ValueError):
        subsample_articles(full.train, 0.0, 1)


# --- a user's labels through `knbc train` -------------------------------------------------------------

USER_ROWS = [
    {"text": "この店のラーメンは最高だ。", "label": "good"},
    {"text": "店員の態度が悪かった。", "label": "bad"},
    {"text": "とてもおいしかった。", "label": "good"},
    {"text": "二度と行かない。", "label": "bad"},
]


@pytest.mark.parametrize("encoder", ["features", "finetune"])
def test_knbc_train_v2_on_user_csv_and_jsonl(encoder, lm_folder, tmp_path):
    import pandas as pd
    from typer.testing import CliRunner

    import pipeline
    from pipeline.cli import app
    from pipeline.resources import CHECKOUT_DIR

    config = spacy.util.load_config(CHECKOUT_DIR / "models" / "configs" / "sentiment-pretrained.cfg")
    assert config["components"]["sentiment"]["model"]["@architectures"] == "knbc.RNNClassifier.v2"
    config["components"]["sentiment"]["model"].update(
        {"encoder": encoder, "encoder_path": str(lm_folder), "hidden_size": 8, "trainable_dim": 8, "n_buckets": 100})
    config.to_disk(tmp_path / "v2.cfg")
    pd.DataFrame(USER_ROWS * 3).to_csv(tmp_path / "train.csv", index=False)
    (tmp_path / "dev.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in USER_ROWS),
                                        encoding="utf-8")
    out = tmp_path / "model"
    result = CliRunner().invoke(app, ["train", str(tmp_path / "v2.cfg"), "--out", str(out), "--train",
                                      str(tmp_path / "train.csv"), "--dev", str(tmp_path / "dev.jsonl"),
                                      "--max-epochs", "2", "--quiet"])
    assert result.exit_code == 0, result.output
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["labels"] == ["bad", "good"] and len(metrics["history"]) == 2
    assert set(pipeline.load(out)("おいしい").cats) == {"bad", "good"}


def test_the_pretraining_report_tables_the_runs_and_draws_the_learning_curve(tmp_path):
    import gzip

    import pandas as pd

    from pipeline.report.pretrained import build

    folders = []
    for fraction in (0.5, 1.0):
        folder = tmp_path / f"run-{fraction}"
        folder.mkdir()
        rows = [{"task": "sentiment", "protocol": "cv5", "run": f"fold{k}", "model": model, "macro_f1": score + k / 100,
                 "weighted_f1": 0.5, "accuracy": 0.6, "train_seconds": 10.0, "n_train": 100, "epochs": 3}
                for k in range(2) for model, score in (("bilstm_attention", 0.3 * fraction), ("ulmfit", 0.4))]
        pd.DataFrame(rows).to_csv(folder / "results.csv", index=False)
        config = {"train_fraction": fraction} if fraction < 1 else {}
        (folder / "config.json").write_text(json.dumps(config), encoding="utf-8")
        with gzip.open(folder / "predictions.jsonl.gz", "wt", encoding="utf-8") as out:
            out.write(json.dumps({"model": "ulmfit", "run": "fold0", "sid": "s1", "text": "長い文", "gold": "a",
                                  "pred": "a", "probs": {"a": 1.0}}) + "\n")
        folders.append(folder)
    report = build(tmp_path / "report", [folders[1]], folders).read_text(encoding="utf-8")
    assert "| ulmfit | 2 | 0.405 ± 0.007 |" in report
    assert "| 50% | bilstm_attention | 2 | 0.155 ± 0.007 |" in report
    assert (tmp_path / "report" / "learning_curve_sentiment.png").stat().st_size > 0
    with gzip.open(tmp_path / "report" / "run-0.5" / "predictions.jsonl.gz", "rt", encoding="utf-8") as rows:
        assert "text" not in json.loads(rows.readline())  # slimmed
