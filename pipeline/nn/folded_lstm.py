"""Inference for a one-layer bidirectional LSTM over embedding lookups, with its input projection folded
into the tables.

An LSTM's first step at each token is ``W_ih @ x``: for our taggers and classifiers ``x`` is 364-380 wide
(300-d static vector, trainable embedding, POS embedding), so that product is ~85% of the network's work.
But ``x`` is a concatenation of table rows, and ``W_ih @ [a; b] = W_a @ a + W_b @ b``: the static part,
``W_a @ vectors[row]``, can be computed once per vector row (a (rows, 8H) table for both directions) and
looked up. What is left per token is a lookup and the recurrence (``W_hh @ h``, H wide), which
:func:`bilstm_recurrence` runs for both directions at once, batched, on padded input (no packing).

Same numbers as ``nn.LSTM`` on packed input (to float rounding); used only when no gradient is needed.
"""

from __future__ import annotations

from typing import Callable, Sequence

import torch
import torch.nn.functional as F


SHUT = -1.0e4  # a gate pre-activation whose sigmoid is 0.0 in float32


def bilstm_recurrence(gates: torch.Tensor, lengths: torch.Tensor, w_hh: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The recurrence of a bidirectional one-layer LSTM given its input gates, time-major.

    ``gates`` (T, B, 8H): ``W_ih @ x_t + b_ih + b_hh`` of the forward direction (first 4H, torch's i, f, g, o
    order) and of the backward direction (last 4H) at each position; ``lengths`` (B,) (clamped to >= 1: an
    empty row reads one padding step, as with packing); ``w_hh`` (2, 4H, H), the directions' ``weight_hh``.
    Returns states (B, T, 2H), zero at padding, and the final states (B, 2H): forward's at the last real
    step, backward's at the first.

    Step k runs the forward direction at position k and the backward one at T-1-k in one batched product.
    Padding comes after a row's end: forward reads it only after its last real step (those states are
    masked), and backward's gates are shut over it, so that it starts from zeros at the row's last real
    position, as with packing. No gather or reversal per row is needed.
    """
    steps, batch, width = gates.shape
    hidden = width // 8
    lengths = lengths.clamp(min=1)
    real = torch.arange(steps, device=gates.device).unsqueeze(1) < lengths.unsqueeze(0)  # (T, B) bool
    both = torch.stack([gates[..., : 4 * hidden], gates[..., 4 * hidden :].flip(0)], dim=1)  # (T, 2, B, 4H)
    # backward's steps over a row's padding: input and forget gates shut (sigmoid(-1e4) is exactly 0), so
    # its cell and state stay at zero until the row's last real position
    padding = ~real.flip(0)  # (T, B), in backward's step order
    both[:, 1, :, : 2 * hidden].masked_fill_(padding.unsqueeze(-1), SHUT)
    recurrent = w_hh.transpose(1, 2)  # (2, H, 4H)
    h = gates.new_zeros(2, batch, hidden)  # (2, B, H)
    c = gates.new_zeros(2, batch, hidden)
    outputs = []
    for k in range(steps):
        step = torch.baddbmm(both[k], h, recurrent)  # (2, B, 4H)
        gate = torch.sigmoid(step)  # i, f and o are used; g's slot is taken through tanh below
        i, f, _, o = gate.chunk(4, dim=2)
        c = torch.addcmul(f * c, i, torch.tanh(step[..., 2 * hidden : 3 * hidden]))
        h = o * torch.tanh(c)
        outputs.append(h)
    states = torch.stack(outputs)  # (T, 2, B, H): [k, 0] at position k, [k, 1] at position T-1-k
    forward_states, backward_states = states[:, 0], states[:, 1].flip(0)  # (T, B, H) each, in position order
    last = (lengths - 1).view(1, batch, 1).expand(1, -1, hidden)  # (1, B, H)
    final = torch.cat([forward_states.gather(0, last).squeeze(0), backward_states[0]], dim=-1)  # (B, 2H)
    out = torch.cat([forward_states * real.unsqueeze(-1).to(gates.dtype), backward_states], dim=-1)  # (T, B, 2H)
    return out.transpose(0, 1), final


def tensors_key(*tensors: torch.Tensor) -> tuple:
    """What identifies the values of ``tensors`` (parameters, buffers) while they are unchanged: identity,
    storage, version counter (a torch optimizer step or ``load_state_dict`` bumps it), shape, and the version
    of the gradient: thinc's optimizer writes new weights through numpy, which torch does not count, and
    then zeroes the gradient in place, which it does."""
    return tuple((id(t), t.data_ptr(), t._version, tuple(t.shape), None if t.grad is None else t.grad._version)
                 for t in tensors)


def weights_fingerprint(weight: torch.Tensor) -> tuple[float, float]:
    """Two sums over ``weight`` that any update changes (in practice): a check that the kept product is of
    these values, whoever wrote them."""
    with torch.no_grad():
        return float(weight.sum()), float(weight.abs().sum())


class FoldedLookups:
    """An LSTM's input gates where its input is a concatenation of table rows: ``x_t = [A[a_t]; B[b_t]; ...]``
    gives ``W_ih @ x_t + bias = (A @ W_A.T + bias)[a_t] + (B @ W_B.T)[b_t] + ...``. The projected tables are
    computed once, into one stacked table, and kept while ``key`` (:func:`tensors_key` of every tensor they
    came from) is unchanged; a position's gates are then one ``embedding_bag`` sum of a row of each. Each
    table gets one more row, of zeros, at index ``R_k``: a position may read "nothing" from a table there.
    """

    def __init__(self):
        self._key: tuple | None = None
        self._table: torch.Tensor | None = None  # (sum of (R_k + 1), G)
        self._offsets: list[int] = []

    def clear(self) -> None:
        """Forget the projected tables (the weights are about to change)."""
        self._key, self._table, self._offsets = None, None, []

    def __call__(self, build: Callable[[], Sequence[torch.Tensor]], indices: Sequence[torch.Tensor],
                 weight: torch.Tensor, bias: torch.Tensor, key: tuple) -> torch.Tensor:
        """``build()`` -> the tables (R_k, D_k), called only when ``key`` changed; ``indices`` (any shape S) rows of
        each, in 0..R_k (R_k: the zero row); ``weight`` (G, sum D_k); ``bias`` (G,) -> gates (*S, G)."""
        if key != self._key or self._table is None:
            self._table = None  # let the old table go before the new one is made
            with torch.no_grad():
                tables = list(build())
                widths = [table.shape[1] for table in tables]
                if sum(widths) != weight.shape[1]:
                    raise ValueError(f"the tables are {sum(widths)} wide together, the weight takes {weight.shape[1]}")
                rows = [table.shape[0] + 1 for table in tables]  # each with its zero row
                folded = weight.new_zeros(sum(rows), weight.shape[0])  # (sum, G), written block by block
                self._offsets = [sum(rows[:k]) for k in range(len(tables))]
                column = 0
                for table, offset, width in zip(tables, self._offsets, widths):
                    torch.matmul(table.detach(), weight[:, column : column + width].detach().T,
                                 out=folded[offset : offset + len(table)])
                    column += width
                folded[: rows[0]] += bias.detach()  # every position reads one row of the first table
                self._table = folded
            self._key = key
        shape = indices[0].shape
        rows = torch.stack([index.reshape(-1) + offset for index, offset in zip(indices, self._offsets)], dim=1)
        gates = F.embedding_bag(rows, self._table, mode="sum")  # (B * T, G)
        return gates.view(*shape, -1)
