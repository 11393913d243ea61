"""Decoding for any step-wise model: greedy search, beam search (GNMT length penalty) and sampling.

Every function drives a **step** callable::

    step(prev_ids (B,), state) -> (log_probs (B, V), new_state, attention (B, S) or None)

where ``state`` is None or tensors with the batch on dim 0, nested in tuples, lists or dicts (beam
search reorders it with ``index_select(0, ...)``). :func:`seq2seq_stepper` and
:func:`language_model_stepper` wrap a :class:`Seq2Seq` and an :class:`LSTMLanguageModel` into
``(step, state, start_ids)``. Put the model in ``eval()`` mode first; decoding runs without gradients.

Lengths count generated tokens, EOS included; ``max_length`` (>= 1) always bounds them, so decoding
terminates even if EOS never comes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from pipeline.nn.bilm import BidirectionalLM
from pipeline.nn.language_model import LSTMLanguageModel
from pipeline.nn.seq2seq import Seq2Seq

State = Any  # None, or tensors (batch on dim 0) nested in tuples / lists / dicts
Step = Callable[[torch.Tensor, State], tuple[torch.Tensor, State, torch.Tensor | None]]


@dataclass
class Generated:
    """A batch of greedy or sampled sequences."""

    tokens: torch.Tensor  # (B, L) long: generated ids, EOS included, pad_id after it
    lengths: torch.Tensor  # (B,) long: generated tokens per row, EOS included
    log_probs: torch.Tensor  # (B,) float: the model's summed log-probabilities of those tokens
    attention: torch.Tensor | None  # (B, L, S) float, zero after the end; None when the step gives none

    def sequences(self) -> list[list[int]]:
        """Each row's generated ids, EOS included, padding left out."""
        return [row[:n].tolist() for row, n in zip(self.tokens, self.lengths.tolist())]


@dataclass
class Hypothesis:
    """One beam-search result; ``score`` is ``log_prob / ((5 + len) / 6) ** alpha`` (GNMT)."""

    tokens: list[int]  # generated ids, EOS last when finished
    log_prob: float  # the model's summed log-probability of tokens
    score: float  # log_prob divided by the length penalty
    finished: bool  # ended with EOS (False: cut at max_length)
    attention: torch.Tensor | None  # (T, S), one row per token; None when the step gives none


def _check_lengths(start_ids: torch.Tensor, max_length: int) -> None:
    if start_ids.dim() != 1:
        raise ValueError(f"start_ids must be (B,), not {tuple(start_ids.shape)}")
    if max_length < 1:
        raise ValueError(f"max_length must be >= 1, not {max_length}")


def _select(state: State, index: torch.Tensor) -> State:
    """``state`` with the batch rows ``index`` (K,) (dim 0 of every tensor)."""
    if state is None:
        return None
    if isinstance(state, torch.Tensor):
        return state.index_select(0, index)
    if isinstance(state, (tuple, list)):
        return type(state)(_select(s, index) for s in state)
    if isinstance(state, dict):
        return {key: _select(value, index) for key, value in state.items()}
    raise TypeError(f"cannot reorder a state of type {type(state).__name__}")


def _generate(
    step: Step,
    state: State,
    start_ids: torch.Tensor,
    eos_id: int,
    max_length: int,
    pad_id: int,
    choose: Callable[[torch.Tensor], torch.Tensor],
) -> Generated:
    """Run ``step`` from ``start_ids`` (B,), picking each next id with ``choose(log_probs (B, V)) -> (B,)``."""
    prev = start_ids  # (B,)
    done = torch.zeros_like(start_ids, dtype=torch.bool)  # (B,)
    total = torch.zeros(start_ids.shape, device=start_ids.device)  # (B,)
    lengths = torch.zeros_like(start_ids)  # (B,)
    tokens, rows = [], []
    for _ in range(max_length):
        log_probs, state, weights = step(prev, state)  # (B, V), (B, S) or None
        ids = choose(log_probs).masked_fill(done, pad_id)  # (B,)
        picked = log_probs.gather(1, ids.unsqueeze(1)).squeeze(1)  # (B,)
        total = total + torch.where(done, torch.zeros_like(picked), picked)
        lengths = lengths + (~done).long()
        tokens.append(ids)
        if weights is not None:
            rows.append(weights.masked_fill(done.unsqueeze(1), 0.0))  # (B, S)
        done = done | (ids == eos_id)
        prev = ids
        if done.all():
            break
    attention = torch.stack(rows, dim=1) if rows else None  # (B, L, S)
    return Generated(torch.stack(tokens, dim=1), lengths, total, attention)


@torch.no_grad()
def greedy(
    step: Step, state: State, start_ids: torch.Tensor, eos_id: int, max_length: int, pad_id: int = 0
) -> Generated:
    """The most probable next id at every step, for a batch of ``start_ids`` (B,)."""
    _check_lengths(start_ids, max_length)
    return _generate(step, state, start_ids, eos_id, max_length, pad_id, lambda log_probs: log_probs.argmax(-1))


def _filter(logits: torch.Tensor, top_k: int, top_p: float) -> torch.Tensor:
    """``logits`` (B, V) with -inf outside the ``top_k`` best (0: all) and outside the top-``top_p`` nucleus."""
    if 0 < top_k < logits.size(-1):
        kth = logits.topk(top_k, dim=-1).values[:, -1:]  # (B, 1)
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if top_p < 1.0:
        sorted_logits, order = logits.sort(dim=-1, descending=True)  # (B, V)
        probs = torch.softmax(sorted_logits, dim=-1)  # (B, V)
        before = probs.cumsum(dim=-1) - probs  # (B, V): mass of the better ids; 0 for the best, always kept
        drop = torch.zeros_like(logits, dtype=torch.bool).scatter(-1, order, before >= top_p)  # (B, V)
        logits = logits.masked_fill(drop, float("-inf"))
    return logits


@torch.no_grad()
def sample(
    step: Step,
    state: State,
    start_ids: torch.Tensor,
    eos_id: int,
    max_length: int,
    temperature: float = 1.0,
    top_k: int = 0,
    top_p: float = 1.0,
    generator: torch.Generator | None = None,
    pad_id: int = 0,
) -> Generated:
    """Ancestral sampling from ``softmax(log_probs / temperature)``, restricted to the ``top_k`` best ids
    (0: no limit) and to the nucleus of mass ``top_p``; ``generator`` (seeded) makes it repeatable.

    ``Generated.log_probs`` are the model's own log-probabilities (before temperature and filtering).
    """
    _check_lengths(start_ids, max_length)
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0, not {temperature}")
    if top_k < 0:
        raise ValueError(f"top_k must be >= 0 (0: no limit), not {top_k}")
    if not 0 < top_p <= 1:
        raise ValueError(f"top_p must be in (0, 1], not {top_p}")

    def choose(log_probs: torch.Tensor) -> torch.Tensor:
        probs = torch.softmax(_filter(log_probs / temperature, top_k, top_p), dim=-1)  # (B, V)
        return torch.multinomial(probs, 1, generator=generator).squeeze(1)  # (B,)

    return _generate(step, state, start_ids, eos_id, max_length, pad_id, choose)


def length_penalty(length: int, alpha: float) -> float:
    """GNMT's length penalty ((5 + length) / 6) ** alpha (1 for alpha = 0)."""
    return ((5 + length) / 6) ** alpha


def _hypothesis(
    tokens: torch.Tensor, log_prob: torch.Tensor, attention: torch.Tensor | None, finished: bool, alpha: float
) -> Hypothesis:
    """A :class:`Hypothesis` from ``tokens`` (T,), ``log_prob`` (), ``attention`` (T, S) or None."""
    score = log_prob.item() / length_penalty(tokens.numel(), alpha)
    return Hypothesis(tokens.tolist(), log_prob.item(), score, finished, attention)


@torch.no_grad()
def beam_search(
    step: Step,
    state: State,
    start_ids: torch.Tensor,
    eos_id: int,
    beam_size: int,
    max_length: int,
    alpha: float = 0.0,
) -> list[Hypothesis]:
    """Beam search for one input (``start_ids`` of shape (1,)): up to ``beam_size`` hypotheses, best first.

    At each step the ``beam_size - len(finished)`` best extensions (by summed log-probability) are
    kept; those ending in EOS are finished and leave the beam, which shrinks until it is empty or
    ``max_length`` ids have been generated (the hypotheses still alive then are returned unfinished).
    The results are sorted by ``score`` (log-probability over the GNMT length penalty with ``alpha``).
    With ``beam_size=1`` this is exactly greedy search. Extensions of probability zero are never kept.
    """
    _check_lengths(start_ids, max_length)
    if start_ids.numel() != 1:
        raise ValueError(f"beam_search decodes one input: start_ids must be (1,), not {tuple(start_ids.shape)}")
    if beam_size < 1:
        raise ValueError(f"beam_size must be >= 1, not {beam_size}")
    if alpha < 0:
        raise ValueError(f"alpha must be >= 0, not {alpha}")
    prev = start_ids  # (n,) the last id of each live hypothesis
    scores = torch.zeros(1, device=start_ids.device)  # (n,) summed log-probabilities
    history = start_ids.new_zeros(1, 0)  # (n, t) generated ids
    attention = None  # (n, t, S) or None
    results: list[Hypothesis] = []
    for _ in range(max_length):
        log_probs, state, weights = step(prev, state)  # (n, V), (n, S) or None
        vocab = log_probs.size(-1)
        candidates = (scores.unsqueeze(1) + log_probs).view(-1)  # (n * V,)
        top, flat = candidates.topk(min(beam_size - len(results), candidates.numel()))  # (k,)
        keep = torch.isfinite(top)  # (k,)
        top, flat = top[keep], flat[keep]
        origin, ids = flat // vocab, flat % vocab  # (k,), (k,)
        history = torch.cat([history[origin], ids.unsqueeze(1)], dim=1)  # (k, t + 1)
        if weights is not None:
            row = weights[origin].unsqueeze(1)  # (k, 1, S)
            attention = row if attention is None else torch.cat([attention[origin], row], dim=1)  # (k, t + 1, S)
        ended = ids == eos_id  # (k,)
        for i in ended.nonzero().flatten().tolist():
            results.append(_hypothesis(history[i], top[i], None if attention is None else attention[i], True, alpha))
        alive = (~ended).nonzero().flatten()  # (n',)
        prev, scores, history = ids[alive], top[alive], history[alive]
        attention = None if attention is None else attention[alive]
        state = _select(state, origin[alive])
        if alive.numel() == 0:
            break
    for i in range(history.size(0)):  # cut at max_length
        results.append(_hypothesis(history[i], scores[i], None if attention is None else attention[i], False, alpha))
    return sorted(results, key=lambda hypothesis: hypothesis.score, reverse=True)


def _batch_first(state: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, ...]:
    """An LSTM (h, c) from (layers, B, H) to (B, layers, H)."""
    return tuple(s.transpose(0, 1) for s in state)


def _layers_first(state: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, ...]:
    """An LSTM (h, c) from (B, layers, H) back to (layers, B, H)."""
    return tuple(s.transpose(0, 1).contiguous() for s in state)


@torch.no_grad()
def seq2seq_stepper(
    model: Seq2Seq,
    src_ids: torch.Tensor,
    src_lengths: torch.Tensor,
    src_ext_ids: torch.Tensor | None = None,
    n_oov: int = 0,
) -> tuple[Step, State, torch.Tensor]:
    """Encode the sources (B, S) once -> ``(step, state, start_ids)`` for the decoding functions.

    The step's attention is the decoder's (B, S); its log-probabilities are over the extended vocabulary
    (ids >= V are OOV copies, fed back as ``unk_id``). With B = 1 the step also serves any number of
    hypotheses (beam search). ``start_ids`` is ``bos_id`` for each source.
    """
    memory, state = model.encode(src_ids, src_lengths, src_ext_ids, n_oov)

    def step(prev_ids: torch.Tensor, state: State) -> tuple[torch.Tensor, State, torch.Tensor | None]:
        log_probs, new_state, weights = model.decode_step(
            prev_ids, _layers_first(state), memory.expand(prev_ids.size(0))
        )  # (n, V_ext), (layers, n, H) x 2, (n, S) or None
        return log_probs, _batch_first(new_state), weights

    start_ids = torch.full((src_ids.size(0),), model.bos_id, dtype=torch.long, device=src_ids.device)  # (B,)
    return step, _batch_first(state), start_ids


@torch.no_grad()
def language_model_stepper(
    model: LSTMLanguageModel, prompt: torch.Tensor, theme: torch.Tensor | None = None
) -> tuple[Step, State, torch.Tensor]:
    """Read ``prompt`` (B, P >= 1; e.g. BOS alone) -> ``(step, state, start_ids)`` continuing it.

    All but the last prompt id are run through the model; the last one is ``start_ids`` (B,). ``theme``
    (B,) (or (1,), shared by every row and hypothesis) is needed when the model has themes.
    """
    if prompt.dim() != 2 or prompt.size(1) < 1:
        raise ValueError(f"prompt must be (B, P) with P >= 1, not {tuple(prompt.shape)}")

    def themes(batch: int) -> torch.Tensor | None:
        return None if theme is None else theme.expand(batch)  # (batch,)

    def step(prev_ids: torch.Tensor, state: State) -> tuple[torch.Tensor, State, None]:
        layers_first = None if state is None else _layers_first(state)
        log_probs, new_state = model(prev_ids.unsqueeze(1), layers_first, themes(prev_ids.size(0)))  # (n, 1, V)
        return log_probs.squeeze(1), _batch_first(new_state), None

    state = None
    if prompt.size(1) > 1:
        _, hidden = model(prompt[:, :-1], None, themes(prompt.size(0)))  # (layers, B, H) x 2
        state = _batch_first(hidden)
    return step, state, prompt[:, -1]



@torch.no_grad()
def bilm_stepper(model: BidirectionalLM, prompt: torch.Tensor, rows_by_id: torch.Tensor) -> tuple[Step, State, torch.Tensor]:
    """Read ``prompt`` (B, P >= 1) with the forward LM of ``model`` -> ``(step, state, start_ids)`` continuing
    it; ``rows_by_id`` (V,) gives each id's static vector row (-1: none). The state is each layer's
    (h, c) with the batch first, so that beam search can reorder it."""
    if prompt.dim() != 2 or prompt.size(1) < 1:
        raise ValueError(f"prompt must be (B, P) with P >= 1, not {tuple(prompt.shape)}")

    def run(ids: torch.Tensor, state: State):
        layers = None if state is None else [_layers_first(s) for s in state]
        log_probs, new_state = model.next_log_probs(rows_by_id[ids], ids, layers)  # (B, T, V)
        return log_probs, [_batch_first(s) for s in new_state]

    def step(prev_ids: torch.Tensor, state: State) -> tuple[torch.Tensor, State, None]:
        log_probs, state = run(prev_ids.unsqueeze(1), state)  # (n, 1, V)
        return log_probs.squeeze(1), state, None

    state = run(prompt[:, :-1], None)[1] if prompt.size(1) > 1 else None
    return step, state, prompt[:, -1]

def ban_repeated_ngrams(log_probs: torch.Tensor, history: torch.Tensor, n: int) -> torch.Tensor:
    """``log_probs`` (B, V) with -inf at every id that would repeat an ``n``-gram already in its row of
    ``history`` (B, t) (fairseq's ``no_repeat_ngram_size``; ``n = 1`` bans every id already generated)."""
    if n < 1 or history.size(1) < n - 1:
        return log_probs
    banned = log_probs.clone()
    for row, ids in enumerate(history.tolist()):
        prefix = ids[len(ids) - (n - 1):] if n > 1 else []
        for i in range(len(ids) - (n - 1)):
            if ids[i:i + n - 1] == prefix:
                banned[row, ids[i + n - 1]] = float("-inf")
    return banned


def no_repeat_ngrams(step: Step, state: State, start_ids: torch.Tensor, n: int) -> tuple[Step, State]:
    """``(step, state)`` that never generate an ``n``-gram twice in one sequence (``n = 0``: unchanged).

    The ids generated so far travel in the state, ``(inner state, history (B, t))``, so beam search
    reorders them with the rest and greedy search and sampling keep them per row. Where every id is
    banned the row's log-probabilities are all -inf: beam search drops it, greedy picks id 0 (padding).
    """
    if n < 0:
        raise ValueError(f"n must be >= 0 (0: no blocking), not {n}")
    if n == 0:
        return step, state

    first = [True]  # the first input id is the start id (<s>), not part of the sequence

    def wrapped(prev_ids: torch.Tensor, wrapped_state: State):
        inner, history = wrapped_state
        if not first[0]:
            history = torch.cat([history, prev_ids.unsqueeze(1)], dim=1)  # (B, t + 1)
        first[0] = False
        log_probs, inner, attention = step(prev_ids, inner)  # (B, V)
        return ban_repeated_ngrams(log_probs, history, n), (inner, history), attention

    return wrapped, (state, start_ids.new_zeros(start_ids.size(0), 0))
