"""What a network needs to read a pretrained bidirectional LM (:class:`pipeline.nn.bilm.BidirectionalLM`) as
ELMo does, shared by the sentence classifier (``knbc.RNNClassifier.v2``) and the span tagger
(``knbc.BiLSTMCRFTagger.v2``).

The LM reads its own vocabulary: token ids come from the tokens' spaCy ORTH hashes (``orth`` (B, T), int64
views of the uint64 hashes, 0 at padding) looked up in two saved buffers (the sorted hashes of its
vocabulary and their ids), so the network's ``state_dict`` alone carries everything it needs. As features
(ELMo) the LM is frozen and kept in eval mode; its layers (embedding, each LSTM layer's states of both
directions, zero-padded to the widest) are mixed by a learned :class:`ScalarMix`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from pipeline.nn.bilm import BidirectionalLM
from pipeline.nn.scalar_mix import ScalarMix

UNK_ID = 1  # the LM vocabulary's <unk> (ids 0-3: <pad>, <unk>, <s>, </s>)


class BiLMReader:
    """A mixin for an :class:`torch.nn.Module` that holds a pretrained LM as ``self.bilm`` (None until
    :meth:`_put_bilm`; a shell network being loaded gets it then) and, as features, ``self.mix``.

    Call :meth:`_init_bilm_slots` in ``__init__`` (it registers the vocabulary buffers)."""

    def _init_bilm_slots(self, vectors: torch.Tensor) -> None:
        self.bilm, self.mix, self.mix_width = None, None, 0
        self._vectors = vectors  # (rows, dim) for an LM attached later (not saved)
        self.register_buffer("vocab_hashes", torch.zeros(0, dtype=torch.long))  # (V,) sorted below
        self.register_buffer("vocab_order", torch.zeros(0, dtype=torch.long))  # (V,) id of each sorted hash

    @property
    def bilm_width(self) -> int:
        """The width of each LSTM layer of the LM, both directions: 2H."""
        return 2 * self.bilm.hidden_size

    def _put_bilm(self, bilm: BidirectionalLM, vocab_hashes: torch.Tensor) -> None:
        """Put the LM (without its softmax) and its vocabulary's hashes (V,) in."""
        if vocab_hashes is None or vocab_hashes.shape != (bilm.vocab_size,):
            raise ValueError(f"vocab_hashes must be ({bilm.vocab_size},), not {None if vocab_hashes is None else tuple(vocab_hashes.shape)}")
        self.bilm = bilm
        self.bilm.softmax = None
        self.bilm.embed.set_vectors(self._vectors)
        order = torch.argsort(vocab_hashes)
        self.vocab_hashes, self.vocab_order = vocab_hashes[order].clone(), order

    def _freeze_bilm(self, layer_norm: bool) -> None:
        """ELMo's way: no gradient into the LM, and a scalar mix of its layers (``self.mix_width`` wide)."""
        self.bilm.requires_grad_(False)
        self.mix = ScalarMix(1 + self.bilm.n_layers, layer_norm=layer_norm)
        self.mix_width = max(self.bilm.embed.output_dim, self.bilm_width)  # the layers zero-padded to one width

    def _keep_frozen_bilm_in_eval(self) -> None:
        """For ``train()``: frozen features, no dropout inside the LM."""
        if self.mix is not None and self.bilm is not None:
            self.bilm.eval()

    def set_vectors(self, vectors: torch.Tensor) -> None:
        """Use ``vectors`` (rows, dim) as the static table of every embedding (own and the LM's)."""
        if getattr(self, "embed", None) is not None:
            self.embed.set_vectors(vectors)
        if self.bilm is not None:
            self.bilm.embed.set_vectors(vectors)
        self._vectors = vectors  # for an LM attached later

    def bilm_ids(self, orth: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """``orth`` (B, T) int64 hashes, ``mask`` (B, T) -> the LM's ids (B, T): <unk> for unknown tokens, 0 at padding."""
        index = torch.searchsorted(self.vocab_hashes, orth).clamp(max=self.vocab_hashes.numel() - 1)  # (B, T)
        found = self.vocab_hashes[index] == orth
        ids = torch.where(found, self.vocab_order[index], torch.full_like(orth, UNK_ID))
        return ids.masked_fill(~mask, 0)

    def bilm_features(self, vector_rows: torch.Tensor, orth: torch.Tensor, lengths: torch.Tensor,
                      mask: torch.Tensor) -> torch.Tensor:
        """The frozen LM's layers mixed: (B, T) x2, (B,), (B, T) -> (B, T, ``mix_width``), zero at padding."""
        with torch.no_grad():
            layers = self.bilm.layers(vector_rows, self.bilm_ids(orth, mask), lengths.clamp(min=1))
        layers = [F.pad(layer, (0, self.mix_width - layer.size(-1))) for layer in layers]  # (B, T, W) each
        return self.mix(layers, mask)
