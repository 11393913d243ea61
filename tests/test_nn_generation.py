"""Attention, Seq2Seq with copy, the LSTM language model and decoding, on tiny toy id sequences."""

import math

import pytest
import torch

from pipeline.nn import (
    AdditiveAttention,
    LSTMLanguageModel,
    MultiplicativeAttention,
    Seq2Seq,
    beam_search,
    greedy,
    language_model_stepper,
    length_penalty,
    make_attention,
    masked_nll,
    perplexity,
    sample,
    seq2seq_stepper,
    truncated_bptt_batches,
)
from pipeline.nn.language_model import detach_state

torch.set_num_threads(1)

PAD, UNK, BOS, EOS = 0, 1, 2, 3
V = 20  # ids 4..19 are words
# a source whose id is >= V is an OOV word in the extended vocabulary (V + k); the model reads it as UNK
REVERSE = [
    ([4, 5, 6], [6, 5, 4]),
    ([7, 8, 9, 10], [10, 9, 8, 7]),
    ([11, 12], [12, 11]),
    ([13, 14, 15, 16, 17], [17, 16, 15, 14, 13]),
    ([18, 19, 4], [4, 19, 18]),
    ([5, 9, 13, 17], [17, 13, 9, 5]),
]
WITH_OOV = [
    ([4, V, 6], [6, V, 4]),
    ([V + 1, 8, 9, V + 2], [V + 2, 9, 8, V + 1]),
    ([11, V + 1], [V + 1, 11]),
    ([13, 14, V, 16], [16, V, 14, 13]),
]


def make_batch(pairs):
    """Padded (src_ids, src_ext_ids, lengths, tgt_in, tgt_out, n_oov) from (source, target) ext-id lists."""
    n_src = max(len(s) for s, _ in pairs)
    n_tgt = max(len(t) for _, t in pairs) + 1
    ext = torch.tensor([s + [PAD] * (n_src - len(s)) for s, _ in pairs])
    src = ext.masked_fill(ext >= V, UNK)
    lengths = torch.tensor([len(s) for s, _ in pairs])
    tgt_in = torch.tensor([[BOS] + t + [PAD] * (n_tgt - 1 - len(t)) for _, t in pairs])
    tgt_out = torch.tensor([t + [EOS] + [PAD] * (n_tgt - 1 - len(t)) for _, t in pairs])
    n_oov = max(0, int(ext.max()) - V + 1)
    return src, ext, lengths, tgt_in, tgt_out, n_oov


def tiny_seq2seq(attention="additive", copy=True, **kwargs):
    return Seq2Seq(V, embed_dim=16, hidden_size=32, attention=attention, copy=copy, attention_dim=16, **kwargs)


def train_seq2seq(model, pairs, steps, lr=0.02):
    src, ext, lengths, tgt_in, tgt_out, n_oov = make_batch(pairs)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    model.train()
    for _ in range(steps):
        optimizer.zero_grad()
        loss = model.loss(src, lengths, tgt_in, tgt_out, ext, n_oov)
        loss.backward()
        optimizer.step()
    model.eval()
    return loss.item()


def greedy_outputs(model, pairs, max_length=10):
    src, ext, lengths, _, _, n_oov = make_batch(pairs)
    return greedy(*seq2seq_stepper(model, src, lengths, ext, n_oov), eos_id=EOS, max_length=max_length).sequences()


def one_source(pairs, index):
    """The stepper inputs of one source of a batch (keeping the batch's OOV numbering)."""
    src, ext, lengths, _, _, n_oov = make_batch(pairs)
    return src[index : index + 1], lengths[index : index + 1], ext[index : index + 1], n_oov


@pytest.fixture(scope="module")
def copy_model():
    torch.manual_seed(0)
    model = tiny_seq2seq("additive", copy=True)
    assert train_seq2seq(model, REVERSE + WITH_OOV, steps=120) < 0.05
    return model


# ---------------------------------------------------------------- attention


@pytest.mark.parametrize("kind", ["additive", "multiplicative"])
def test_attention_weights_sum_to_one_over_real_positions(kind):
    torch.manual_seed(0)
    attention = make_attention(kind, query_dim=6, key_dim=4, attention_dim=5)
    keys = torch.randn(3, 5, 4, requires_grad=True)  # (B, S, Hk)
    mask = torch.arange(5) < torch.tensor([5, 2, 0]).unsqueeze(1)  # (B, S), the last row empty
    context, weights = attention(torch.randn(3, 6), keys, mask)
    assert context.shape == (3, 4) and weights.shape == (3, 5)
    assert torch.allclose(weights.sum(-1), torch.tensor([1.0, 1.0, 0.0]))
    assert (weights[~mask] == 0).all() and (weights[mask] > 0).all()
    assert torch.allclose(context, torch.einsum("bs,bsh->bh", weights, keys))
    assert (context[2] == 0).all()
    context.sum().backward()
    assert torch.isfinite(keys.grad).all()
    block_context, block_weights = attention(torch.randn(3, 7, 6), keys, mask)  # a block of T = 7 queries
    assert block_context.shape == (3, 7, 4) and block_weights.shape == (3, 7, 5)
    assert torch.allclose(block_weights.sum(-1), torch.tensor([1.0, 1.0, 0.0]).unsqueeze(1).expand(3, 7))


def test_make_attention_kinds():
    assert isinstance(make_attention("additive", 4, 4), AdditiveAttention)
    assert isinstance(make_attention("multiplicative", 4, 4), MultiplicativeAttention)
    with pytest.raises(ValueError, match="unknown attention"):
        make_attention("dot-product", 4, 4)


# ---------------------------------------------------------------- seq2seq


def test_seq2seq_shapes_and_normalised_distributions():
    torch.manual_seed(0)
    model = tiny_seq2seq()
    src, ext, lengths, tgt_in, _, n_oov = make_batch(WITH_OOV)
    log_probs, attention = model(src, lengths, tgt_in, ext, n_oov)
    assert log_probs.shape == (4, tgt_in.size(1), V + n_oov) and attention.shape == (4, tgt_in.size(1), src.size(1))
    assert torch.allclose(log_probs.exp().sum(-1), torch.ones(4, tgt_in.size(1)), atol=1e-5)
    assert (attention[:, :, 3][lengths <= 3] == 0).all()  # padding is never attended
    plain, none = tiny_seq2seq("none", copy=False)(src, lengths, tgt_in)
    assert plain.shape == (4, tgt_in.size(1), V) and none is None


@pytest.mark.parametrize("attention", ["multiplicative", "none"])
def test_seq2seq_without_copy_overfits_toy_reversal(attention):
    torch.manual_seed(0)
    model = tiny_seq2seq(attention, copy=False)
    assert train_seq2seq(model, REVERSE, steps=120) < 0.05
    assert greedy_outputs(model, REVERSE) == [target + [EOS] for _, target in REVERSE]


def test_attention_and_copy_overfits_toy_reversal_with_oov_words(copy_model):
    assert greedy_outputs(copy_model, REVERSE) == [target + [EOS] for _, target in REVERSE]
    outputs = greedy_outputs(copy_model, WITH_OOV)
    assert outputs == [target + [EOS] for _, target in WITH_OOV]
    assert any(i >= V for output in outputs for i in output)  # out of the generator's reach: copied
    assert copy_model.out.out_features == V


def test_copy_distribution_puts_attention_mass_on_extended_ids():
    torch.manual_seed(0)
    model = tiny_seq2seq()
    src, lengths, ext = torch.tensor([[UNK, UNK, 7]]), torch.tensor([3]), torch.tensor([[V, V + 1, 7]])
    with torch.no_grad():
        model.p_gen.weight.zero_()
        model.p_gen.bias.fill_(-30.0)  # p_gen ~ 0: copy only
        log_probs, attention = model(src, lengths, torch.tensor([[BOS]]), ext, 2)
    probs = log_probs[0, 0].exp()  # (V + 2,)
    assert torch.allclose(probs[[V, V + 1, 7]], attention[0, 0], atol=1e-6)
    assert probs.sum().item() == pytest.approx(1.0, abs=1e-5)
    with torch.no_grad():
        model.p_gen.bias.fill_(30.0)  # p_gen ~ 1: generate only, nothing beyond V
        log_probs, _ = model(src, lengths, torch.tensor([[BOS]]), ext, 2)
    assert log_probs[0, 0, V:].exp().sum() < 1e-6


def test_empty_source_decodes_with_zero_context(copy_model):
    for src in (torch.zeros(2, 0, dtype=torch.long), torch.zeros(2, 3, dtype=torch.long)):
        lengths = torch.zeros(2, dtype=torch.long)
        step, state, start = seq2seq_stepper(copy_model, src, lengths)
        out = greedy(step, state, start, EOS, max_length=4)
        assert out.tokens.shape[1] <= 4 and torch.isfinite(out.log_probs).all()
        assert out.attention.shape[2] == src.size(1) and (out.attention == 0).all()
        log_probs, _ = copy_model(src, lengths, torch.tensor([[BOS], [BOS]]))
        assert torch.allclose(log_probs.exp().sum(-1), torch.ones(2, 1), atol=1e-5)  # p_gen = 1
        best = beam_search(*seq2seq_stepper(copy_model, src[:1], lengths[:1]), EOS, beam_size=3, max_length=4)[0]
        assert 1 <= len(best.tokens) <= 4 and math.isfinite(best.score)


def test_masked_nll_ignores_padding_and_maps_unreachable_ids_to_unk():
    log_probs = torch.log_softmax(torch.randn(1, 3, V), dim=-1)
    targets = torch.tensor([[5, V + 3, PAD]])
    expected = -(log_probs[0, 0, 5] + log_probs[0, 1, UNK]) / 2
    assert masked_nll(log_probs, targets).item() == pytest.approx(expected.item())


def test_pretrained_embeddings_initialise_both_tables():
    pretrained = torch.randn(V, 12)
    model = Seq2Seq(V, hidden_size=8, pretrained=pretrained, freeze_embeddings=True)
    for table in (model.src_embed, model.tgt_embed):
        assert torch.equal(table.weight[1:], pretrained[1:]) and (table.weight[PAD] == 0).all()
        assert not table.weight.requires_grad


# ---------------------------------------------------------------- decoding


def test_beam_of_one_is_greedy(copy_model):
    for index in range(len(WITH_OOV)):
        src, lengths, ext, n_oov = one_source(WITH_OOV, index)
        greedy_out = greedy(*seq2seq_stepper(copy_model, src, lengths, ext, n_oov), EOS, max_length=8)
        (best,) = beam_search(*seq2seq_stepper(copy_model, src, lengths, ext, n_oov), EOS, beam_size=1, max_length=8)
        assert best.tokens == greedy_out.sequences()[0]
        assert best.log_prob == pytest.approx(greedy_out.log_probs.item(), abs=1e-5)
        assert torch.allclose(best.attention, greedy_out.attention[0])


@pytest.mark.parametrize("alpha", [0.0, 0.6])
def test_beam_scores_are_sorted_and_consistent_with_the_model(copy_model, alpha):
    src, lengths, ext, n_oov = one_source(WITH_OOV, 1)
    hypotheses = beam_search(*seq2seq_stepper(copy_model, src, lengths, ext, n_oov), EOS, 4, 8, alpha=alpha)
    assert 1 <= len(hypotheses) <= 4
    assert hypotheses[0].tokens == WITH_OOV[1][1] + [EOS]
    scores = [h.score for h in hypotheses]
    assert scores == sorted(scores, reverse=True)
    for h in hypotheses:
        assert h.score == pytest.approx(h.log_prob / length_penalty(len(h.tokens), alpha))
        tgt_in = torch.tensor([[BOS] + h.tokens[:-1]])
        log_probs, attention = copy_model(src, lengths, tgt_in, ext, n_oov)  # teacher forcing the hypothesis
        forced = log_probs[0].gather(1, torch.tensor(h.tokens).unsqueeze(1)).sum()
        assert h.log_prob == pytest.approx(forced.item(), abs=1e-4)
        assert h.attention.shape == (len(h.tokens), src.size(1))
        assert torch.allclose(h.attention, attention[0], atol=1e-5)


def test_beam_respects_max_length(copy_model):
    src, lengths, ext, n_oov = one_source(REVERSE, 3)  # the target has 6 ids with EOS
    hypotheses = beam_search(*seq2seq_stepper(copy_model, src, lengths, ext, n_oov), EOS, 3, max_length=2)
    assert hypotheses and all(len(h.tokens) <= 2 for h in hypotheses)
    assert not hypotheses[0].finished and hypotheses[0].tokens == [17, 16]
    out = greedy(*seq2seq_stepper(copy_model, src, lengths, ext, n_oov), EOS, max_length=2)
    assert out.tokens.shape == (1, 2) and out.lengths.tolist() == [2]


def test_sampling_is_repeatable_and_top_k_one_is_greedy(copy_model):
    src, ext, lengths, _, _, n_oov = make_batch(WITH_OOV)

    def draw(seed, **kwargs):
        generator = torch.Generator().manual_seed(seed)
        stepper = seq2seq_stepper(copy_model, src, lengths, ext, n_oov)
        return sample(*stepper, EOS, max_length=8, generator=generator, **kwargs)

    first, second = draw(7, temperature=2.0), draw(7, temperature=2.0)
    assert torch.equal(first.tokens, second.tokens) and torch.equal(first.log_probs, second.log_probs)
    expected = greedy_outputs(copy_model, WITH_OOV, max_length=8)
    assert draw(3, temperature=5.0, top_k=1).sequences() == expected
    assert draw(3, temperature=5.0, top_p=1e-6).sequences() == expected


def test_decoding_arguments_are_validated(copy_model):
    src, lengths, ext, n_oov = one_source(WITH_OOV, 0)
    stepper = seq2seq_stepper(copy_model, src, lengths, ext, n_oov)
    bad = [
        lambda: beam_search(*stepper, EOS, beam_size=0, max_length=5),
        lambda: beam_search(*stepper, EOS, beam_size=2, max_length=0),
        lambda: beam_search(*stepper, EOS, beam_size=2, max_length=5, alpha=-1.0),
        lambda: beam_search(stepper[0], stepper[1], torch.tensor([BOS, BOS]), EOS, beam_size=2, max_length=5),
        lambda: greedy(*stepper, EOS, max_length=0),
        lambda: sample(*stepper, EOS, max_length=5, temperature=0.0),
        lambda: sample(*stepper, EOS, max_length=5, top_k=-1),
        lambda: sample(*stepper, EOS, max_length=5, top_p=0.0),
        lambda: sample(*stepper, EOS, max_length=5, top_p=1.5),
    ]
    for call in bad:
        with pytest.raises(ValueError):
            call()


def test_model_arguments_are_validated():
    with pytest.raises(ValueError, match="unknown attention"):
        Seq2Seq(V, attention="dot")
    with pytest.raises(ValueError, match="copy needs attention"):
        Seq2Seq(V, attention="none", copy=True)
    with pytest.raises(ValueError, match="special ids"):
        Seq2Seq(V, bos_id=V)
    with pytest.raises(ValueError, match="pretrained"):
        Seq2Seq(V, pretrained=torch.zeros(V + 1, 4))
    with pytest.raises(ValueError, match="tied weights"):
        LSTMLanguageModel(V, embed_dim=8, hidden_size=16, tie_weights=True)
    with pytest.raises(ValueError, match="theme"):
        LSTMLanguageModel(V, n_themes=2)(torch.tensor([[BOS]]))
    with pytest.raises(ValueError):
        next(truncated_bptt_batches(range(10), batch_size=0, bptt=4))
    with pytest.raises(ValueError):
        truncated_bptt_batches(range(3), batch_size=2, bptt=4)


# ---------------------------------------------------------------- language model


def test_truncated_bptt_batches_shapes():
    stream = torch.arange(103)
    batches = list(truncated_bptt_batches(stream, batch_size=4, bptt=7))  # 4 rows of 25 ids
    assert [tuple(x.shape) for x, _ in batches] == [(4, 7), (4, 7), (4, 7), (4, 3)]
    assert all(x.shape == y.shape for x, y in batches)
    rows = torch.cat([x for x, _ in batches], dim=1)  # (4, 24)
    assert torch.equal(rows, stream[:100].view(4, 25)[:, :24])
    assert torch.equal(torch.cat([y for _, y in batches], dim=1), stream[:100].view(4, 25)[:, 1:])


def test_language_model_overfits_a_short_stream_with_carried_state():
    torch.manual_seed(0)
    cycle = [BOS, 4, 9, 5, 12, 6, 17, EOS]
    stream = cycle * 16  # 128 ids
    model = LSTMLanguageModel(V, embed_dim=16, hidden_size=16, tie_weights=True, n_themes=2, theme_dim=4)
    theme = torch.tensor([1, 1])
    model.eval()
    before = perplexity(model, truncated_bptt_batches(stream, 2, 8), theme=theme)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.02)
    model.train()
    for _ in range(25):
        state = None
        for inputs, targets in truncated_bptt_batches(stream, 2, 8):
            optimizer.zero_grad()
            log_probs, state = model(inputs, state, theme)
            state = detach_state(state)
            loss = torch.nn.functional.nll_loss(log_probs.transpose(1, 2), targets)
            loss.backward()
            optimizer.step()
    model.eval()
    after = perplexity(model, truncated_bptt_batches(stream, 2, 8), theme=theme)
    assert before > 10 and after < 1.3
    step, state, start = language_model_stepper(model, torch.tensor([[BOS, 4]]), theme=torch.tensor([1]))
    assert greedy(step, state, start, EOS, max_length=10).sequences() == [cycle[2:]]
    best = beam_search(step, state, start, EOS, beam_size=3, max_length=10)[0]
    assert best.tokens == cycle[2:] and best.attention is None


# ---------------------------------------------------------------- persistence


def test_state_dict_round_trip_gives_identical_outputs(tmp_path):
    torch.manual_seed(0)
    src, ext, lengths, tgt_in, _, n_oov = make_batch(WITH_OOV)
    for make in (lambda: tiny_seq2seq("multiplicative", copy=True), lambda: tiny_seq2seq("none", copy=False)):
        model, clone = make().eval(), make().eval()
        torch.save(model.state_dict(), tmp_path / "model.pt")
        clone.load_state_dict(torch.load(tmp_path / "model.pt"))
        assert torch.equal(model(src, lengths, tgt_in, ext, n_oov)[0], clone(src, lengths, tgt_in, ext, n_oov)[0])
    lm = LSTMLanguageModel(V, embed_dim=8, hidden_size=8, layers=2, tie_weights=True, n_themes=3).eval()
    lm_clone = LSTMLanguageModel(V, embed_dim=8, hidden_size=8, layers=2, tie_weights=True, n_themes=3).eval()
    lm_clone.load_state_dict(lm.state_dict())
    ids, theme = torch.tensor([[BOS, 5, 6], [BOS, 7, 8]]), torch.tensor([0, 2])
    assert torch.equal(lm(ids, theme=theme)[0], lm_clone(ids, theme=theme)[0])
    assert lm_clone.out.weight is lm_clone.embed.weight


def _looping_step(vocab: int = 6, eos: int = 5):
    """A step that always prefers id 1, then 2, then 3 (never EOS until nothing else is allowed)."""

    def step(prev_ids, state):
        log_probs = torch.full((prev_ids.size(0), vocab), -10.0)
        log_probs[:, 1], log_probs[:, 2], log_probs[:, 3], log_probs[:, eos] = -0.1, -1.0, -2.0, -8.0
        return torch.log_softmax(log_probs, dim=-1), state, None

    return step


def _ngrams(ids, n):
    return [tuple(ids[i:i + n]) for i in range(len(ids) - n + 1)]


@pytest.mark.parametrize("n", [1, 2, 3])
def test_the_repetition_block_never_repeats_an_ngram_in_greedy_or_beam_search(n):
    from pipeline.nn.decoding import beam_search, greedy, no_repeat_ngrams

    start = torch.tensor([0])
    step, state = no_repeat_ngrams(_looping_step(), None, start, n)
    ids = greedy(step, state, start, eos_id=5, max_length=12).sequences()[0]
    step, state = no_repeat_ngrams(_looping_step(), None, start, n)
    beam = beam_search(step, state, start, eos_id=5, beam_size=3, max_length=12)[0].tokens
    for found in (ids, beam):
        grams = _ngrams([i for i in found if i != 5], n)
        assert len(grams) == len(set(grams)), (n, found)
    unblocked = greedy(_looping_step(), None, start, eos_id=5, max_length=12).sequences()[0]
    assert unblocked[:3] == [1, 1, 1]  # without the block the step loops on its favourite


def test_ban_repeated_ngrams_bans_what_followed_the_current_prefix():
    from pipeline.nn.decoding import ban_repeated_ngrams

    history = torch.tensor([[4, 2, 7, 4]])  # the prefix (4,) was followed by 2 before
    banned = ban_repeated_ngrams(torch.zeros(1, 8), history, 2)
    assert torch.isinf(banned[0, 2]) and torch.isfinite(banned[0]).sum() == 7
