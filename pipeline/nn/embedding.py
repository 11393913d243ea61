"""Token embeddings: a static vector table (ja_ginza's) next to a small trainable table."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from pipeline.nn.folded_lstm import FoldedLookups, tensors_key


class StaticPlusTrainableEmbedding(nn.Module):
    """Concatenates a token's static vector and a trainable embedding: (B, T) -> (B, T, dim + trainable_dim).

    Inputs follow :class:`pipeline.models.features.FeatureBatch`: ``vector_rows`` indexes ``vectors`` with
    ``-1`` for no vector (and padding), ``token_ids`` indexes the trainable table with ``0`` for padding.

    * The static part is ``vectors[row]``, zero where ``row == -1``.
    * The trainable part is ``embedding[token_id]`` (the padding row stays zero) plus a learned
      ``no_vector`` vector at real tokens that have no static vector, so the network can tell them apart.
    * Padding positions (row -1, id 0) therefore come out as all zeros (before dropout, which keeps zeros).

    With ``freeze_vectors`` the table is a non-persistent buffer: it gets no gradient and is left out of
    ``state_dict()`` (the pipeline reloads it from ja_ginza; pass it again when rebuilding the module).
    Otherwise it is a Parameter (a copy of ``vectors``), fine-tuned and saved.
    """

    def __init__(
        self,
        vectors: torch.Tensor,
        n_tokens: int,
        trainable_dim: int = 32,
        freeze_vectors: bool = True,
        dropout: float = 0.0,
        init_std: float = 0.1,
    ):
        super().__init__()
        if vectors.dim() != 2:
            raise ValueError(f"vectors must be (rows, dim), not {tuple(vectors.shape)}")
        if n_tokens < 2:
            raise ValueError(f"n_tokens must count padding and unknown (>= 2), not {n_tokens}")
        if trainable_dim < 0:
            raise ValueError(f"trainable_dim must be >= 0, not {trainable_dim}")
        self.n_vectors, self.vector_dim = vectors.shape
        self.trainable_dim = trainable_dim
        self.freeze_vectors = freeze_vectors
        vectors = vectors.detach().float()  # (rows, dim)
        if freeze_vectors:
            self.register_buffer("vectors", vectors, persistent=False)
        else:
            self.vectors = nn.Parameter(vectors.clone())
        self.tokens = nn.Embedding(n_tokens, trainable_dim, padding_idx=0)  # (n_tokens, trainable_dim)
        self.no_vector = nn.Parameter(torch.zeros(trainable_dim))  # (trainable_dim,)
        self.dropout = nn.Dropout(dropout)
        self.init_std = init_std
        self._folded = FoldedLookups()  # the tables times an LSTM's input weight, for project()
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Draw the trainable embedding afresh (N(0, init_std), padding row zero), zero the no-vector flag."""
        with torch.no_grad():
            self.tokens.weight.normal_(0.0, self.init_std)
            self.tokens.weight[0].zero_()
            self.no_vector.zero_()

    def set_vectors(self, vectors: torch.Tensor) -> None:
        """Use ``vectors`` (rows, dim) as the static table: a buffer when frozen, else a Parameter (a copy).
        The width must stay ``vector_dim``; a fine-tuned table loaded afterwards replaces this one."""
        if vectors.dim() != 2 or vectors.shape[1] != self.vector_dim:
            raise ValueError(f"vectors must be (rows, {self.vector_dim}), not {tuple(vectors.shape)}")
        self.n_vectors = vectors.shape[0]
        vectors = vectors.detach().float()  # (rows, dim)
        if self.freeze_vectors:
            self.vectors = vectors  # the registered (non-persistent) buffer
        else:
            self.vectors = nn.Parameter(vectors.clone())

    def _load_from_state_dict(self, *args, **kwargs) -> None:
        self._folded.clear()  # new weights: the folded tables are stale
        super()._load_from_state_dict(*args, **kwargs)

    @property
    def output_dim(self) -> int:
        """The size of the last output dimension: ``dim + trainable_dim``."""
        return self.vector_dim + self.trainable_dim

    def forward(self, vector_rows: torch.Tensor, token_ids: torch.Tensor) -> torch.Tensor:
        """``vector_rows`` (B, T) long, ``token_ids`` (B, T) long -> (B, T, dim + trainable_dim) float."""
        if vector_rows.shape != token_ids.shape:
            raise ValueError(f"vector_rows {tuple(vector_rows.shape)} and token_ids {tuple(token_ids.shape)} differ")
        has_vector = vector_rows >= 0  # (B, T) bool
        static = F.embedding(vector_rows.clamp(min=0), self.vectors)  # (B, T, dim)
        static = static * has_vector.unsqueeze(-1).to(static.dtype)
        missing = (~has_vector & (token_ids != 0)).unsqueeze(-1)  # (B, T, 1) real tokens without a vector
        trainable = self.tokens(token_ids) + missing.to(static.dtype) * self.no_vector  # (B, T, trainable_dim)
        return self.dropout(torch.cat([static, trainable], dim=-1))  # (B, T, dim + trainable_dim)

    def project(self, vector_rows: torch.Tensor, token_ids: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor,
                weight_key: tuple, extra: tuple = ()) -> torch.Tensor:
        """``[forward(vector_rows, token_ids); E_1[ids_1]; ...] @ weight.T + bias`` without dropout, for inference:
        an LSTM's input gates (*S, G) for index tensors of any shape S (pass (T, B) ones for time-major gates),
        ``weight`` (G, dim + trainable_dim + the extras' widths), ``extra`` pairs ``(table (R, D), ids (*S))`` of
        more embeddings concatenated after this one's output (e.g. POS).

        Every part is a table row, so each table is multiplied by its block of ``weight`` once and kept
        (:class:`pipeline.nn.folded_lstm.FoldedLookups`; ``weight_key``, the
        :func:`~pipeline.nn.folded_lstm.tensors_key` of the parameters ``weight`` and ``bias`` come from, says
        when that is stale): per token only rows are looked up and summed, no 300-wide product is taken.
        Values at padding positions are not zeros (an LSTM's outputs there are masked anyway)."""
        has_vector = vector_rows >= 0  # (*S) bool
        missing = (~has_vector & (token_ids != 0)).long()  # (*S) 1 at real tokens without a vector
        static_rows = torch.where(has_vector, vector_rows, self.vectors.shape[0])  # the zero row when none
        tables, ids = [table for table, _ in extra], [index for _, index in extra]
        dim, width = self.vector_dim, self.output_dim

        def build():
            # the trainable block first (it takes the bias), no_vector as a one-row table into the same columns
            # (row 0; its zero row, 1, where the token has a vector), the static vectors, then the extras
            return [self.tokens.weight, self.no_vector.unsqueeze(0), self.vectors, *tables]

        full = torch.cat([weight[:, dim:width], weight[:, dim:width], weight[:, :dim], weight[:, width:]], dim=1)
        key = (*tensors_key(self.vectors, self.tokens.weight, self.no_vector, *tables), *weight_key)
        return self._folded(build, [token_ids, 1 - missing, static_rows, *ids], full, bias, key)
