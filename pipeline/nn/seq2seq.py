"""An attentional BiLSTM → LSTM encoder-decoder with an optional copy (pointer-generator) mechanism.

Vocabulary conventions (one vocabulary shared by source and target, ``vocab_size`` = V ids):

* ``pad_id`` (default 0) pads both sides; ``unk_id`` (1), ``bos_id`` (2) and ``eos_id`` (3) are the
  unknown, start and end ids (the defaults match :class:`pipeline.models.vocabulary.Vocabulary`).
* Extended vocabulary (copy): ``src_ids`` holds in-vocabulary ids, OOV source words as ``unk_id``.
  ``src_ext_ids`` is the same sequence where the k-th distinct OOV word of the *batch* gets the id
  ``V + k`` (0 <= k < ``n_oov``), every other position keeps its ``src_ids`` id. Output distributions
  are then over ``V + n_oov`` ids, and gold targets use the same numbering (an OOV target word present
  in the batch's sources gets its ``V + k`` id, any other OOV word ``unk_id``). Decoder *inputs* may
  hold extended ids: ids >= V are read as ``unk_id``. Without ``src_ext_ids`` there are no OOVs
  (``src_ext_ids = src_ids``, ``n_oov = 0``). Without copy the distributions are over V ids only.
* An empty source (length 0) is encoded as zeros: the attention weights are all zero, the context is
  zero, the copy switch p_gen is forced to 1, and the decoder starts from the projection of a zero state.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from pipeline.nn.attention import ATTENTIONS, make_attention
from pipeline.nn.encoders import RecurrentEncoder

LSTMState = tuple[torch.Tensor, torch.Tensor]  # (h, c), each (layers, B, H)


@dataclass
class EncoderMemory:
    """What the decoder reads from the encoder: states (B, S, 2H), mask (B, S), ext_ids (B, S), n_oov."""

    states: torch.Tensor  # (B, S, 2H); positions outside the mask are never attended to
    mask: torch.Tensor  # (B, S) bool, True at real source tokens
    ext_ids: torch.Tensor  # (B, S) long, source ids in the extended vocabulary
    n_oov: int

    def expand(self, batch: int) -> EncoderMemory:
        """The memory of a single source (B = 1) repeated ``batch`` times (a view, no copy)."""
        if self.states.size(0) == batch:
            return self
        if self.states.size(0) != 1:
            raise ValueError(f"cannot expand a memory of {self.states.size(0)} sources to {batch}")
        return EncoderMemory(
            self.states.expand(batch, -1, -1),  # (batch, S, 2H)
            self.mask.expand(batch, -1),  # (batch, S)
            self.ext_ids.expand(batch, -1),  # (batch, S)
            self.n_oov,
        )


def masked_nll(log_probs: torch.Tensor, targets: torch.Tensor, pad_id: int = 0, unk_id: int = 1) -> torch.Tensor:
    """Mean negative log-likelihood over the real target tokens: ``log_probs`` (B, T, V'), ``targets`` (B, T).

    Positions where ``targets == pad_id`` are left out; target ids >= V' (OOV words a model cannot
    produce, e.g. without copy) are scored as ``unk_id``.
    """
    targets = targets.masked_fill(targets >= log_probs.size(-1), unk_id)  # (B, T)
    mask = targets != pad_id  # (B, T)
    picked = log_probs.gather(-1, targets.unsqueeze(-1)).squeeze(-1)  # (B, T)
    return -(picked * mask).sum() / mask.sum().clamp(min=1)


class Seq2Seq(nn.Module):
    """Token ids in, next-token log-probabilities out: BiLSTM encoder, attentional LSTM decoder, copy.

    * The encoder is a bidirectional :class:`RecurrentEncoder` (LSTM) over the source embeddings; the
      decoder's initial (h, c) are ``tanh`` projections of its final state.
    * ``attention`` is ``"additive"``, ``"multiplicative"`` or ``"none"`` (the baseline where the
      decoder sees the source only through its initial state).
    * With attention the output layer is Luong's: h̃_t = tanh(W_c [c_t; h_t]), p_vocab = softmax(W_s h̃_t).
    * With ``copy`` (needs attention), See et al. (2017): p_gen = σ(w·[c_t; h_t; x_t] + b) and
      P(w) = p_gen · p_vocab(w) + (1 - p_gen) · Σ_{s: src_s = w} a_t,s over the extended vocabulary.

    The source and target embeddings are two ``nn.Embedding(vocab_size, embed_dim)``; ``pretrained``
    (vocab_size, embed_dim) initialises both (``embed_dim`` is then taken from it), ``freeze_embeddings``
    keeps them fixed. See the module docstring for the special ids and the extended vocabulary.
    """

    def __init__(
        self,
        vocab_size: int,
        embed_dim: int = 64,
        hidden_size: int = 128,
        layers: int = 1,
        attention: str = "additive",
        copy: bool = True,
        attention_dim: int = 64,
        dropout: float = 0.0,
        pretrained: torch.Tensor | None = None,
        freeze_embeddings: bool = False,
        pad_id: int = 0,
        unk_id: int = 1,
        bos_id: int = 2,
        eos_id: int = 3,
    ):
        super().__init__()
        if attention not in (*ATTENTIONS, "none"):
            raise ValueError(f"unknown attention {attention!r}; expected one of {[*ATTENTIONS, 'none']}")
        if copy and attention == "none":
            raise ValueError("copy needs attention (the copy distribution is the attention)")
        specials = {"pad_id": pad_id, "unk_id": unk_id, "bos_id": bos_id, "eos_id": eos_id}
        if any(not 0 <= i < vocab_size for i in specials.values()) or len(set(specials.values())) < 4:
            raise ValueError(f"special ids {specials} must be distinct ids below vocab_size={vocab_size}")
        if pretrained is not None:
            if pretrained.dim() != 2 or pretrained.size(0) != vocab_size:
                raise ValueError(f"pretrained must be (vocab_size={vocab_size}, dim), not {tuple(pretrained.shape)}")
            embed_dim = pretrained.size(1)
        self.vocab_size, self.layers, self.hidden_size = vocab_size, layers, hidden_size
        self.attention_kind, self.copy = attention, copy
        self.pad_id, self.unk_id, self.bos_id, self.eos_id = pad_id, unk_id, bos_id, eos_id

        self.src_embed = nn.Embedding(vocab_size, embed_dim, padding_idx=pad_id)  # (V, E)
        self.tgt_embed = nn.Embedding(vocab_size, embed_dim, padding_idx=pad_id)  # (V, E)
        if pretrained is not None:
            with torch.no_grad():
                for table in (self.src_embed, self.tgt_embed):
                    table.weight.copy_(pretrained)
                    table.weight[pad_id].zero_()
        for table in (self.src_embed, self.tgt_embed):
            table.weight.requires_grad_(not freeze_embeddings)
        self.encoder = RecurrentEncoder(embed_dim, hidden_size, cell="lstm", layers=layers, dropout=dropout)
        enc_dim = self.encoder.output_dim  # 2H
        self.init_h = nn.Linear(enc_dim, layers * hidden_size)
        self.init_c = nn.Linear(enc_dim, layers * hidden_size)
        self.decoder = nn.LSTM(
            embed_dim, hidden_size, num_layers=layers, batch_first=True, dropout=dropout if layers > 1 else 0.0
        )
        if attention == "none":
            self.attention = None
        else:
            self.attention = make_attention(attention, hidden_size, enc_dim, attention_dim)
            self.combine = nn.Linear(enc_dim + hidden_size, hidden_size, bias=False)  # W_c
        self.out = nn.Linear(hidden_size, vocab_size)  # W_s
        self.p_gen = nn.Linear(enc_dim + hidden_size + embed_dim, 1) if copy else None
        self.dropout = nn.Dropout(dropout)

    def encode(
        self,
        src_ids: torch.Tensor,
        src_lengths: torch.Tensor,
        src_ext_ids: torch.Tensor | None = None,
        n_oov: int = 0,
    ) -> tuple[EncoderMemory, LSTMState]:
        """``src_ids`` (B, S), ``src_lengths`` (B,) -> the memory and the decoder's initial (h, c) (layers, B, H)."""
        if src_ext_ids is None:
            src_ext_ids, n_oov = src_ids, 0
        if src_ext_ids.shape != src_ids.shape:
            raise ValueError(f"src_ext_ids {tuple(src_ext_ids.shape)} and src_ids {tuple(src_ids.shape)} differ")
        batch, steps = src_ids.shape
        mask = torch.arange(steps, device=src_ids.device) < src_lengths.to(src_ids.device).unsqueeze(1)  # (B, S)
        padded = src_ids if steps else src_ids.new_full((batch, 1), self.pad_id)  # (B, max(S, 1)): packing needs a step
        x = self.dropout(self.src_embed(padded))  # (B, max(S, 1), E)
        states, final = self.encoder(x, src_lengths)  # (B, max(S, 1), 2H), (B, 2H)
        h = torch.tanh(self.init_h(final)).view(batch, self.layers, self.hidden_size)  # (B, layers, H)
        c = torch.tanh(self.init_c(final)).view(batch, self.layers, self.hidden_size)  # (B, layers, H)
        state = (h.transpose(0, 1).contiguous(), c.transpose(0, 1).contiguous())  # (layers, B, H) each
        return EncoderMemory(states[:, :steps], mask, src_ext_ids, n_oov), state

    def decode(
        self, tgt_in: torch.Tensor, state: LSTMState, memory: EncoderMemory
    ) -> tuple[torch.Tensor, LSTMState, torch.Tensor | None]:
        """Decoder inputs ``tgt_in`` (B, T) -> log-probs (B, T, V_ext), the new (h, c), attention (B, T, S) or None.

        ``V_ext`` is ``V + n_oov`` with copy, ``V`` without. Ids >= V in ``tgt_in`` are read as ``unk_id``.
        """
        ids = tgt_in.masked_fill(tgt_in >= self.vocab_size, self.unk_id)  # (B, T)
        x = self.dropout(self.tgt_embed(ids))  # (B, T, E)
        h, state = self.decoder(x, state)  # (B, T, H)
        if self.attention is None:
            logits = self.out(self.dropout(h))  # (B, T, V)
            return F.log_softmax(logits, dim=-1), state, None
        context, weights = self.attention(h, memory.states, memory.mask)  # (B, T, 2H), (B, T, S)
        h_tilde = torch.tanh(self.combine(torch.cat([context, h], dim=-1)))  # (B, T, H)
        logits = self.out(self.dropout(h_tilde))  # (B, T, V)
        if self.p_gen is None:
            return F.log_softmax(logits, dim=-1), state, weights
        p_gen = torch.sigmoid(self.p_gen(torch.cat([context, h, x], dim=-1)))  # (B, T, 1)
        has_source = memory.mask.any(dim=1).view(-1, 1, 1)  # (B, 1, 1)
        p_gen = torch.where(has_source, p_gen, torch.ones_like(p_gen))  # (B, T, 1): nothing to copy -> generate
        p_vocab = p_gen * torch.softmax(logits, dim=-1)  # (B, T, V)
        probs = F.pad(p_vocab, (0, memory.n_oov))  # (B, T, V + n_oov)
        index = memory.ext_ids.unsqueeze(1).expand(-1, ids.size(1), -1)  # (B, T, S)
        probs = probs.scatter_add(-1, index, (1 - p_gen) * weights)  # (B, T, V + n_oov)
        return torch.log(probs.clamp_min(torch.finfo(probs.dtype).tiny)), state, weights

    def decode_step(
        self, prev_ids: torch.Tensor, state: LSTMState, memory: EncoderMemory
    ) -> tuple[torch.Tensor, LSTMState, torch.Tensor | None]:
        """One decoder step: ``prev_ids`` (B,) -> log-probs (B, V_ext), the new (h, c), attention (B, S) or None."""
        log_probs, state, weights = self.decode(prev_ids.unsqueeze(1), state, memory)  # (B, 1, V_ext), (B, 1, S)
        return log_probs.squeeze(1), state, None if weights is None else weights.squeeze(1)

    def forward(
        self,
        src_ids: torch.Tensor,
        src_lengths: torch.Tensor,
        tgt_in: torch.Tensor,
        src_ext_ids: torch.Tensor | None = None,
        n_oov: int = 0,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Teacher forcing: ``src_ids`` (B, S), ``src_lengths`` (B,), ``tgt_in`` (B, T) (BOS first)
        -> log-probs (B, T, V_ext), attention (B, T, S) (None without attention)."""
        memory, state = self.encode(src_ids, src_lengths, src_ext_ids, n_oov)
        log_probs, _, weights = self.decode(tgt_in, state, memory)
        return log_probs, weights

    def loss(
        self,
        src_ids: torch.Tensor,
        src_lengths: torch.Tensor,
        tgt_in: torch.Tensor,
        tgt_out: torch.Tensor,
        src_ext_ids: torch.Tensor | None = None,
        n_oov: int = 0,
    ) -> torch.Tensor:
        """Mean NLL of ``tgt_out`` (B, T) (``tgt_in`` shifted left, EOS last, ``pad_id`` after) over real tokens."""
        log_probs, _ = self(src_ids, src_lengths, tgt_in, src_ext_ids, n_oov)  # (B, T, V_ext)
        return masked_nll(log_probs, tgt_out, self.pad_id, self.unk_id)
