"""Encoder-decoder attention: additive (Bahdanau) and multiplicative (Luong "general") scores.

Both modules share one interface. ``query`` is the decoder state, ``keys`` the encoder states (they are
also the values), ``mask`` is True at real source positions:

* one query per row: ``query`` (B, Hq) -> context (B, Hk), weights (B, S);
* a block of queries per row (teacher forcing): ``query`` (B, T, Hq) -> context (B, T, Hk), weights (B, T, S).

The weights sum to one over the real positions of a row and are exactly zero at padding; a row without
any real position (an empty source) gets all-zero weights and a zero context, never NaN.
"""

from __future__ import annotations

import torch
from torch import nn

ATTENTIONS = ("additive", "multiplicative")


def masked_softmax(scores: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Softmax of ``scores`` (..., S) over the positions where ``mask`` (..., S) is True; zeros elsewhere.

    Masked scores are set to the lowest finite value rather than -inf, so an all-masked row gives zeros
    (and finite gradients) instead of NaN.
    """
    scores = scores.masked_fill(~mask, torch.finfo(scores.dtype).min)  # (..., S)
    return torch.softmax(scores, dim=-1) * mask.to(scores.dtype)  # (..., S)


def _with_steps(query: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, bool]:
    """``query`` as (B, T, Hq) and ``mask`` as (B, T, S) (T = 1 for a single query), and whether T was added."""
    single = query.dim() == 2
    if single:
        query = query.unsqueeze(1)  # (B, 1, Hq)
    return query, mask.unsqueeze(1).expand(-1, query.size(1), -1), single  # (B, T, Hq), (B, T, S)


def _attend(
    scores: torch.Tensor, keys: torch.Tensor, mask: torch.Tensor, single: bool
) -> tuple[torch.Tensor, torch.Tensor]:
    """Weights from ``scores`` (B, T, S) and the weighted sum of ``keys`` (B, S, Hk); T squeezed if ``single``."""
    weights = masked_softmax(scores, mask)  # (B, T, S)
    context = torch.bmm(weights, keys)  # (B, T, Hk)
    if single:
        return context.squeeze(1), weights.squeeze(1)  # (B, Hk), (B, S)
    return context, weights


class AdditiveAttention(nn.Module):
    """Bahdanau attention: score(q, k_s) = v · tanh(W_q q + W_k k_s)."""

    def __init__(self, query_dim: int, key_dim: int, attention_dim: int = 64):
        super().__init__()
        self.query_proj = nn.Linear(query_dim, attention_dim, bias=False)
        self.key_proj = nn.Linear(key_dim, attention_dim)
        self.v = nn.Linear(attention_dim, 1, bias=False)

    def forward(self, query: torch.Tensor, keys: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``query`` (B, Hq) or (B, T, Hq), ``keys`` (B, S, Hk), ``mask`` (B, S) -> context, weights."""
        query, step_mask, single = _with_steps(query, mask)  # (B, T, Hq), (B, T, S)
        q = self.query_proj(query).unsqueeze(2)  # (B, T, 1, A)
        k = self.key_proj(keys).unsqueeze(1)  # (B, 1, S, A)
        scores = self.v(torch.tanh(q + k)).squeeze(-1)  # (B, T, S)
        return _attend(scores, keys, step_mask, single)


class MultiplicativeAttention(nn.Module):
    """Luong "general" attention: score(q, k_s) = q · W k_s (computed as (Wᵀ q) · k_s)."""

    def __init__(self, query_dim: int, key_dim: int):
        super().__init__()
        self.W = nn.Linear(key_dim, query_dim, bias=False)  # W: (Hq, Hk)

    def forward(self, query: torch.Tensor, keys: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``query`` (B, Hq) or (B, T, Hq), ``keys`` (B, S, Hk), ``mask`` (B, S) -> context, weights."""
        query, step_mask, single = _with_steps(query, mask)  # (B, T, Hq), (B, T, S)
        projected = query @ self.W.weight  # (B, T, Hk): Wᵀ q
        scores = torch.bmm(projected, keys.transpose(1, 2))  # (B, T, S)
        return _attend(scores, keys, step_mask, single)


def make_attention(kind: str, query_dim: int, key_dim: int, attention_dim: int = 64) -> nn.Module:
    """An attention module by name: ``"additive"`` (uses ``attention_dim``) or ``"multiplicative"``."""
    if kind == "additive":
        return AdditiveAttention(query_dim, key_dim, attention_dim)
    if kind == "multiplicative":
        return MultiplicativeAttention(query_dim, key_dim)
    raise ValueError(f"unknown attention {kind!r}; expected one of {list(ATTENTIONS)}")
