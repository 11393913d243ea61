"""A Seq2Seq started from a (tiny) pretrained bidirectional LM: the weights copied in, training, save / load."""

import pytest
import torch
import torch.nn.functional as F

from pipeline.models.generator import Seq2SeqGenerator, load_generator
from pipeline.models.pretrained_lm import BiLMOptions, build_bilm, save_bilm
from pipeline.models.seq2seq_from_lm import init_seq2seq_from_bilm, lm_ids
from pipeline.models.vocabulary import BOS, EOS, Pair, Vocabulary
from pipeline.nn.seq2seq import Seq2Seq
from pipeline.training import generation
from pipeline.training.generation import GenerationSettings, Seq2SeqOptions, train_seq2seq

torch.set_num_threads(1)
LM_TOKENS = list("あいうえおかきくけこさしすせそた")  # 16 tokens + 4 specials: shortlist 8, one tail cluster
VECTORS = torch.randn(12, 6, generator=torch.Generator().manual_seed(0))  # the static table (rows, 6)
OPTIONS = BiLMOptions(hidden_size=8, trainable_dim=4, vocab_size=len(LM_TOKENS) + 4, cutoffs=[8], dropout=0.0)


def tiny_bilm():
    torch.manual_seed(0)
    lm_vocab = Vocabulary(LM_TOKENS)
    bilm = build_bilm(lm_vocab, OPTIONS, VECTORS).eval()
    with torch.no_grad():
        for p in bilm.parameters():
            p.normal_(0, 0.5)
    rows_by_id = torch.tensor([-1, -1, -1, -1] + [i % 13 - 1 for i in range(len(LM_TOKENS))])  # some -1: no vector
    return bilm, lm_vocab, rows_by_id


def test_the_decoder_starts_with_the_lm_weights():
    bilm, lm_vocab, rows_by_id = tiny_bilm()
    vocab = Vocabulary(["あ", "か", "そ", "ほ", "げ"])  # ほ and げ: not in the LM
    model = Seq2Seq(len(vocab), embed_dim=10, hidden_size=8, attention_dim=4)
    counts = init_seq2seq_from_bilm(model, vocab, bilm, lm_vocab, rows_by_id, string_row=lambda t: 5 if t == "ほ" else -1)
    assert counts == {"mapped": 7, "unmapped": 2, "vocabulary": 9}  # the four specials map too
    forward, backward = bilm.rnns["forward_lstm"][0], bilm.rnns["backward_lstm"][0]
    for name in ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"):
        assert torch.equal(getattr(model.decoder, name), getattr(forward, name))
        assert torch.equal(getattr(model.encoder.rnn, name), getattr(forward, name))
        assert torch.equal(getattr(model.encoder.rnn, f"{name}_reverse"), getattr(backward, name))
    ids = lm_ids(vocab, lm_vocab)
    for token in ("あ", "そ"):
        i, j = vocab.stoi[token], lm_vocab.stoi[token]
        expected = bilm.embed(rows_by_id[j].view(1, 1), torch.tensor([[j]]))[0, 0]
        assert torch.allclose(model.tgt_embed.weight[i], expected)
        assert torch.allclose(model.src_embed.weight[i], expected)
    hoge = bilm.embed(torch.tensor([[5]]), torch.tensor([[lm_vocab.stoi["<unk>"]]]))[0, 0]  # its own static row
    assert torch.allclose(model.src_embed.weight[vocab.stoi["ほ"]], hoge)
    assert torch.allclose(model.tgt_embed.weight[vocab.stoi[BOS]], model.tgt_embed.weight[vocab.stoi[EOS]])
    assert torch.equal(model.out.weight[vocab.stoi["あ"]], bilm.softmax.head.weight[lm_vocab.stoi["あ"]])
    assert ids[vocab.stoi["ほ"]] == ids[vocab.stoi["げ"]] == lm_vocab.stoi["<unk>"]


def test_the_output_layer_is_the_adaptive_softmax_at_the_sampled_state():
    bilm, lm_vocab, rows_by_id = tiny_bilm()
    model = Seq2Seq(len(lm_vocab), embed_dim=10, hidden_size=8, attention_dim=4)
    h = torch.randn(1, 8)
    init_seq2seq_from_bilm(model, lm_vocab, bilm, lm_vocab, rows_by_id, sample_states=h)
    with torch.no_grad():
        assert torch.allclose(F.log_softmax(model.out(h), -1), bilm.softmax.log_prob(h), atol=1e-5)


def test_shapes_must_fit():
    bilm, lm_vocab, rows_by_id = tiny_bilm()
    with pytest.raises(ValueError, match="embed_dim=10 and hidden_size=8"):
        init_seq2seq_from_bilm(Seq2Seq(len(lm_vocab), embed_dim=10, hidden_size=16), lm_vocab, bilm, lm_vocab, rows_by_id)


def test_training_from_a_saved_lm_and_the_round_trip(tmp_path, monkeypatch):
    bilm, lm_vocab, rows_by_id = tiny_bilm()
    save_bilm(tmp_path / "lm", bilm, lm_vocab, OPTIONS, rows_by_id=rows_by_id.tolist())
    monkeypatch.setattr(generation, "lm_resources", lambda: (VECTORS, lambda token: -1))
    pairs = [Pair(str(i), list(s), list(t), "グルメ") for i, (s, t) in enumerate(
        [("あか", "あいかう"), ("さそ", "さしそた"), ("かさ", "かきさす"), ("ほあ", "ほあいう")])]
    options = Seq2SeqOptions(hidden_size=8, embed_dim=10, lm_path=str(tmp_path / "lm"), dropout=0.0, min_count=1,
                             pretrained=False)
    model, vocab, result = train_seq2seq(pairs, pairs, options, GenerationSettings(max_epochs=3, batch_size=2),
                                         progress=False)
    assert len(result.history) == 3
    assert torch.isfinite(torch.tensor(result.history[-1]["loss"]))
    Seq2SeqGenerator(model, vocab, options, "keywords").save(tmp_path / "gen")
    loaded = load_generator(tmp_path / "gen")  # torch.load(weights_only=True); needs neither the LM nor ja_ginza
    assert loaded.options == options and loaded.model.tgt_embed.embedding_dim == 10
    saved = torch.load(tmp_path / "gen" / "model.pt", weights_only=True)
    assert saved.keys() == model.state_dict().keys()
    assert all(v.dtype == torch.float16 for v in saved.values() if v.is_floating_point())  # fp16, as the LM
    for key, value in model.state_dict().items():
        assert loaded.model.state_dict()[key].dtype == torch.float32
        assert torch.equal(loaded.model.state_dict()[key], value.half().float())
    model.load_state_dict(loaded.model.state_dict())
    assert loaded.generate(["あ", "か"]).tokens == Seq2SeqGenerator(model, vocab, options, "keywords").generate(
        ["あ", "か"]).tokens


def test_the_decoding_is_chosen_on_dev_and_saved(tmp_path, monkeypatch):
    import json

    from pipeline.evaluation import generation as evaluation

    pairs = [Pair(str(i), list(s), list(t), "グルメ") for i, (s, t) in enumerate([("あか", "あいかう"), ("さそ", "さしそた")])]
    options = Seq2SeqOptions(hidden_size=8, dropout=0.0, min_count=1, pretrained=False)
    model, vocab, _ = train_seq2seq(pairs, pairs, options, GenerationSettings(max_epochs=1, batch_size=2), progress=False)
    Seq2SeqGenerator(model, vocab, options, "keywords").save(tmp_path)
    (tmp_path / "metrics.json").write_text("{}", encoding="utf-8")
    monkeypatch.setattr(evaluation, "task_pairs", lambda task, split: pairs)
    chosen = evaluation.choose_saved_decoding(tmp_path, "keywords")
    assert chosen["chosen"] in evaluation.DECODING_CANDIDATES and chosen["dev_pairs"] == 2
    assert load_generator(tmp_path).decoding == evaluation.DECODING_CANDIDATES[chosen["chosen"]]
    assert json.loads((tmp_path / "metrics.json").read_text(encoding="utf-8"))["decoding_on_dev"] == chosen
