"""A sequence labeller: token features -> BiLSTM -> per-token tag scores (emissions) -> a linear-chain CRF,
or, without the CRF, a softmax per token (the ablation that shows what the CRF adds); :class:`BiLMFeatureTagger`
adds a frozen pretrained LM's layers (ELMo) to the token features."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from pipeline.nn.bilm import BidirectionalLM
from pipeline.nn.bilm_features import BiLMReader
from pipeline.nn.crf import LinearChainCRF, allowed_moves, tags_to_spans
from pipeline.nn.embedding import StaticPlusTrainableEmbedding
from pipeline.nn.encoders import RecurrentEncoder


class RecurrentTagger(nn.Module):
    """Emissions (B, T, K) from a (Bi)LSTM over static + trainable embeddings; loss and decoding by a CRF
    (``crf=True``) or by independent per-token softmaxes.

    The tag set is set with :meth:`set_tags` (the output layer and CRF are sized then), before training or
    before loading saved weights. Inputs follow :class:`pipeline.models.features.FeatureBatch`.
    """

    def __init__(
        self,
        vectors: torch.Tensor,
        n_tokens: int,
        trainable_dim: int = 64,
        freeze_vectors: bool = True,
        hidden_size: int = 128,
        layers: int = 1,
        dropout: float = 0.3,
        crf: bool = True,
        scheme: str = "BIO",
        n_pos: int = 0,
        pos_dim: int = 0,
        n_chars: int = 0,
        char_dim: int = 0,
    ):
        super().__init__()
        self.embed = StaticPlusTrainableEmbedding(vectors, n_tokens, trainable_dim, freeze_vectors, dropout=dropout)
        # an embedding of each token's part-of-speech tag (hashed ids, 0 = padding), when pos_dim > 0
        self.pos = nn.Embedding(n_pos, pos_dim, padding_idx=0) if pos_dim > 0 and n_pos > 1 else None
        # the mean of an embedding of the characters of each token that has no static vector (hashed
        # character ids, 0 = padding), when char_dim > 0: what a word without a vector is made of
        self.chars = nn.Embedding(n_chars, char_dim, padding_idx=0) if char_dim > 0 and n_chars > 1 else None
        self.input_width = (self.embed.output_dim + (pos_dim if self.pos is not None else 0)
                            + (char_dim if self.chars is not None else 0))  # of the features the BiLSTM reads
        self._encoder_options = (hidden_size, "lstm", layers, True, dropout)
        self.encoder = RecurrentEncoder(self.input_width, *self._encoder_options)
        self.dropout = nn.Dropout(dropout)
        self.use_crf = crf
        self.scheme = scheme
        self.tags: list[str] = ["O"]
        self.output = nn.Linear(self.encoder.output_dim, 1)
        self.crf = LinearChainCRF(1) if crf else None

    def set_tags(self, tags: list[str]) -> None:
        """Size the output layer (and CRF, with the scheme's constraints) for ``tags``; fresh weights."""
        self.tags = list(tags)
        self.output = nn.Linear(self.encoder.output_dim, len(tags))
        if self.use_crf:
            self.crf = LinearChainCRF(len(tags), allowed_moves(tags, self.scheme))
            self.crf.reset_parameters()

    def reset_parameters(self) -> None:
        """Draw every weight afresh from the (seeded) torch RNG."""
        self.embed.reset_parameters()
        for module in (self.encoder.rnn, self.output):
            module.reset_parameters()
        for table in (self.pos, self.chars):
            if table is not None:
                with torch.no_grad():
                    table.weight.normal_(0.0, 0.1)
                    table.weight[0].zero_()
        if self.crf is not None:
            self.crf.reset_parameters()

    def character_features(self, vector_rows: torch.Tensor, token_ids: torch.Tensor, char_ids: torch.Tensor) -> torch.Tensor:
        """The mean character embedding of each real token without a static vector, zeros elsewhere:
        ``vector_rows`` and ``token_ids`` (B, T), ``char_ids`` (B, T, C) with 0 for padding -> (B, T, char_dim)."""
        present = (char_ids != 0).unsqueeze(-1).to(self.chars.weight.dtype)  # (B, T, C, 1)
        summed = (self.chars(char_ids) * present).sum(dim=2)  # (B, T, char_dim)
        mean = summed / present.sum(dim=2).clamp(min=1.0)  # (B, T, char_dim)
        without_vector = ((vector_rows < 0) & (token_ids != 0)).unsqueeze(-1).to(mean.dtype)  # (B, T, 1)
        return mean * without_vector

    def token_features(self, vector_rows, token_ids, lengths, mask, pos_ids=None, char_ids=None,
                       orth=None) -> torch.Tensor:
        """What the BiLSTM reads at each position: (B, T) x2, (B,), (B, T), POS ids (B, T) or None, character
        ids (B, T, C) or None, ORTH hashes (B, T) or None (read by :class:`BiLMFeatureTagger`) -> (B, T, D)."""
        x = self.embed(vector_rows, token_ids)  # (B, T, D)
        if self.pos is not None:
            if pos_ids is None:
                raise ValueError("this tagger reads part-of-speech ids: pass pos_ids (B, T)")
            x = torch.cat([x, self.dropout(self.pos(pos_ids))], dim=-1)  # (B, T, D + pos_dim)
        if self.chars is not None:
            if char_ids is None:
                raise ValueError("this tagger reads character ids: pass char_ids (B, T, C)")
            x = torch.cat([x, self.dropout(self.character_features(vector_rows, token_ids, char_ids))], dim=-1)
        return x

    def emissions(self, vector_rows, token_ids, lengths, mask, pos_ids=None, char_ids=None, orth=None) -> torch.Tensor:
        """The inputs of :meth:`token_features` -> tag scores (B, T, K)."""
        if self.chars is None and self.encoder.folds(len(vector_rows)):  # inference: the input projection folded into the tables
            if self.pos is not None and pos_ids is None:
                raise ValueError("this tagger reads part-of-speech ids: pass pos_ids (B, T)")
            weight, bias, key = self.encoder.input_weight()  # (8H, D [+ pos_dim]), (8H,)
            extra = ((self.pos.weight, pos_ids.T),) if self.pos is not None else ()
            gates = self.embed.project(vector_rows.T, token_ids.T, weight, bias, key, extra)  # (T, B, 8H)
            states, _ = self.encoder.forward_gates(gates, lengths)  # (B, T, H)
            return self.output(states)  # (B, T, K)
        x = self.token_features(vector_rows, token_ids, lengths, mask, pos_ids, char_ids, orth)  # (B, T, D)
        return self.emissions_from_features(x, lengths)

    def emissions_from_features(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """Token features (B, T, D), lengths (B,) -> BiLSTM -> tag scores (B, T, K)."""
        states, _ = self.encoder(x, lengths)  # (B, T, H)
        return self.output(self.dropout(states))  # (B, T, K)

    def loss(self, emissions: torch.Tensor, tags: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """The summed NLL of gold ``tags`` (B, T) over the batch's real positions: CRF or per-token softmax."""
        if self.crf is not None:
            return self.crf.nll(emissions, tags, mask).sum()
        logits = emissions[mask]  # (N, K)
        return F.cross_entropy(logits, tags[mask], reduction="sum") if len(logits) else emissions.sum() * 0.0

    def forward(self, vector_rows, token_ids, lengths, mask, pos_ids=None, tags=None, char_ids=None,
                orth=None) -> torch.Tensor:
        """Emissions (B, T, K); with gold ``tags`` (B, T), the loss as a (1,) tensor instead (training)."""
        emissions = self.emissions(vector_rows, token_ids, lengths, mask, pos_ids, char_ids, orth)
        if tags is None:
            return emissions
        return self.loss(emissions, tags, mask).reshape(1)

    def decode(self, emissions: torch.Tensor, mask: torch.Tensor) -> list[list[int]]:
        """The best tag ids of each row (Viterbi with the CRF, else the argmax at each position)."""
        if self.crf is not None:
            return self.crf.decode(emissions, mask)
        best = emissions.argmax(dim=-1)  # (B, T)
        return [best[b, : int(n)].tolist() for b, n in enumerate(mask.sum(dim=1))]

    def predict_spans(self, vector_rows, token_ids, lengths, mask, pos_ids=None, char_ids=None,
                      orth=None) -> list[list[tuple[int, int, str]]]:
        """Token spans ``(start, end, label)`` of each row (a softmax's invalid sequences read leniently)."""
        emissions = self.emissions(vector_rows, token_ids, lengths, mask, pos_ids, char_ids, orth)
        return [tags_to_spans([self.tags[i] for i in path]) for path in self.decode(emissions, mask)]


class BiLMFeatureTagger(BiLMReader, RecurrentTagger):
    """:class:`RecurrentTagger` with ELMo's features (the network of ``knbc.BiLSTMCRFTagger.v2``): a frozen
    pretrained bidirectional LM's layers, mixed by a learned scalar mix
    (:class:`pipeline.nn.bilm_features.BiLMReader`), concatenated to the token features under the BiLSTM.

    ``bilm`` is the LM without its softmax (:func:`pipeline.nn.pretrained_classifier.bilm_encoder`),
    ``vocab_hashes`` (V,) the int64 ORTH hashes of its ids; with ``bilm=None`` the network is a shell that
    :meth:`attach_bilm` completes (a saved model being loaded). The inputs are the tagger's plus ``orth``
    (B, T), the tokens' ORTH hashes.

    The mix is not a table lookup, so :meth:`emissions` always takes the ordinary path (features, then the
    BiLSTM): :class:`RecurrentTagger`'s inference path, which folds the BiLSTM's input projection into the
    embedding tables (``encoder.folds``), would leave the mix out (it would have to add ``mix @ W_mix.T``
    to the folded gates).
    """

    def __init__(self, vectors: torch.Tensor, n_tokens: int, bilm: BidirectionalLM | None = None,
                 vocab_hashes: torch.Tensor | None = None, mix_layer_norm: bool = False, **options):
        super().__init__(vectors, n_tokens, **options)
        self.vector_dim, self.mix_layer_norm = vectors.shape[1], mix_layer_norm
        self._init_bilm_slots(vectors)
        if bilm is not None:
            self.attach_bilm(bilm, vocab_hashes)

    def attach_bilm(self, bilm: BidirectionalLM, vocab_hashes: torch.Tensor) -> None:
        """Put the (frozen) LM and its vocabulary's hashes (V,) in; the BiLSTM is rebuilt to read the mix too."""
        self._put_bilm(bilm, vocab_hashes)
        self._freeze_bilm(self.mix_layer_norm)
        self.encoder = RecurrentEncoder(self.input_width + self.mix_width, *self._encoder_options)

    def reset_parameters(self) -> None:
        """Draw the tagger's own weights afresh (the LM's pretrained weights are kept)."""
        super().reset_parameters()
        if self.mix is not None:
            self.mix.reset_parameters()

    def train(self, mode: bool = True) -> BiLMFeatureTagger:
        super().train(mode)
        self._keep_frozen_bilm_in_eval()
        return self

    def emissions(self, vector_rows, token_ids, lengths, mask, pos_ids=None, char_ids=None, orth=None) -> torch.Tensor:
        """The ordinary path, in training and inference alike (see the class docstring): (B, T, K)."""
        x = self.token_features(vector_rows, token_ids, lengths, mask, pos_ids, char_ids, orth)  # (B, T, D + W)
        return self.emissions_from_features(x, lengths)

    def token_features(self, vector_rows, token_ids, lengths, mask, pos_ids=None, char_ids=None,
                       orth=None) -> torch.Tensor:
        """The tagger's token features with the LM's mix after them: (B, T, D + ``mix_width``)."""
        if self.bilm is None:
            raise RuntimeError("the pretrained LM was never attached (build from its folder, or load saved weights)")
        if orth is None:
            raise ValueError("this tagger reads a pretrained LM: pass the tokens' ORTH hashes, orth (B, T)")
        x = super().token_features(vector_rows, token_ids, lengths, mask, pos_ids, char_ids)  # (B, T, D)
        return torch.cat([x, self.dropout(self.bilm_features(vector_rows, orth, lengths, mask))], dim=-1)
