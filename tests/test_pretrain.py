"""Pretraining the bidirectional LM: the network, resumable training, save/load, the command."""

from __future__ import annotations

import json

import pytest
import torch
from typer.testing import CliRunner

from pipeline.cli import app
from pipeline.errors import ModelError, UsageError
from pipeline.models.pretrained_lm import BiLMOptions, load_bilm
from pipeline.nn.bilm import BidirectionalLM
from pipeline.training.pretrain import CHECKPOINT, LOG, PretrainSettings, pretrain

SENTENCES = [
    "京都の紅葉がきれいでした。", "今日は友達とラーメンを食べた。", "新しい携帯電話を買いました。",
    "サッカーの試合を見に行った。", "電池がすぐ切れて困っています。", "清水寺はとても混んでいた。",
    "スープがおいしいお店です。", "野球の練習で疲れました。",
] * 6
TINY = BiLMOptions(hidden_size=16, trainable_dim=8, dropout=0.1, vocab_size=40, min_count=1, cutoffs=[10, 20])
FAST = PretrainSettings(epochs=30, batch_size=4, bptt=6, learn_rate=1e-2, dev_fraction=0.1, checkpoint_minutes=60)


def test_each_direction_reads_only_its_own_past():
    torch.manual_seed(0)
    model = BidirectionalLM(torch.randn(30, 6), 50, trainable_dim=4, hidden_size=8, layers=2, dropout=0.0,
                            cutoffs=(10, 30)).eval()
    ids = torch.randint(1, 50, (1, 7))
    rows = torch.randint(-1, 30, (1, 7))
    changed_ids, changed_rows = ids.clone(), rows.clone()
    changed_ids[0, 5], changed_rows[0, 5] = (ids[0, 5] % 49) + 1, -1
    before = model.layers(rows, ids, torch.tensor([7]))
    after = model.layers(changed_rows, changed_ids, torch.tensor([7]))
    for layer_before, layer_after in zip(before[1:], after[1:]):
        forward_b, backward_b = layer_before.split(8, dim=-1)
        forward_a, backward_a = layer_after.split(8, dim=-1)
        assert torch.allclose(forward_b[0, :5], forward_a[0, :5])  # the forward LM has not seen step 5 yet
        assert not torch.allclose(forward_b[0, 5:], forward_a[0, 5:])
        assert torch.allclose(backward_b[0, 6:], backward_a[0, 6:])  # nor has the backward LM at step 6
        assert not torch.allclose(backward_b[0, :6], backward_a[0, :6])


def test_padding_does_not_change_a_sentences_layers():
    torch.manual_seed(0)
    model = BidirectionalLM(torch.randn(30, 6), 50, trainable_dim=4, hidden_size=8, dropout=0.0, cutoffs=(10, 30)).eval()
    ids, rows = torch.randint(1, 50, (1, 4)), torch.randint(0, 30, (1, 4))
    alone = model.layers(rows, ids, torch.tensor([4]))
    padded_ids = torch.cat([ids, torch.zeros(1, 3, dtype=torch.long)], dim=1)
    padded_rows = torch.cat([rows, torch.full((1, 3), -1)], dim=1)
    padded = model.layers(padded_rows, padded_ids, torch.tensor([4]))
    for a, b in zip(alone, padded):
        assert torch.allclose(a, b[:, :4], atol=1e-6)


def test_pretraining_lowers_the_loss_and_logs_each_checkpoint(tmp_path):
    first = pretrain(SENTENCES, tmp_path / "run", options=TINY, settings=FAST, max_steps=2, progress=False)
    last = pretrain(SENTENCES, tmp_path / "run", options=TINY, settings=FAST, max_steps=60, progress=False)
    assert last["dev_ppl_forward"] < first["dev_ppl_forward"] / 2
    assert last["dev_ppl_backward"] < first["dev_ppl_backward"] / 2
    lines = [json.loads(line) for line in (tmp_path / "run" / LOG).read_text().splitlines()]
    assert [line["step"] for line in lines] == [2, 62]
    assert lines[-1]["tokens_per_s"] > 0


def test_a_resumed_run_ends_with_the_weights_of_an_uninterrupted_one(tmp_path):
    pretrain(SENTENCES, tmp_path / "straight", options=TINY, settings=FAST, max_steps=12, progress=False)
    pretrain(SENTENCES, tmp_path / "stopped", options=TINY, settings=FAST, max_steps=5, progress=False)
    pretrain(SENTENCES, tmp_path / "stopped", options=TINY, settings=FAST, max_steps=7, progress=False)
    straight = torch.load(tmp_path / "straight" / CHECKPOINT, weights_only=True)
    resumed = torch.load(tmp_path / "stopped" / CHECKPOINT, weights_only=True)
    assert straight["step"] == resumed["step"] == 12
    for name, tensor in straight["model"].items():
        assert torch.equal(tensor, resumed["model"][name]), name


def test_resuming_with_other_options_is_refused(tmp_path):
    pretrain(SENTENCES, tmp_path / "run", options=TINY, settings=FAST, max_steps=1, progress=False)
    other = BiLMOptions(**{**TINY.__dict__, "hidden_size": 32})
    with pytest.raises(UsageError, match="other options"):
        pretrain(SENTENCES, tmp_path / "run", options=other, settings=FAST, max_steps=1, progress=False)


def test_an_exported_model_loads_in_float32_and_scores_as_it_trained(tmp_path):
    from pipeline.ginza import ginza_vocab
    from pipeline.models.features import vectors_table

    pretrain(SENTENCES, tmp_path / "run", out=tmp_path / "model", options=TINY, settings=FAST, max_steps=20,
             progress=False)
    model, vocab, options = load_bilm(tmp_path / "model", vectors_table(ginza_vocab()))
    assert options == TINY and len(vocab) == len(model.embed.tokens.weight)
    assert all(p.dtype == torch.float32 for p in model.parameters())
    assert json.loads((tmp_path / "model" / "bilm.json").read_text())["trained"]["step"] == 20
    (tmp_path / "model" / "bilm.pt").write_bytes(b"truncated")
    with pytest.raises(ModelError, match="bilm.pt"):
        load_bilm(tmp_path / "model", vectors_table(ginza_vocab()))


def test_the_pretrain_command_reads_a_text_file_and_names_a_bad_one(tmp_path):
    text = tmp_path / "text.txt"
    text.write_text("\n".join(SENTENCES), encoding="utf-8")
    result = CliRunner().invoke(app, ["pretrain", "--checkpoints", str(tmp_path / "run"), "--text", str(text),
                                      "--hidden-size", "16", "--trainable-dim", "8", "--vocab-size", "40",
                                      "--min-count", "1", "--batch-size", "4", "--bptt", "6", "--max-steps", "3",
                                      "--quiet"])
    assert result.exit_code == 0, result.output
    assert "step=3" in result.output
    (tmp_path / "bad.txt").write_bytes(b"\xff\xfe broken")
    result = CliRunner().invoke(app, ["pretrain", "--checkpoints", str(tmp_path / "r2"), "--text",
                                      str(tmp_path / "bad.txt"), "--quiet"])
    assert result.exit_code == 2 and "bad.txt" in result.output


def test_a_fine_tuned_lm_saves_as_a_continuation_generator_and_loads_back(tmp_path):
    from pipeline.errors import GeneratorFolderError
    from pipeline.ginza import ginza_vocab
    from pipeline.models.features import vectors_table
    from pipeline.models.generator import Decoding, PretrainedLMGenerator, load_generator
    from pipeline.models.pretrained_lm import saved_rows_by_id
    from pipeline.training.lm_finetune import FinetuneSettings, finetune_bilm
    from pipeline.training.pretrain import make_streams, tokenize

    pretrain(SENTENCES, tmp_path / "run", out=tmp_path / "model", options=TINY, settings=FAST, max_steps=40,
             progress=False)
    vectors = vectors_table(ginza_vocab())
    _, vocab, options = load_bilm(tmp_path / "model", vectors)
    streams = {split: make_streams(*tokenize(SENTENCES[:24] if split == "train" else SENTENCES[24:32]), vocab)
               for split in ("train", "dev")}
    model, history = finetune_bilm(streams, vocab, options, tmp_path / "model",
                                   FinetuneSettings(max_epochs=3, batch_size=2, bptt=6), progress=False)
    assert history[0]["epoch"] == 0 and len(history) >= 2  # the pretrained model's dev score, then each epoch
    generator = PretrainedLMGenerator(model, vocab, options, saved_rows_by_id(tmp_path / "model"))
    source = ["京都", "の", "紅葉", "が", "きれい", "でし", "た", "。"]
    before = generator.generate(source, Decoding(method="greedy", max_length=10))
    nll, count = generator.target_nll(source, ["清水寺", "は", "混ん", "で", "い", "た", "。"])
    generator.save(tmp_path / "generator")
    loaded = load_generator(tmp_path / "generator", vectors)
    assert loaded.task == "continuation"
    assert loaded.generate(source, Decoding(method="greedy", max_length=10)).text == before.text
    assert loaded.target_nll(source, ["清水寺", "は", "混ん", "で", "い", "た", "。"]) == pytest.approx((nll, count), rel=1e-2)
    with pytest.raises(GeneratorFolderError, match="static vectors"):
        load_generator(tmp_path / "generator")
    from pipeline.training.train import assemble
    import spacy

    assemble([tmp_path / "generator"], tmp_path / "pipeline")  # a pipeline with it, as knbc assemble makes
    doc = spacy.load(tmp_path / "pipeline", config={"components.generator_continuation.no_repeat_ngram": 0,
                                                    "components.generator_continuation.method": "greedy",
                                                    "components.generator_continuation.max_length": 10})(
        "京都の紅葉がきれいでした。")
    assert doc._.generated == before.text
