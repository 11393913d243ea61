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
        ngram_dim: int = 0,
        word_dropout: float = 0.0,
    ):
        super().__init__()
        if not 0.0 <= word_dropout < 1.0:
            raise ValueError(f"word_dropout must be in [0, 1), not {word_dropout}")
        self.word_dropout = word_dropout
        self.embed = StaticPlusTrainableEmbedding(
            vectors, n_tokens, trainable_dim=trainable_dim, freeze_vectors=freeze_vectors, dropout=dropout
        )
        self.encoder = RecurrentEncoder(
            self.embed.output_dim, hidden_size, cell=cell, layers=layers, bidirectional=bidirectional, dropout=dropout
        )
        self.pool = Pooling(pooling, self.encoder.output_dim)
        self.ngrams = HashedNgramBag(n_tokens, ngram_dim) if ngram_dim > 0 else None
        self.dropout = nn.Dropout(dropout)
        self.output_dim = self.pool.output_dim + max(ngram_dim, 0)
        self.last_attention: torch.Tensor | None = None

    def reset_parameters(self) -> None:
        """Draw every trainable weight afresh from torch's random state (the vectors are kept)."""
        self.embed.reset_parameters()
        if self.ngrams is not None:
            self.ngrams.reset_parameters()
        for module in self.modules():
            if isinstance(module, (nn.RNNBase, nn.Linear)):
                module.reset_parameters()

    def forward(
        self, vector_rows: torch.Tensor, token_ids: torch.Tensor, lengths: torch.Tensor, mask: torch.Tensor
    ) -> torch.Tensor:
        """``vector_rows``, ``token_ids`` (B, T) long, ``lengths`` (B,), ``mask`` (B, T) -> (B, output_dim).

        In training, ``word_dropout`` blanks whole tokens: each real token is, with that probability,
        read as a zero vector by the recurrent encoder and left out of the n-gram bag (it keeps its
        position, so lengths and the mask do not change).
        """
        if self.training and self.word_dropout > 0:
            dropped = (torch.rand(token_ids.shape, device=token_ids.device) < self.word_dropout) & mask  # (B, T)
            vector_rows = vector_rows.masked_fill(dropped, -1)  # (B, T) no static vector
            token_ids = token_ids.masked_fill(dropped, 0)  # (B, T) padding id: zero trainable embedding
        if self.encoder.folds(len(vector_rows)):  # inference: the input projection folded into the vector table
            weight, bias, key = self.encoder.input_weight()  # (8H, D), (8H,)
            states, final = self.encoder.forward_gates(self.embed.project(vector_rows.T, token_ids.T, weight, bias, key), lengths)
        else:
            x = self.embed(vector_rows, token_ids)  # (B, T, D)
            states, final = self.encoder(x, lengths)  # (B, T, H), (B, H)
        pooled, weights = self.pool(states, final, mask)  # (B, H), (B, T) or None
        self.last_attention = None if weights is None else weights.detach()
        if self.ngrams is not None:
            pooled = torch.cat([pooled, self.ngrams(token_ids, mask)], dim=-1)  # (B, H + ngram_dim)
        return self.dropout(pooled)  # (B, output_dim)


class HashedNgramBag(nn.Module):
    """A bag of token unigrams and bigrams: the mean of their trainable embeddings, (B, T) -> (B, dim).

    Unigrams are the hashed token ids themselves (``1..n_tokens - 1``, 0 = padding); a bigram of two
    adjacent real tokens is hashed into as many buckets. An empty sequence gives zeros. It lets the
    classifier keep word and phrase identities (names, set phrases) next to the recurrent summary.
    """

    def __init__(self, n_tokens: int, dim: int, init_std: float = 0.1):
        super().__init__()
        if n_tokens < 2 or dim < 1:
            raise ValueError(f"n_tokens must be >= 2 and dim >= 1, not {n_tokens} and {dim}")
        self.n_tokens = n_tokens
        self.unigrams = nn.Embedding(n_tokens, dim, padding_idx=0)
        self.bigrams = nn.Embedding(n_tokens, dim, padding_idx=0)
        self.init_std = init_std
        self.reset_parameters()

    def reset_parameters(self) -> None:
        with torch.no_grad():
            for table in (self.unigrams, self.bigrams):
                table.weight.normal_(0.0, self.init_std)
                table.weight[0].zero_()

    def forward(self, token_ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """``token_ids`` (B, T) long (0 at padding), ``mask`` (B, T) bool -> (B, dim).

        A position whose id is 0 inside the mask (a token blanked by word dropout) counts as absent.
        """
        mask = mask & (token_ids != 0)  # (B, T) real, not blanked
        uni = self.unigrams(token_ids * mask)  # (B, T, dim), zero at padding
        pair = mask[:, 1:] & mask[:, :-1]  # (B, T - 1) both tokens real
        hashed = (token_ids[:, :-1] * 1_000_003 + token_ids[:, 1:]) % (self.n_tokens - 1) + 1  # (B, T - 1)
        bi = self.bigrams(hashed * pair)  # (B, T - 1, dim), zero where not a real pair
        count = (mask.sum(dim=1) + pair.sum(dim=1)).clamp(min=1).unsqueeze(-1).to(uni.dtype)  # (B, 1)
        return (uni.sum(dim=1) + bi.sum(dim=1)) / count
