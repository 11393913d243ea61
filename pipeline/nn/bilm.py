"""A bidirectional LSTM language model in the manner of ELMo: a forward and a backward LSTM LM over one
shared input embedding (static vectors + a trainable table) and one shared adaptive softmax.

Each direction is trained as a language model on a token stream (the backward one on the stream
reversed), with truncated backpropagation through time. Afterwards :meth:`BidirectionalLM.layers`
gives, for padded sentences, the representations ELMo mixes: the embedding and each LSTM layer's
states of both directions.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from pipeline.nn.embedding import StaticPlusTrainableEmbedding
from pipeline.nn.language_model import LSTMState

DIRECTIONS = ("forward", "backward")


class BidirectionalLM(nn.Module):
    """Two LSTM language models, one per direction, sharing their input embedding and output softmax.

    * ``vectors`` (rows, dim): the static table (frozen, not saved: pass it again when rebuilding);
      inputs are ``vector_rows`` (B, T) with -1 for no vector and ``token_ids`` (B, T) with 0 for padding.
    * The output layer is :class:`torch.nn.AdaptiveLogSoftmaxWithLoss` over ``vocab_size`` ids sorted
      by frequency (id 0 = padding, never a target); ``cutoffs`` split it into a head and tail clusters.
    """

    def __init__(
        self,
        vectors: torch.Tensor,
        vocab_size: int,
        trainable_dim: int = 64,
        hidden_size: int = 256,
        layers: int = 1,
        dropout: float = 0.1,
        cutoffs: Sequence[int] = (2000, 10000),
    ):
        super().__init__()
        cutoffs = [c for c in cutoffs if 0 < c < vocab_size - 1] or [max(1, vocab_size // 2)]  # a small vocabulary: one tail
        self.vocab_size, self.hidden_size, self.n_layers = vocab_size, hidden_size, layers
        self.embed = StaticPlusTrainableEmbedding(vectors, vocab_size, trainable_dim, freeze_vectors=True)
        self.dropout = nn.Dropout(dropout)
        self.rnns = nn.ModuleDict({  # one single-layer LSTM per layer, so that every layer's states are reachable
            f"{direction}_lstm": nn.ModuleList(
                nn.LSTM(self.embed.output_dim if i == 0 else hidden_size, hidden_size, batch_first=True)
                for i in range(layers)
            )
            for direction in DIRECTIONS  # keys 'forward' / 'backward' would clash with Module attributes
        })
        self.softmax = nn.AdaptiveLogSoftmaxWithLoss(hidden_size, vocab_size, cutoffs=cutoffs, div_value=4.0)

    def _stack(self, direction: str) -> nn.ModuleList:
        if direction not in DIRECTIONS:
            raise ValueError(f"direction must be one of {DIRECTIONS}, not {direction!r}")
        return self.rnns[f"{direction}_lstm"]

    def hidden(
        self, direction: str, vector_rows: torch.Tensor, token_ids: torch.Tensor, state: list[LSTMState] | None = None
    ) -> tuple[torch.Tensor, list[LSTMState]]:
        """The top LSTM layer's states (B, T, H) of one direction, and the per-layer states to carry on."""
        outputs = self.dropout(self.embed(vector_rows, token_ids))  # (B, T, E)
        carried = []
        for index, rnn in enumerate(self._stack(direction)):
            outputs, layer_state = rnn(outputs, None if state is None else state[index])  # (B, T, H)
            outputs = self.dropout(outputs)
            carried.append(layer_state)
        return outputs, carried

    def loss(
        self,
        direction: str,
        vector_rows: torch.Tensor,
        token_ids: torch.Tensor,
        targets: torch.Tensor,
        state: list[LSTMState] | None = None,
    ) -> tuple[torch.Tensor, int, list[LSTMState]]:
        """(summed NLL of the non-padding ``targets`` (B, T), their count, the state to carry on)."""
        outputs, state = self.hidden(direction, vector_rows, token_ids, state)  # (B, T, H)
        keep = targets.reshape(-1) != 0  # (B*T,)
        flat = outputs.reshape(-1, outputs.size(-1))[keep]  # (N, H)
        if flat.numel() == 0:
            return outputs.sum() * 0.0, 0, state
        result = self.softmax(flat, targets.reshape(-1)[keep])
        count = int(keep.sum())
        return result.loss * count, count, state

    def next_log_probs(
        self, vector_rows: torch.Tensor, token_ids: torch.Tensor, state: list[LSTMState] | None = None
    ) -> tuple[torch.Tensor, list[LSTMState]]:
        """The forward LM's log-probabilities of the next id after each step: (B, T) -> (B, T, V), and the
        per-layer states to carry on (what decoding and scoring a continuation need)."""
        outputs, state = self.hidden("forward", vector_rows, token_ids, state)  # (B, T, H)
        log_probs = self.softmax.log_prob(outputs.reshape(-1, outputs.size(-1)))  # (B*T, V)
        return log_probs.view(outputs.size(0), outputs.size(1), -1), state

    def layers(self, vector_rows: torch.Tensor, token_ids: torch.Tensor, lengths: torch.Tensor) -> list[torch.Tensor]:
        """ELMo's layers for B padded sentences: ``[embedding (B, T, E), layer 1 (B, T, 2H), ...]``, where each
        LSTM layer concatenates the forward states and the backward states (each direction reads the
        sentence its own way, padding excluded via packing)."""
        embedded = self.embed(vector_rows, token_ids)  # (B, T, E)
        found = [embedded]
        per_direction = {}
        for direction in DIRECTIONS:
            inputs = embedded if direction == "forward" else _reverse_padded(embedded, lengths)
            states = []
            for rnn in self._stack(direction):
                packed = nn.utils.rnn.pack_padded_sequence(inputs, lengths.cpu(), batch_first=True, enforce_sorted=False)
                out, _ = rnn(packed)
                inputs, _ = nn.utils.rnn.pad_packed_sequence(out, batch_first=True, total_length=embedded.size(1))
                states.append(inputs if direction == "forward" else _reverse_padded(inputs, lengths))  # (B, T, H)
            per_direction[direction] = states
        found += [torch.cat([f, b], dim=-1) for f, b in zip(per_direction["forward"], per_direction["backward"])]
        return found


def _reverse_padded(x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Each row's first ``lengths[i]`` steps reversed, padding left in place: (B, T, D) -> (B, T, D)."""
    steps = torch.arange(x.size(1), device=x.device).unsqueeze(0)  # (1, T)
    index = (lengths.unsqueeze(1) - 1 - steps).clamp(min=0)  # (B, T)
    index = torch.where(steps < lengths.unsqueeze(1), index, steps)
    return x.gather(1, index.unsqueeze(-1).expand_as(x))

