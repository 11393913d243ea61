"""The linear-chain CRF against brute-force enumeration of every tag sequence on tiny inputs, with padding;
the BIO / BILUO constraints, and the tags <-> spans conversions."""

import itertools
import math

import pytest
import torch

from pipeline.nn.crf import LinearChainCRF, allowed_moves, spans_to_tags, tag_names, tags_to_spans
from pipeline.nn.tagger import RecurrentTagger


def random_crf(k, allowed=None, seed=0):
    torch.manual_seed(seed)
    crf = LinearChainCRF(k, allowed)
    crf.reset_parameters()
    with torch.no_grad():
        crf.transitions.mul_(10)  # far from zero, so a wrong sum shows
    return crf


def brute_force(crf, emissions, n):
    """(log Z, best path) of one row's first n positions by enumerating all K**n sequences."""
    start, moves, end = (t.detach() for t in crf._scores())
    scores = {}
    for path in itertools.product(range(crf.num_tags), repeat=n):
        s = start[path[0]] + emissions[0, path[0]] + end[path[-1]]
        for t in range(1, n):
            s = s + moves[path[t - 1], path[t]] + emissions[t, path[t]]
        scores[path] = float(s)
    best = max(scores, key=scores.get)
    log_z = math.log(sum(math.exp(v - scores[best]) for v in scores.values())) + scores[best]
    return log_z, list(best), scores


@pytest.mark.parametrize("k,lengths", [(3, [4, 2, 1, 3]), (4, [3, 3]), (2, [5, 1])])
def test_forward_algorithm_and_viterbi_match_brute_force_with_padding(k, lengths):
    crf = random_crf(k, seed=k)
    torch.manual_seed(1)
    steps = max(lengths)
    emissions = torch.randn(len(lengths), steps, k) * 3
    mask = torch.arange(steps).unsqueeze(0) < torch.tensor(lengths).unsqueeze(1)
    with torch.no_grad():
        log_z = crf.log_partition(emissions, mask)
    paths = crf.decode(emissions, mask)
    for b, n in enumerate(lengths):
        expected_z, expected_path, scores = brute_force(crf, emissions[b], n)
        assert float(log_z[b]) == pytest.approx(expected_z, rel=1e-5, abs=1e-4)
        assert paths[b] == expected_path
        tags = torch.zeros(1, steps, dtype=torch.long)
        tags[0, :n] = torch.tensor(expected_path)
        tags[0, n:] = k - 1  # padding values never count
        score = crf.path_score(emissions[b : b + 1], tags, mask[b : b + 1]).detach()
        assert float(score[0]) == pytest.approx(scores[tuple(expected_path)], rel=1e-5, abs=1e-4)


def test_padding_does_not_change_a_rows_scores():
    crf = random_crf(3)
    torch.manual_seed(2)
    short = torch.randn(1, 2, 3)
    padded = torch.cat([short, torch.randn(1, 3, 3) * 50], dim=1)  # garbage at padding
    mask = torch.tensor([[True, True, False, False, False]])
    tags = torch.tensor([[1, 2, 0, 1, 2]])
    assert crf.nll(padded, tags, mask).item() == pytest.approx(crf.nll(short, tags[:, :2], mask[:, :2]).item(), abs=1e-5)
    assert crf.decode(padded, mask) == crf.decode(short, mask[:, :2])


def test_empty_rows_have_zero_loss_and_no_tags():
    crf = random_crf(3)
    emissions = torch.randn(2, 3, 3)
    mask = torch.tensor([[False] * 3, [True, True, False]])
    tags = torch.zeros(2, 3, dtype=torch.long)
    nll = crf.nll(emissions, tags, mask)
    assert nll[0].item() == 0.0 and nll[1].item() > 0
    assert crf.decode(emissions, mask)[0] == []


def test_nll_is_a_probability_and_its_gradient_flows():
    crf = random_crf(3)
    emissions = torch.randn(1, 3, 3, requires_grad=True)
    mask = torch.ones(1, 3, dtype=torch.bool)
    total = sum(math.exp(-crf.nll(emissions, torch.tensor([p]), mask).item())
                for p in itertools.product(range(3), repeat=3))
    assert total == pytest.approx(1.0, abs=1e-5)
    crf.nll(emissions, torch.tensor([[0, 1, 2]]), mask).sum().backward()
    assert emissions.grad is not None and crf.transitions.grad.abs().sum() > 0


@pytest.mark.parametrize("scheme", ["BIO", "BILUO"])
def test_constrained_viterbi_never_returns_a_forbidden_sequence(scheme):
    tags = tag_names(["PER", "LOC"], scheme)
    start, moves, end = allowed_moves(tags, scheme)
    crf = random_crf(len(tags), (start, moves, end), seed=3)
    torch.manual_seed(4)
    emissions = torch.randn(16, 6, len(tags)) * 5
    mask = torch.ones(16, 6, dtype=torch.bool)
    mask[3:, 4:] = False
    for path in crf.decode(emissions, mask):
        assert start[path[0]] and end[path[-1]]
        assert all(moves[a, b] for a, b in zip(path, path[1:]))
        names = [tags[i] for i in path]
        assert spans_to_tags(len(names), tags_to_spans(names), scheme) == names  # a valid sequence round-trips


def test_bio_constraints_forbid_an_inside_tag_without_its_beginning():
    tags = tag_names(["PER", "LOC"], "BIO")
    start, moves, _ = allowed_moves(tags, "BIO")
    index = {t: i for i, t in enumerate(tags)}
    assert not start[index["I-PER"]]
    assert not moves[index["O"], index["I-PER"]]
    assert not moves[index["B-LOC"], index["I-PER"]]
    assert moves[index["B-PER"], index["I-PER"]] and moves[index["I-PER"], index["B-PER"]]


def test_biluo_constraints_require_a_last_tag():
    tags = tag_names(["PER"], "BILUO")
    start, moves, end = allowed_moves(tags, "BILUO")
    index = {t: i for i, t in enumerate(tags)}
    assert not end[index["B-PER"]] and not end[index["I-PER"]] and end[index["L-PER"]]
    assert not moves[index["B-PER"], index["O"]] and moves[index["L-PER"], index["O"]]


def test_spans_round_trip_through_tags():
    spans = [(0, 1, "A"), (2, 5, "B"), (5, 6, "A")]
    for scheme in ("BIO", "BILUO"):
        assert tags_to_spans(spans_to_tags(7, spans, scheme)) == spans
    assert tags_to_spans(["I-A", "I-A", "O", "I-B"]) == [(0, 2, "A"), (3, 4, "B")]  # lenient, as conlleval
    with pytest.raises(ValueError):
        spans_to_tags(4, [(0, 2, "A"), (1, 3, "B")])


def test_tagger_without_crf_is_trained_by_per_token_cross_entropy():
    torch.manual_seed(0)
    tagger = RecurrentTagger(torch.randn(5, 4), n_tokens=10, trainable_dim=3, hidden_size=4, dropout=0.0, crf=False)
    tagger.set_tags(tag_names(["A"]))
    assert tagger.crf is None
    rows, ids = torch.tensor([[0, 1, -1]]), torch.tensor([[1, 2, 0]])
    lengths, mask = torch.tensor([2]), torch.tensor([[True, True, False]])
    loss = tagger(rows, ids, lengths, mask, tags=torch.tensor([[1, 2, 0]]))
    emissions = tagger(rows, ids, lengths, mask)
    expected = torch.nn.functional.cross_entropy(emissions[0, :2], torch.tensor([1, 2]), reduction="sum")
    assert loss.item() == pytest.approx(expected.item(), abs=1e-5)
