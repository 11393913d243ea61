"""Recurrent encoders over padded batches, and the poolings that turn their states into one vector."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from pipeline.nn.folded_lstm import bilstm_recurrence, tensors_key, weights_fingerprint

CELLS = {"rnn": nn.RNN, "gru": nn.GRU, "lstm": nn.LSTM}
POOLINGS = ("last", "mean", "max", "attention", "concat")  # concat: [last; max; mean], 3x wide
FOLD_MIN_ROWS = 2  # batches this large or larger take the folded inference path (RecurrentEncoder.folds)


class RecurrentEncoder(nn.Module):
    """A (bi)directional RNN / GRU / LSTM over padded input, run packed so padding is never read."""

    def __init__(
        self,
        input_dim: int,
        hidden_size: int,
        cell: str = "lstm",
        layers: int = 1,
        bidirectional: bool = True,
        dropout: float = 0.0,
    ):
        super().__init__()
        if cell not in CELLS:
            raise ValueError(f"unknown cell {cell!r}; expected one of {sorted(CELLS)}")
        if layers < 1 or hidden_size < 1:
            raise ValueError(f"layers and hidden_size must be >= 1, not {layers} and {hidden_size}")
        self.cell = cell
        self.bidirectional = bidirectional
        self.rnn = CELLS[cell](
            input_dim,
            hidden_size,
            num_layers=layers,
            batch_first=True,
            bidirectional=bidirectional,
            dropout=dropout if layers > 1 else 0.0,
        )
        self.output_dim = hidden_size * (2 if bidirectional else 1)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``x`` (B, T, D), ``lengths`` (B,) -> states (B, T, H) zero at padding, final state (B, H).

        A sequence of length 0 reads one padding step (packing needs one) and its outputs are zeroed.
        """
        steps = x.shape[1]
        packed = pack_padded_sequence(x, lengths.clamp(min=1).cpu(), batch_first=True, enforce_sorted=False)
        out, hidden = self.rnn(packed)
        if self.cell == "lstm":
            hidden = hidden[0]  # (layers * directions, B, hidden): the h of (h, c)
        states, _ = pad_packed_sequence(out, batch_first=True, total_length=steps)  # (B, T, H)
        # the top layer's final states: forward's last real step, backward's first
        final = torch.cat([hidden[-2], hidden[-1]], dim=-1) if self.bidirectional else hidden[-1]  # (B, H)
        present = (lengths > 0).to(x.dtype)  # (B,)
        return states, final * present.unsqueeze(-1)


    @property
    def foldable(self) -> bool:
        """Whether :meth:`forward_gates` can stand in for :meth:`forward`: a one-layer bidirectional LSTM,
        outside training, with no gradient wanted."""
        return (self.cell == "lstm" and self.bidirectional and self.rnn.num_layers == 1 and not self.training
                and not torch.is_grad_enabled())

    def folds(self, rows: int) -> bool:
        """Whether to run a batch of ``rows`` sequences through :meth:`forward_gates`: :attr:`foldable`, and
        at least ``FOLD_MIN_ROWS`` rows (one sequence alone runs faster in torch's fused LSTM, whose steps
        cost no Python; from two rows on the folded path is faster here)."""
        return rows >= FOLD_MIN_ROWS and self.foldable

    def input_weight(self) -> tuple[torch.Tensor, torch.Tensor, tuple]:
        """Both directions' input projection (8H, D) and summed biases (8H,) (a one-layer bidirectional LSTM):
        what :meth:`forward_gates` needs applied to the input; and the :func:`tensors_key` of the weights."""
        rnn = self.rnn
        weight = torch.cat([rnn.weight_ih_l0, rnn.weight_ih_l0_reverse], dim=0)  # (8H, D)
        bias = torch.cat([rnn.bias_ih_l0 + rnn.bias_hh_l0, rnn.bias_ih_l0_reverse + rnn.bias_hh_l0_reverse])  # (8H,)
        key = (*tensors_key(rnn.weight_ih_l0, rnn.weight_ih_l0_reverse, rnn.bias_ih_l0, rnn.bias_hh_l0,
                            rnn.bias_ih_l0_reverse, rnn.bias_hh_l0_reverse), *weights_fingerprint(weight),
               *weights_fingerprint(bias))
        return weight, bias, key

    def forward_gates(self, gates: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """:meth:`forward` from the input already projected, time-major: ``gates`` (T, B, 8H) = ``x @ weight.T +
        bias`` of :meth:`input_weight`; same outputs (states (B, T, H) zero at padding, final (B, H)), for
        inference."""
        rnn = self.rnn
        w_hh = torch.stack([rnn.weight_hh_l0, rnn.weight_hh_l0_reverse])  # (2, 4H, H)
        states, final = bilstm_recurrence(gates, lengths, w_hh)
        return states, final * (lengths > 0).to(gates.dtype).unsqueeze(-1)


class AttentionPooling(nn.Module):
    """Additive self-attention pooling: score_t = v·tanh(W h_t), softmax over real positions."""

    def __init__(self, dim: int, attention_dim: int = 64):
        super().__init__()
        self.project = nn.Linear(dim, attention_dim)
        self.score = nn.Linear(attention_dim, 1, bias=False)

    def forward(self, states: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``states`` (B, T, H), ``mask`` (B, T) -> pooled (B, H), weights (B, T).

        The weights sum to one over the real positions of each row, and are all zero for an empty row.
        """
        scores = self.score(torch.tanh(self.project(states))).squeeze(-1)  # (B, T)
        scores = scores.masked_fill(~mask, float("-inf"))
        weights = torch.softmax(scores, dim=-1).nan_to_num(0.0)  # (B, T); an empty row gives NaN -> 0
        return torch.bmm(weights.unsqueeze(1), states).squeeze(1), weights  # (B, H), (B, T)


class Pooling(nn.Module):
    """One vector per sequence: the final state, the mean, the max, or attention over the states."""

    def __init__(self, kind: str, dim: int, attention_dim: int = 64):
        super().__init__()
        if kind not in POOLINGS:
            raise ValueError(f"unknown pooling {kind!r}; expected one of {list(POOLINGS)}")
        self.kind = kind
        self.attention = AttentionPooling(dim, attention_dim) if kind == "attention" else None
        self.output_dim = dim * (3 if kind == "concat" else 1)

    def forward(
        self, states: torch.Tensor, final: torch.Tensor, mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``states`` (B, T, H), ``final`` (B, H), ``mask`` (B, T) -> pooled (B, H), attention weights or None.

        Every pooling gives zeros for an empty sequence.
        """
        if self.kind == "last":
            return final, None
        if self.kind == "attention":
            return self.attention(states, mask)
        present = mask.unsqueeze(-1)  # (B, T, 1)
        counts = mask.sum(dim=1, keepdim=True).clamp(min=1).to(states.dtype)  # (B, 1)
        mean = (states * present).sum(dim=1) / counts  # (B, H)
        if self.kind == "mean":
            return mean, None
        pooled = states.masked_fill(~present, float("-inf")).max(dim=1).values  # (B, H)
        pooled = pooled.masked_fill(~mask.any(dim=1, keepdim=True), 0.0)
        if self.kind == "concat":
            return torch.cat([final, pooled, mean], dim=-1), None  # (B, 3H)
        return pooled, None
