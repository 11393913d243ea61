"""The classifier recipe's switches (issue 12): the [last; max; mean] pooling, training a fixed number of
epochs (keep = "last"), the refit on train + dev, class weights; in `knbc train`'s config and in the
variants config of `knbc evaluate`. Tiny networks on a handful of sentences."""

import json
from pathlib import Path

import pytest
import spacy
import torch
from typer.testing import CliRunner

import pipeline.training.loop as loop
from pipeline.cli import app
from pipeline.errors import UsageError
from pipeline.ginza import blank_japanese
from pipeline.nn.encoders import Pooling
from pipeline.nn.text_encoder import RecurrentTextEncoder
from pipeline.training.data import labelled_texts_to_examples
from pipeline.training.loop import TrainSettings, class_weights, train_component

CONFIGS = Path(__file__).resolve().parents[1] / "models" / "configs"
TINY = {"@architectures": "knbc.RNNClassifier.v1", "hidden_size": 8, "trainable_dim": 8, "n_buckets": 200,
        "dropout": 0.0}
PAIRS = [
    ("京都の紅葉がきれいでした。", "京都観光"),
    ("清水寺に行きました。", "京都観光"),
    ("新しいケータイの電池がすぐ切れる。", "携帯電話"),
    ("携帯のメールが届かない。", "携帯電話"),
    ("ラーメンがおいしかった。", "グルメ"),
    ("野球の試合を見た。", "スポーツ"),
]
DEV = [("金閣寺を見た。", "京都観光"), ("電池が切れた。", "携帯電話")]
LABELS = ("携帯電話", "京都観光", "スポーツ", "グルメ")
runner = CliRunner()


# ---- the [last; max; mean] pooling -------------------------------------------------------------------


def test_concat_pooling_ignores_padding_whatever_it_holds():
    states = torch.randn(3, 5, 4)  # (B, T, H)
    lengths = torch.tensor([5, 2, 0])
    mask = torch.arange(5)[None, :] < lengths[:, None]  # (B, T)
    final = torch.randn(3, 4) * (lengths > 0).float()[:, None]
    pool = Pooling("concat", 4)
    pooled, weights = pool(states, final, mask)
    assert pooled.shape == (3, 12) and pool.output_dim == 12 and weights is None
    noisy = states.masked_fill(~mask[..., None], 1e6)  # padding that would win a max and swamp a mean
    again, _ = pool(noisy, final, mask)
    assert torch.equal(again, pooled)
    assert torch.equal(pooled[1, :4], final[1])
    assert torch.allclose(pooled[1, 4:8], states[1, :2].max(dim=0).values)
    assert torch.allclose(pooled[1, 8:], states[1, :2].mean(dim=0))
    assert torch.equal(pooled[2], torch.zeros(12))  # an empty row: zeros, no -inf or NaN


@pytest.mark.parametrize("bidirectional", [False, True])
def test_a_concat_encoder_is_three_states_wide_and_learns_through_every_part(bidirectional):
    torch.manual_seed(0)
    encoder = RecurrentTextEncoder(torch.randn(10, 300), 50, trainable_dim=4, hidden_size=6, pooling="concat",
                                   bidirectional=bidirectional, dropout=0.0)
    width = 6 * (2 if bidirectional else 1)
    assert encoder.output_dim == 3 * width
    rows, ids = torch.tensor([[1, 2, 3], [4, -1, -1]]), torch.tensor([[5, 6, 7], [8, 0, 0]])
    lengths, mask = torch.tensor([3, 1]), torch.tensor([[True, True, True], [True, False, False]])
    out = encoder(rows, ids, lengths, mask)  # (B, 3H)
    assert out.shape == (2, 3 * width) and torch.isfinite(out).all()
    out.sum().backward()
    assert encoder.encoder.rnn.weight_ih_l0.grad.abs().sum() > 0


def test_a_model_saved_before_the_pooling_option_loads_as_attention():
    from pipeline.components.architectures import torch_networks

    nlp = blank_japanese()
    nlp.add_pipe("knbc_textcat", name="theme", config={"model": {k: v for k, v in TINY.items()}})
    network, = torch_networks(nlp.get_pipe("theme").model)
    assert network.pool.kind == "attention"  # the default: today's models keep their meaning


# ---- training: fixed epochs, refit, class weights ----------------------------------------------------


def _pipeline():
    nlp = blank_japanese()
    nlp.add_pipe("knbc_textcat", name="theme", config={"model": {**TINY, "pooling": "concat"}})
    return nlp


def _train(settings, monkeypatch=None):
    """Train a tiny theme classifier; returns (nlp, result, the number of examples of each epoch)."""
    nlp = _pipeline()
    train = labelled_texts_to_examples(nlp, PAIRS, LABELS)
    dev = labelled_texts_to_examples(nlp, DEV, LABELS)
    seen = []
    if monkeypatch is not None:
        batches = loop.length_bucketed_batches

        def counted(items, *args, **kwargs):
            seen.append(len(items))
            return batches(items, *args, **kwargs)

        monkeypatch.setattr(loop, "length_bucketed_batches", counted)
    return nlp, train_component(nlp, "theme", train, dev, settings, progress=False), seen


def test_fixed_epochs_run_every_epoch_and_keep_the_last(monkeypatch):
    # patience 0 would stop at the first epoch that does not improve: keep = "last" never stops
    nlp, result, seen = _train(TrainSettings(max_epochs=4, patience=0, keep="last", batch_size=3, seed=1),
                               monkeypatch)
    assert (result.best_epoch, len(result.history), seen) == (4, 4, [6] * 4) and result.refit is None


def test_refit_trains_afresh_on_train_and_dev_for_the_epochs_chosen_on_dev(monkeypatch):
    settings = TrainSettings(max_epochs=5, patience=5, batch_size=3, learn_rate=0.01, seed=1)
    chosen_nlp, chosen, _ = _train(settings)
    nlp, result, seen = _train(TrainSettings(**{**vars(settings), "refit": True}), monkeypatch)
    def scores(history):
        return [(h["epoch"], h["loss"], h["dev"]) for h in history]

    assert result.best_epoch == chosen.best_epoch and scores(result.history) == scores(chosen.history)  # same selection
    epochs = chosen.best_epoch
    assert len(result.refit.history) == epochs and result.refit.best_epoch == epochs
    assert seen == [len(PAIRS)] * len(chosen.history) + [len(PAIRS) + len(DEV)] * epochs
    texts = [text for text, _ in PAIRS + DEV]
    assert [d.cats for d in nlp.pipe(texts)] != [d.cats for d in chosen_nlp.pipe(texts)]  # the refit's weights


def test_dev_in_train_and_refit_exclude_each_other_and_dev_in_train_trains_on_both(monkeypatch):
    with pytest.raises(ValueError, match="exclude each other"):
        TrainSettings(refit=True, dev_in_train=True)
    _, result, seen = _train(TrainSettings(max_epochs=2, keep="last", dev_in_train=True, batch_size=3), monkeypatch)
    assert seen == [len(PAIRS) + len(DEV)] * 2


def test_class_weights_favour_the_rare_label_with_mean_one():
    nlp = _pipeline()
    examples = labelled_texts_to_examples(nlp, [(t, "京都観光") for t, _ in PAIRS[:3]] + [PAIRS[2]], LABELS)
    assert class_weights(examples, LABELS, 0.0) is None
    weights = class_weights(examples, LABELS, 1.0)  # 3 京都観光, 1 携帯電話 of 4
    assert weights["携帯電話"] == pytest.approx(3 * weights["京都観光"])
    gold = ["京都観光"] * 3 + ["携帯電話"]
    assert sum(weights[g] for g in gold) / 4 == pytest.approx(1.0)
    half = class_weights(examples, LABELS, 0.5)
    assert half["携帯電話"] / half["京都観光"] == pytest.approx(3 ** 0.5)


def test_class_balance_reaches_the_classifiers_loss():
    nlp, _, _ = _train(TrainSettings(max_epochs=1, class_balance=1.0, batch_size=3))
    pipe = nlp.get_pipe("theme")
    weights = pipe.class_weight  # 1 スポーツ, 1 グルメ, 2 京都観光, 2 携帯電話
    assert weights["スポーツ"] == pytest.approx(weights["グルメ"]) == pytest.approx(2 * weights["京都観光"])
    examples = labelled_texts_to_examples(nlp, PAIRS, LABELS)
    scores = pipe.model.predict([eg.predicted for eg in examples])
    _, weighted = pipe.get_loss(examples, scores)
    pipe.class_weight = None
    _, plain = pipe.get_loss(examples, scores)
    ratio = (weighted / plain)[:, 0]  # each example's gradient scaled by its gold label's weight
    assert ratio.tolist() == pytest.approx([weights[label] for _, label in PAIRS])


# ---- the settings in the config files ----------------------------------------------------------------


def _config(tmp_path, **knbc):
    config = spacy.util.load_config(CONFIGS / "theme.cfg")
    config["components"]["theme"]["model"].update({"hidden_size": 8, "trainable_dim": 8, "n_buckets": 100})
    config["knbc"].update(knbc)
    path = tmp_path / "theme.cfg"
    config.to_disk(path)
    return path


def _rows(path, pairs):
    path.write_text("".join(json.dumps({"text": t, "label": label}, ensure_ascii=False) + "\n" for t, label in pairs),
                    encoding="utf-8")
    return path


def test_knbc_train_reads_the_recipe_from_the_config_and_records_the_refit(tmp_path):
    train, dev = _rows(tmp_path / "train.jsonl", PAIRS), _rows(tmp_path / "dev.jsonl", DEV)
    out = tmp_path / "model"
    result = runner.invoke(app, ["train", str(_config(tmp_path, refit=True, class_balance=0.5)), "--out", str(out),
                                 "--train", str(train), "--dev", str(dev), "--max-epochs", "2", "--quiet",
                                 "--set", "knbc.keep=last"])
    assert result.exit_code == 0, result.output
    assert "refit: 2 epochs afresh on train + dev" in result.output
    metrics = json.loads((out / "metrics.json").read_text())
    settings = metrics["settings"]
    assert (settings["keep"], settings["refit"], settings["class_balance"]) == ("last", True, 0.5)
    assert metrics["settings_from"]["refit"] == "config" and metrics["settings_from"]["keep"] == "command line"
    assert metrics["refit"]["n_train"] == len(PAIRS) + len(DEV) and metrics["refit"]["epochs"] == 2
    assert metrics["data"]["n_trained_on"] == len(PAIRS)  # the selection run's; the refit's is above
    assert set(spacy.load(out)("京都").cats) == set(LABELS)


def test_a_recipe_setting_of_the_wrong_kind_is_a_one_line_error(tmp_path):
    train = _rows(tmp_path / "train.jsonl", PAIRS)
    result = runner.invoke(app, ["train", str(_config(tmp_path)), "--out", str(tmp_path / "m"), "--train", str(train),
                                 "--dev", str(train), "--quiet", "--set", "knbc.keep=first"])
    assert result.exit_code == 2 and "keep must be 'best' or 'last'" in result.output
    assert len(result.output.strip().splitlines()) == 1 and not (tmp_path / "m").exists()


def test_a_tagger_refuses_the_classifiers_recipe_settings():
    from confection import Config

    from pipeline.training.train import tagger_settings

    config = Config().from_disk(CONFIGS / "ner.cfg")
    config["knbc"]["refit"] = True
    with pytest.raises(UsageError, match="knbc.refit: a classifier's setting"):
        tagger_settings(config, "ner")
    config["knbc"]["refit"] = False
    config["knbc"]["keep"] = "last"
    assert tagger_settings(config, "ner").keep == "last"


def test_a_variant_trains_with_its_own_training_section(tmp_path):
    from pipeline.evaluation.models import build_model, load_compared_models

    path = tmp_path / "v.cfg"
    path.write_text("[training]\nmax_epochs = 8\npatience = 2\n\n[model]\nhidden_size = 8\n\n[variants]\n\n"
                    "[variants.plain]\npooling = \"attention\"\n\n[variants.recipe]\npooling = \"concat\"\n\n"
                    "[variants.recipe.training]\nkeep = \"last\"\nmax_epochs = 6\n", encoding="utf-8")
    compared = load_compared_models(path, {"variants.recipe.training.refit": False})
    assert build_model("plain", LABELS, compared).settings == compared.settings
    recipe = build_model("recipe", LABELS, compared)
    assert (recipe.settings.keep, recipe.settings.max_epochs, recipe.settings.patience) == ("last", 6, 2)
    assert recipe.nlp.config["components"]["task"]["model"]["pooling"] == "concat"
    assert "training" not in compared.variants["recipe"]
    with pytest.raises(UsageError, match="variants.plain.training.refit"):
        load_compared_models(path, {"variants.plain.training.refit": True})
    with pytest.raises(UsageError, match="variants.recipe.training"):
        load_compared_models(path, {"variants.recipe.training.keep": "first"})


@pytest.mark.parametrize("name", ["variants.cfg", "recipe.cfg", "variants-pretrained.cfg"])
def test_every_shipped_variants_config_loads_with_its_own_training_sections(name):
    from pathlib import Path

    from pipeline.evaluation.models import load_compared_models

    path = Path(__file__).resolve().parents[1] / "models" / "configs" / name
    compared = load_compared_models(path)
    assert compared.variants and all("training" not in options for options in compared.variants.values())
