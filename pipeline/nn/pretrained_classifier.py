"""A sentence classifier's encoder over a pretrained bidirectional LM (:class:`pipeline.nn.bilm.BidirectionalLM`),
the network of ``knbc.RNNClassifier.v2``. Three ways to use the LM (``encoder``):

* ``None``: no LM; the network is v1's (static + hashed trainable embedding -> recurrent encoder -> pooling);
* ``"features"`` (ELMo): the LM is frozen; its layers (embedding, each LSTM layer's states of both
  directions; zero-padded to the widest, as ELMo widens its token layer to the LSTMs') are mixed by a learned :class:`ScalarMix` and concatenated with the embedding above,
  under the same recurrent encoder and pooling;
* ``"finetune"`` (ULMFiT): the LM's own embedding and LSTMs are the encoder (fine-tuned), then the pooling;
  :meth:`layer_groups` gives the groups for discriminative learning rates and gradual unfreezing.

The LM reads its own vocabulary, looked up by the tokens' ORTH hashes (:class:`pipeline.nn.bilm_features.BiLMReader`),
so the network's ``state_dict`` alone carries everything it needs.
"""

from __future__ import annotations

import torch
from torch import nn

from pipeline.nn.bilm import BidirectionalLM
from pipeline.nn.bilm_features import BiLMReader
from pipeline.nn.embedding import StaticPlusTrainableEmbedding
from pipeline.nn.encoders import Pooling, RecurrentEncoder

ENCODERS = (None, "features", "finetune")


def bilm_encoder(vector_dim: int, vocab_size: int, trainable_dim: int, hidden_size: int, layers: int) -> BidirectionalLM:
    """A :class:`BidirectionalLM` without its output softmax (a classifier needs its layers only), with
    an empty static table of width ``vector_dim`` (set the pipeline's with ``set_vectors``)."""
    bilm = BidirectionalLM(torch.zeros(0, vector_dim), vocab_size, trainable_dim, hidden_size, layers, dropout=0.0)
    bilm.softmax = None  # left out of the state_dict
    return bilm


class PretrainedEncoderClassifier(BiLMReader, nn.Module):
    """Token indices in, one vector per text out: (B, T) -> (B, ``output_dim``); see the module docstring.

    ``bilm`` is the LM without its softmax (:func:`bilm_encoder`), ``vocab_hashes`` (V,) the int64 ORTH
    hashes of its ids 0..V-1 (specials may be anything that matches no token). With ``bilm=None`` and an
    encoder, the network is a shell that :meth:`attach_bilm` completes (a saved model being loaded).
    """

    def __init__(
        self,
        vectors: torch.Tensor,
        n_tokens: int,
        encoder: str | None = None,
        bilm: BidirectionalLM | None = None,
        vocab_hashes: torch.Tensor | None = None,
        trainable_dim: int = 64,
        freeze_vectors: bool = True,
        hidden_size: int = 64,
        cell: str = "lstm",
        layers: int = 1,
        bidirectional: bool = True,
        pooling: str = "attention",
        dropout: float = 0.3,
        mix_layer_norm: bool = False,
    ):
        super().__init__()
        if encoder not in ENCODERS:
            raise ValueError(f"encoder must be one of {ENCODERS}, not {encoder!r}")
        self.encoder_kind, self.vector_dim = encoder, vectors.shape[1]
        self._options = dict(hidden_size=hidden_size, cell=cell, layers=layers, bidirectional=bidirectional,
                             pooling=pooling, dropout=dropout, mix_layer_norm=mix_layer_norm)
        self.dropout = nn.Dropout(dropout)
        self.embed = None
        if encoder != "finetune":
            self.embed = StaticPlusTrainableEmbedding(vectors, n_tokens, trainable_dim=trainable_dim,
                                                      freeze_vectors=freeze_vectors, dropout=dropout)
        self.encoder, self.pool = None, None
        self._init_bilm_slots(vectors)
        if encoder is None:
            self._build_head(self.embed.output_dim)
        elif bilm is not None:
            self.attach_bilm(bilm, vocab_hashes)
        self.last_attention: torch.Tensor | None = None

    def attach_bilm(self, bilm: BidirectionalLM, vocab_hashes: torch.Tensor) -> None:
        """Put the LM (and its vocabulary's hashes (V,)) in, and build what sits over it."""
        self._put_bilm(bilm, vocab_hashes)
        o = self._options
        if self.encoder_kind == "features":
            self._freeze_bilm(o["mix_layer_norm"])  # frozen: no gradient, no update
            self._build_head(self.embed.output_dim + self.mix_width)
        else:
            self.pool = Pooling(o["pooling"], self.bilm_width)
            self.output_dim = self.pool.output_dim

    def _build_head(self, input_dim: int) -> None:
        o = self._options
        self.encoder = RecurrentEncoder(input_dim, o["hidden_size"], cell=o["cell"], layers=o["layers"],
                                        bidirectional=o["bidirectional"], dropout=o["dropout"])
        self.pool = Pooling(o["pooling"], self.encoder.output_dim)
        self.output_dim = self.pool.output_dim

    def reset_parameters(self) -> None:
        """Draw the classifier's own weights afresh (the LM's pretrained weights are kept)."""
        if self.embed is not None:
            self.embed.reset_parameters()
        if self.mix is not None:
            self.mix.reset_parameters()
        for name, module in self.named_modules():
            if not name.startswith("bilm") and isinstance(module, (nn.RNNBase, nn.Linear)):
                module.reset_parameters()

    def train(self, mode: bool = True) -> PretrainedEncoderClassifier:
        super().train(mode)
        self._keep_frozen_bilm_in_eval()
        return self

    def layer_groups(self) -> list[list[nn.Parameter]]:
        """ULMFiT's layer groups, lowest first: the LM's embedding, each LSTM layer (both directions), then
        everything else (pooling, mix, own layers) as the top group."""
        if self.bilm is None:
            return [list(self.parameters())]
        groups = [list(self.bilm.embed.parameters())]
        for i in range(self.bilm.n_layers):
            groups.append([p for stack in self.bilm.rnns.values() for p in stack[i].parameters()])
        in_lm = {id(p) for group in groups for p in group}
        groups.append([p for p in self.parameters() if id(p) not in in_lm])
        return groups

    def forward(
        self, vector_rows: torch.Tensor, token_ids: torch.Tensor, lengths: torch.Tensor, mask: torch.Tensor,
        orth: torch.Tensor,
    ) -> torch.Tensor:
        """``vector_rows``, ``token_ids``, ``orth`` (B, T) long, ``lengths`` (B,), ``mask`` (B, T) -> (B, output_dim)."""
        if self.encoder_kind is not None and self.bilm is None:
            raise RuntimeError("the pretrained LM was never attached (build from its folder, or load saved weights)")
        if self.encoder_kind == "finetune":
            return self._finetune_forward(vector_rows, orth, lengths, mask)
        x = self.embed(vector_rows, token_ids)  # (B, T, D)
        if self.encoder_kind == "features":
            x = torch.cat([x, self.dropout(self.bilm_features(vector_rows, orth, lengths, mask))], dim=-1)  # (B, T, D + W)
        states, final = self.encoder(x, lengths)  # (B, T, H), (B, H)
        return self._pool(states, final, mask)

    def _finetune_forward(self, vector_rows, orth, lengths, mask) -> torch.Tensor:
        top = self.bilm.layers(vector_rows, self.bilm_ids(orth, mask), lengths.clamp(min=1))[-1]  # (B, T, 2H)
        top = top * mask.unsqueeze(-1).to(top.dtype)
        H = self.bilm.hidden_size
        last = (lengths.clamp(min=1) - 1).view(-1, 1, 1).expand(-1, 1, H)  # (B, 1, H)
        forward_final = top[:, :, :H].gather(1, last).squeeze(1)  # (B, H) the forward LM at the last token
        backward_final = top[:, 0, H:]  # (B, H) the backward LM at the first token
        final = torch.cat([forward_final, backward_final], dim=-1) * (lengths > 0).to(top.dtype).unsqueeze(-1)
        return self._pool(self.dropout(top), final, mask)

    def _pool(self, states, final, mask) -> torch.Tensor:
        pooled, weights = self.pool(states, final, mask)  # (B, H'), (B, T) or None
        self.last_attention = None if weights is None else weights.detach()
        return self.dropout(pooled)  # (B, output_dim)
