"""A sentence encoder: static + trainable embeddings, a recurrent encoder, and a pooling."""

from __future__ import annotations

import torch
from torch import nn

from pipeline.nn.embedding import StaticPlusTrainableEmbedding
from pipeline.nn.encoders import Pooling, RecurrentEncoder


class RecurrentTextEncoder(nn.Module):
    """Token indices in, one vector per text out: (B, T) -> (B, ``output_dim``).

    After each forward pass ``last_attention`` holds the attention weights (B, T) when the pooling
    is ``attention`` (None otherwise), for inspection.
    """

    def __init__(
        self,
        vectors: torch.Tensor,
        n_tokens: int,
        trainable_dim: int = 64,
        freeze_vectors: bool = True,
        hidden_size: int = 128,
        cell: str = "lstm",
        layers: int = 1,
        bidirectional: bool = True,
        pooling: str = "attention",
        dropout: float = 0.3,
    ):
        super().__init__()
        self.embed = StaticPlusTrainableEmbedding(
            vectors, n_tokens, trainable_dim=trainable_dim, freeze_vectors=freeze_vectors, dropout=dropout
        )
        self.encoder = RecurrentEncoder(
            self.embed.output_dim, hidden_size, cell=cell, layers=layers, bidirectional=bidirectional, dropout=dropout
        )
        self.pool = Pooling(pooling, self.encoder.output_dim)
        self.dropout = nn.Dropout(dropout)
        self.output_dim = self.encoder.output_dim
        self.last_attention: torch.Tensor | None = None

    def reset_parameters(self) -> None:
        """Draw every trainable weight afresh from torch's random state (the vectors are kept)."""
        self.embed.reset_parameters()
        for module in self.modules():
            if isinstance(module, (nn.RNNBase, nn.Linear)):
                module.reset_parameters()

    def forward(
        self, vector_rows: torch.Tensor, token_ids: torch.Tensor, lengths: torch.Tensor, mask: torch.Tensor
    ) -> torch.Tensor:
        """``vector_rows``, ``token_ids`` (B, T) long, ``lengths`` (B,), ``mask`` (B, T) -> (B, output_dim)."""
        x = self.embed(vector_rows, token_ids)  # (B, T, D)
        states, final = self.encoder(x, lengths)  # (B, T, H), (B, H)
        pooled, weights = self.pool(states, final, mask)  # (B, H), (B, T) or None
        self.last_attention = None if weights is None else weights.detach()
        return self.dropout(pooled)  # (B, H)
