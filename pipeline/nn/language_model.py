"""An LSTM language model (optionally theme-conditioned), truncated-BPTT batching, and perplexity."""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Sequence

import torch
import torch.nn.functional as F
from torch import nn

LSTMState = tuple[torch.Tensor, torch.Tensor]  # (h, c), each (layers, B, H)


class LSTMLanguageModel(nn.Module):
    """Next-token log-probabilities: (B, T) ids -> (B, T, V), carrying the LSTM state between calls.

    * ``pretrained`` (vocab_size, embed_dim) initialises the embedding (``embed_dim`` is taken from it);
      ``freeze_embeddings`` keeps it fixed.
    * ``tie_weights`` shares the embedding matrix with the output layer; it needs ``hidden_size == embed_dim``.
    * ``n_themes > 0`` adds a learned theme embedding (``theme_dim``) concatenated to every input step;
      ``forward`` then needs ``theme`` (B,) ids in ``[0, n_themes)``. ``n_themes=0`` disables it.
    * ``pad_id`` (default 0) is the padding id: its embedding row starts (and, untied, stays) zero.
    """

    def __init__(
        self,
        vocab_size: int,
        embed_dim: int = 64,
        hidden_size: int = 128,
        layers: int = 1,
        dropout: float = 0.0,
        tie_weights: bool = False,
        pretrained: torch.Tensor | None = None,
        freeze_embeddings: bool = False,
        n_themes: int = 0,
        theme_dim: int = 16,
        pad_id: int = 0,
    ):
        super().__init__()
        if pretrained is not None:
            if pretrained.dim() != 2 or pretrained.size(0) != vocab_size:
                raise ValueError(f"pretrained must be (vocab_size={vocab_size}, dim), not {tuple(pretrained.shape)}")
            embed_dim = pretrained.size(1)
        if tie_weights and hidden_size != embed_dim:
            raise ValueError(f"tied weights need hidden_size == embed_dim, not {hidden_size} and {embed_dim}")
        if n_themes < 0 or layers < 1:
            raise ValueError(f"n_themes must be >= 0 and layers >= 1, not {n_themes} and {layers}")
        self.vocab_size, self.n_themes, self.pad_id = vocab_size, n_themes, pad_id
        self.embed = nn.Embedding(vocab_size, embed_dim, padding_idx=pad_id)  # (V, E)
        if pretrained is not None:
            with torch.no_grad():
                self.embed.weight.copy_(pretrained)
                self.embed.weight[pad_id].zero_()
        self.embed.weight.requires_grad_(not freeze_embeddings)
        self.theme_embed = nn.Embedding(n_themes, theme_dim) if n_themes else None  # (n_themes, D_theme)
        input_dim = embed_dim + (theme_dim if n_themes else 0)
        self.lstm = nn.LSTM(
            input_dim, hidden_size, num_layers=layers, batch_first=True, dropout=dropout if layers > 1 else 0.0
        )
        self.out = nn.Linear(hidden_size, vocab_size)  # (V, H)
        if tie_weights:
            self.out.weight = self.embed.weight
        self.dropout = nn.Dropout(dropout)

    def forward(
        self, ids: torch.Tensor, state: LSTMState | None = None, theme: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, LSTMState]:
        """``ids`` (B, T), ``state`` (h, c) (layers, B, H) or None (zeros), ``theme`` (B,) -> log-probs (B, T, V), state."""
        if (theme is None) != (self.theme_embed is None):
            raise ValueError("theme must be given exactly when the model has themes (n_themes > 0)")
        x = self.dropout(self.embed(ids))  # (B, T, E)
        if self.theme_embed is not None:
            themes = self.theme_embed(theme).unsqueeze(1).expand(-1, ids.size(1), -1)  # (B, T, D_theme)
            x = torch.cat([x, themes], dim=-1)  # (B, T, E + D_theme)
        h, state = self.lstm(x, state)  # (B, T, H)
        return F.log_softmax(self.out(self.dropout(h)), dim=-1), state  # (B, T, V)


def detach_state(state: LSTMState) -> LSTMState:
    """The state cut from its graph, so that truncated BPTT does not backpropagate into earlier chunks."""
    return tuple(s.detach() for s in state)


def truncated_bptt_batches(
    token_stream: Sequence[int] | torch.Tensor, batch_size: int, bptt: int
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """The standard batchify: ``(input, target)`` chunks, each (batch_size, L) long with L <= ``bptt``.

    The stream is cut into ``batch_size`` contiguous rows of N = len // batch_size tokens (the tail is
    dropped); row b of every chunk continues row b of the previous one, so the LSTM state can be carried
    across chunks. ``target`` is ``input`` shifted one token ahead in the stream.
    """
    if batch_size < 1 or bptt < 1:
        raise ValueError(f"batch_size and bptt must be >= 1, not {batch_size} and {bptt}")
    stream = torch.as_tensor(token_stream, dtype=torch.long)  # (N_total,)
    if stream.dim() != 1:
        raise ValueError(f"token_stream must be one sequence of ids, not of shape {tuple(stream.shape)}")
    columns = stream.numel() // batch_size
    if columns < 2:
        raise ValueError(f"a stream of {stream.numel()} ids is too short for batch_size={batch_size}")
    data = stream[: columns * batch_size].view(batch_size, columns)  # (B, N)
    spans = ((i, min(bptt, columns - 1 - i)) for i in range(0, columns - 1, bptt))  # (start, L)
    return ((data[:, i : i + n], data[:, i + 1 : i + 1 + n]) for i, n in spans)  # (B, L), (B, L)


@torch.no_grad()
def summed_nll(
    model: LSTMLanguageModel,
    batches: Iterable[tuple[torch.Tensor, torch.Tensor]],
    theme: torch.Tensor | None = None,
    carry_state: bool = True,
) -> tuple[float, int]:
    """(summed NLL, count) of the targets of ``batches`` ((B, L) input, (B, L) target), ``pad_id`` targets
    left out: the one way an LSTM LM is scored (perplexity is ``exp(total / count)``).

    With ``carry_state`` the state flows from one batch to the next (truncated-BPTT batches); otherwise
    every batch starts from zeros (independent padded sentences). ``theme`` (B,) for a theme-conditioned
    model. Call ``model.eval()`` first.
    """
    total, count, state = 0.0, 0, None
    for inputs, targets in batches:
        themes = None if theme is None else theme.expand(inputs.size(0))  # (B,)
        log_probs, state = model(inputs, state if carry_state else None, themes)  # (B, L, V)
        total += F.nll_loss(log_probs.transpose(1, 2), targets, ignore_index=model.pad_id, reduction="sum").item()
        count += int((targets != model.pad_id).sum())
    return total, count


def perplexity(
    model: LSTMLanguageModel,
    batches: Iterable[tuple[torch.Tensor, torch.Tensor]],
    theme: torch.Tensor | None = None,
    carry_state: bool = True,
) -> float:
    """exp(mean NLL) of :func:`summed_nll`; ValueError when there is no target token."""
    total, count = summed_nll(model, batches, theme, carry_state)
    if count == 0:
        raise ValueError("no target tokens to score")
    return math.exp(total / count)
