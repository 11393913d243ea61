"""The inference path with the LSTM's input projection folded into the embedding tables: the same numbers as
the embedding + packed ``nn.LSTM`` it stands in for, a fresh table after the weights change, and only where
no gradient is wanted."""

import pytest
import torch

from pipeline.nn.embedding import StaticPlusTrainableEmbedding
from pipeline.nn.encoders import RecurrentEncoder
from pipeline.nn.folded_lstm import bilstm_recurrence
from pipeline.nn.tagger import RecurrentTagger
from pipeline.nn.text_encoder import RecurrentTextEncoder

LENGTHS = [6, 0, 3, 1, 6, 2]


def random_batch(lengths, n_vectors=30, n_tokens=25, n_pos=9, seed=0):
    """vector rows (-1: none, and at padding), token ids (0 at padding), POS ids, lengths, mask."""
    generator = torch.Generator().manual_seed(seed)
    steps = max(max(lengths), 1)
    lengths = torch.tensor(lengths)
    mask = torch.arange(steps).unsqueeze(0) < lengths.unsqueeze(1)  # (B, T)
    rows = torch.randint(-1, n_vectors, mask.shape, generator=generator).masked_fill(~mask, -1)
    ids = torch.randint(1, n_tokens, mask.shape, generator=generator).masked_fill(~mask, 0)
    pos = torch.randint(1, n_pos, mask.shape, generator=generator).masked_fill(~mask, 0)
    return rows, ids, pos, lengths, mask


def test_bilstm_recurrence_matches_packed_lstm_states_and_final_states():
    torch.manual_seed(0)
    encoder = RecurrentEncoder(7, 5).eval()
    _, _, _, lengths, mask = random_batch(LENGTHS)
    x = torch.randn(*mask.shape, 7) * mask.unsqueeze(-1)  # (B, T, 7), zero at padding
    with torch.enable_grad():
        expected_states, expected_final = encoder(x, lengths)
    weight, bias, _ = encoder.input_weight()
    with torch.no_grad():
        states, final = encoder.forward_gates((x @ weight.T + bias).transpose(0, 1), lengths)
    assert states.shape == expected_states.shape and final.shape == expected_final.shape
    assert torch.allclose(states, expected_states, atol=1e-6)
    assert torch.allclose(final, expected_final, atol=1e-6)
    assert final[1].abs().sum() == 0  # the empty row (it reads one padding step, as packing does)


def test_bilstm_recurrence_keeps_states_at_padding_zero():
    gates = torch.randn(4, 3, 8 * 2)  # (T, B, 8H), H = 2
    states, final = bilstm_recurrence(gates, torch.tensor([4, 2, 1]), torch.randn(2, 8, 2))
    assert states.shape == (3, 4, 4) and final.shape == (3, 4)
    assert states[1, 2:].abs().sum() == 0 and states[2, 1:].abs().sum() == 0


def test_projected_embedding_equals_the_embedding_times_the_weight_at_real_positions():
    torch.manual_seed(1)
    embed = StaticPlusTrainableEmbedding(torch.randn(30, 6), n_tokens=25, trainable_dim=3).eval()
    with torch.no_grad():
        embed.no_vector.normal_()  # tokens without a vector get a learned row: it must be folded too
    pos_table = torch.randn(9, 2)
    rows, ids, pos, _, mask = random_batch(LENGTHS)
    weight, bias = torch.randn(8, 6 + 3 + 2), torch.randn(8)
    expected = torch.cat([embed(rows, ids), pos_table[pos]], dim=-1) @ weight.T + bias  # (B, T, 8)
    got = embed.project(rows, ids, weight, bias, ("w", 0), extra=((pos_table, pos),))
    assert torch.allclose(got[mask], expected[mask], atol=1e-5)
    got_t = embed.project(rows.T, ids.T, weight, bias, ("w", 0), extra=((pos_table, pos.T),))  # time-major
    assert torch.allclose(got_t.transpose(0, 1)[mask], expected[mask], atol=1e-5)


def tagger(seed=0):
    torch.manual_seed(seed)
    network = RecurrentTagger(torch.randn(30, 6), 25, trainable_dim=3, hidden_size=4, n_pos=9, pos_dim=2)
    network.set_tags(["O", "B-X", "I-X", "B-Y", "I-Y"])
    return network


def both_paths(network, rows, ids, pos, lengths, mask):
    """The tagger's emissions at real positions by the packed nn.LSTM path (gradients on) and by the folded
    path (no gradients), in eval mode."""
    network.eval()
    with torch.enable_grad():
        packed = network.emissions(rows, ids, lengths, mask, pos)
    with torch.no_grad():
        folded = network.emissions(rows, ids, lengths, mask, pos)
    return packed[mask], folded[mask]


def test_tagger_emissions_and_spans_are_the_same_with_the_folded_path():
    network = tagger().eval()
    rows, ids, pos, lengths, mask = random_batch(LENGTHS, seed=3)
    with torch.enable_grad():
        expected = network.emissions(rows, ids, lengths, mask, pos)  # the packed nn.LSTM path
    assert network.encoder.foldable is False
    with torch.inference_mode():
        assert network.encoder.foldable is True
        got = network.emissions(rows, ids, lengths, mask, pos)
        spans = network.predict_spans(rows, ids, lengths, mask, pos)
    assert torch.allclose(got[mask], expected[mask], atol=1e-5)
    with torch.enable_grad():
        assert spans == network.predict_spans(rows, ids, lengths, mask, pos)


@pytest.mark.parametrize("pooling", ["attention", "last", "max", "mean", "concat"])
def test_text_encoder_output_is_the_same_with_the_folded_path(pooling):
    torch.manual_seed(2)
    encoder = RecurrentTextEncoder(torch.randn(30, 6), 25, trainable_dim=3, hidden_size=4, pooling=pooling,
                                   ngram_dim=2).eval()
    rows, ids, _, lengths, mask = random_batch(LENGTHS, seed=4)
    with torch.enable_grad():
        expected = encoder(rows, ids, lengths, mask)
    with torch.no_grad():
        got = encoder(rows, ids, lengths, mask)
    assert torch.allclose(got, expected, atol=1e-5)


def test_folded_tables_follow_the_weights_after_a_training_step_and_a_load():
    network = tagger()
    rows, ids, pos, lengths, mask = random_batch(LENGTHS, seed=5)
    network.eval()
    with torch.no_grad():
        before = network.emissions(rows, ids, lengths, mask, pos)  # builds the folded tables
    network.train()
    optimizer = torch.optim.SGD(network.parameters(), lr=0.5)
    tags = torch.randint(0, 5, mask.shape) * mask
    network(rows, ids, lengths, mask, pos, tags=tags).sum().backward()
    optimizer.step()
    expected, after = both_paths(network, rows, ids, pos, lengths, mask)
    assert not torch.allclose(after, before[mask], atol=1e-3)  # the step changed the network
    assert torch.allclose(after, expected, atol=1e-5)  # and the folded tables followed
    network.load_state_dict(tagger(seed=9).state_dict())  # copy_ into the same tensors
    expected, loaded = both_paths(network, rows, ids, pos, lengths, mask)
    assert torch.allclose(loaded, expected, atol=1e-5)


def test_training_mode_keeps_the_packed_lstm_path():
    network = tagger().train()
    with torch.no_grad():
        assert network.encoder.foldable is False  # dropout is on: no folding


def test_folded_tables_follow_weights_written_behind_torchs_back():
    """thinc's optimizer writes the new weights through numpy (no version bump), then zeroes the gradients in
    place (PyTorchShim.finish_update): the folded path must not keep answering with the old weights."""
    network = tagger()
    rows, ids, pos, lengths, mask = random_batch(LENGTHS, seed=6)
    network.eval()
    with torch.no_grad():
        network.emissions(rows, ids, lengths, mask, pos)  # builds the folded tables
    network.train()
    tags = torch.randint(0, 5, mask.shape) * mask
    network(rows, ids, lengths, mask, pos, tags=tags).sum().backward()
    for param in network.parameters():  # what thinc's finish_update does
        if param.grad is not None:
            updated = param.data.numpy()
            updated -= 0.5 * param.grad.numpy()  # in place, through numpy
            param.data = torch.from_numpy(updated)
            param.grad.zero_()
    expected, got = both_paths(network, rows, ids, pos, lengths, mask)
    assert torch.allclose(got, expected, atol=1e-5)
    network.encoder.rnn.weight_ih_l0.data.numpy()[:] *= 0.5  # with no gradient at all: the fingerprint sees it
    expected, got = both_paths(network, rows, ids, pos, lengths, mask)
    assert torch.allclose(got, expected, atol=1e-5)


def test_predicting_through_thinc_keeps_the_folded_tables():
    """thinc's shim puts the network back in training mode after each prediction: that alone must not make
    the next prediction rebuild the tables (a rebuild costs as much as thousands of sentences)."""
    network = tagger().eval()
    rows, ids, pos, lengths, mask = random_batch(LENGTHS, seed=7)
    with torch.no_grad():
        network.emissions(rows, ids, lengths, mask, pos)
    table = network.embed._folded._table
    network.train()
    network.eval()
    with torch.no_grad():
        network.emissions(rows, ids, lengths, mask, pos)
    assert network.embed._folded._table is table


def test_a_single_sequence_takes_torchs_fused_lstm():
    network = tagger().eval()
    with torch.no_grad():
        assert network.encoder.folds(1) is False  # one row: the fused LSTM is faster
        assert network.encoder.folds(2) is True
