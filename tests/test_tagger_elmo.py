"""knbc.BiLSTMCRFTagger.v2 (the span tagger with a frozen pretrained BiLM's layers as ELMo-style features):
the network (frozen LM, trained mix, the same output with and without autograd), spaCy's test_overfitting_IO
pattern with save/load without the LM's folder, nlp.pipe equals nlp(), and a missing LM folder. Every LM
here is a tiny random one."""

import io
import shutil

import pytest
import spacy
import torch

from pipeline.errors import ModelError
from pipeline.ginza import blank_japanese
from pipeline.nn.pretrained_classifier import bilm_encoder
from pipeline.nn.tagger import BiLMFeatureTagger
from pipeline.training.loop import TrainSettings
from pipeline.training.tagging import SpanAlignment, read_span_file, train_tagger
from test_tagger import DATA as TAGGER_DATA
from test_tagger import gold, predicted, write_jsonl

DATA = TAGGER_DATA[:3]
TEXTS = [row["text"] for row in DATA]


def v2(lm_folder, **options):
    return {"@architectures": "knbc.BiLSTMCRFTagger.v2", "encoder": "features", "encoder_path": str(lm_folder),
            "hidden_size": 16, "trainable_dim": 8, "n_buckets": 500, "dropout": 0.0, "pos_dim": 4, **options}


# --- the network ----------------------------------------------------------------------------------

def tiny_tagger(dropout=0.0):
    torch.manual_seed(0)
    vocab_size, vector_dim = 12, 6
    bilm = bilm_encoder(vector_dim, vocab_size, trainable_dim=3, hidden_size=5, layers=2)
    hashes = torch.arange(vocab_size, dtype=torch.long) * 7 + 100  # id i <-> hash 100 + 7i
    network = BiLMFeatureTagger(torch.randn(9, vector_dim), n_tokens=20, bilm=bilm, vocab_hashes=hashes,
                                trainable_dim=4, hidden_size=4, dropout=dropout, n_pos=10, pos_dim=2)
    network.set_vectors(torch.randn(9, vector_dim))
    network.set_tags(["O", "B-X", "I-X"])
    return network


def tiny_batch():
    lengths = torch.tensor([4, 2, 1])
    mask = torch.arange(4).unsqueeze(0) < lengths.unsqueeze(1)  # (3, 4)
    rows = torch.randint(-1, 9, (3, 4)).masked_fill(~mask, -1)
    ids = torch.randint(1, 20, (3, 4)).masked_fill(~mask, 0)
    pos = torch.randint(1, 10, (3, 4)).masked_fill(~mask, 0)
    orth = torch.tensor([[100, 107, 5, 121], [128, 999, 0, 0], [114, 0, 0, 0]]).masked_fill(~mask, 0)
    return rows, ids, lengths, mask, pos, orth


def test_the_lm_is_frozen_and_the_mix_and_tagger_learn():
    network = tiny_tagger().train()
    assert not network.bilm.training  # frozen features: no dropout inside the LM
    rows, ids, lengths, mask, pos, orth = tiny_batch()
    tags = torch.randint(0, 3, (3, 4)).masked_fill(~mask, 0)
    network(rows, ids, lengths, mask, pos, tags=tags, orth=orth).sum().backward()
    assert all(p.grad is None for p in network.bilm.parameters())
    assert network.mix.scalars.grad is not None and network.mix.gamma.grad is not None
    assert network.encoder.rnn.weight_ih_l0.shape[1] == network.input_width + network.mix_width
    with pytest.raises(ValueError, match="orth"):
        network(rows, ids, lengths, mask, pos)


def test_inference_without_autograd_gives_the_training_path_s_numbers():
    """Whatever inference shortcut the tagger takes (no grad, eval mode), the LM's mix must reach the BiLSTM."""
    network = tiny_tagger(dropout=0.3).eval()
    batch = tiny_batch()
    rows, ids, lengths, mask, pos, orth = batch
    with torch.enable_grad():
        expected = network.emissions(rows, ids, lengths, mask, pos, orth=orth)
    with torch.inference_mode():
        fast = network.emissions(rows, ids, lengths, mask, pos, orth=orth)
        spans = network.predict_spans(rows, ids, lengths, mask, pos, orth=orth)
    assert torch.allclose(fast[mask], expected.detach()[mask], atol=1e-5)
    assert len(spans) == 3
    with torch.no_grad():  # the mix matters: other LM features, other scores
        network.mix.gamma.fill_(5.0)
        assert not torch.allclose(network.emissions(rows, ids, lengths, mask, pos, orth=orth)[mask],
                                  expected.detach()[mask], atol=1e-5)


# --- the component --------------------------------------------------------------------------------

def overfit(model, tmp_path, epochs=40):
    nlp = blank_japanese()
    nlp.add_pipe("knbc_tagger", name="ner", config={"model": model, "spans_key": None})
    examples = read_span_file(nlp, write_jsonl(tmp_path / "train.jsonl", DATA), None, SpanAlignment())
    settings = TrainSettings(max_epochs=epochs, patience=epochs, batch_size=2, learn_rate=0.02, seed=1, metric="f")
    return nlp, train_tagger(nlp, "ner", examples, examples, settings, progress=False)


@pytest.fixture(scope="module")
def lm_folder(make_lm_folder):
    return make_lm_folder(TEXTS)


def test_overfitting_io_and_loading_without_the_lm_folder(lm_folder, tmp_path):
    nlp, result = overfit(v2(lm_folder), tmp_path)
    assert result.best_score == 1.0
    assert [predicted(nlp(t)) for t in TEXTS] == [gold(row) for row in DATA]
    nlp.to_disk(tmp_path / "p")
    moved = tmp_path / "lm-gone"
    shutil.copytree(lm_folder, moved)
    config = (tmp_path / "p" / "config.cfg").read_text(encoding="utf-8")
    (tmp_path / "p" / "config.cfg").write_text(config.replace(str(lm_folder), str(moved)), encoding="utf-8")
    shutil.rmtree(moved)  # the saved pipeline must not need the LM's folder
    loaded = spacy.load(tmp_path / "p")
    assert [predicted(loaded(t)) for t in TEXTS] == [gold(row) for row in DATA]
    assert [predicted(d) for d in loaded.pipe(TEXTS, batch_size=2)] == [predicted(loaded(t)) for t in TEXTS]
    before, after = nlp.get_pipe("ner").network, loaded.get_pipe("ner").network
    with torch.no_grad():
        assert torch.allclose(before.mix.weights, after.mix.weights)
    # the weights load with weights_only=True; the LM's are in fp16
    payload = torch.load(io.BytesIO((tmp_path / "p" / "ner" / "model.pt").read_bytes()), weights_only=True)
    lm_weights = [v for k, v in payload["state"].items() if k.startswith("bilm.") and v.is_floating_point()]
    assert lm_weights and all(v.dtype == torch.float16 for v in lm_weights)
    assert payload["bilm"]["vocab_size"] == after.bilm.vocab_size


def test_training_without_the_lm_folder_is_a_one_line_error(tmp_path):
    with pytest.raises(ModelError, match="no pretrained LM there") as err:
        overfit(v2(tmp_path / "missing"), tmp_path, epochs=1)
    assert "\n" not in str(err.value) and "knbc.BiLSTMCRFTagger.v2" in str(err.value)


def test_v2_without_an_encoder_is_v1_s_network(lm_folder):
    nlp = blank_japanese()
    tagger = nlp.add_pipe("knbc_tagger", name="ner", config={"model": v2(lm_folder, encoder=None)})
    assert type(tagger.network).__name__ == "RecurrentTagger"
    with pytest.raises(ValueError, match="encoder must be one of"):
        blank_japanese().add_pipe("knbc_tagger", config={"model": v2(lm_folder, encoder="finetune")})


@pytest.mark.parametrize("task,spans_key", [("ner", None), ("reputation", "reputation")])
def test_knbc_train_trains_the_pretrained_configs(task, spans_key, lm_folder, tmp_path):
    import json

    from typer.testing import CliRunner

    from pipeline.cli import app

    label = "LOCATION" if task == "ner" else "批評+"
    rows = [{"text": row["text"], "spans": [{**s, "label": label} for s in row["spans"]]} for row in DATA]
    train = write_jsonl(tmp_path / "train.jsonl", rows)
    model = f"components.{task}.model"
    args = ["train", f"models/configs/{task}-pretrained.cfg", "--out", str(tmp_path / "m"), "--train", str(train),
            "--dev", str(train), "--max-epochs", "2", "--quiet", "--set", f"{model}.hidden_size=8",
            "--set", f"{model}.n_buckets=100", "--set", f"{model}.encoder_path={lm_folder}"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "m" / "metrics.json").read_text(encoding="utf-8"))["labels"] == [label]
    nlp = spacy.load(tmp_path / "m")
    assert nlp.config["components"][task]["model"]["@architectures"] == "knbc.BiLSTMCRFTagger.v2"
    assert nlp.get_pipe(task).network.bilm is not None and nlp.get_pipe(task).spans_key == spans_key
    nlp(TEXTS[0])
