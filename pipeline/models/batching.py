"""Pairs of token lists → padded id tensors for :class:`pipeline.nn.seq2seq.Seq2Seq`, with the copy
mechanism's per-batch extended vocabulary (see ``pipeline/nn/seq2seq.py`` for the convention)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch

from pipeline.models.vocabulary import BOS, EOS, Vocabulary


@dataclass
class PairBatch:
    """Tensors of a batch of B pairs; ``oov`` lists the batch's OOV source words (id V + k)."""

    src_ids: torch.Tensor  # (B, S) long, OOV words as <unk>
    src_ext_ids: torch.Tensor  # (B, S) long, OOV words as V + k
    src_lengths: torch.Tensor  # (B,) long
    tgt_in: torch.Tensor  # (B, T) long: <s> y1 ... yn (decoder inputs)
    tgt_out: torch.Tensor  # (B, T) long: y1 ... yn </s> in the extended vocabulary, pad after
    oov: list[str]


def encode_sources(vocab: Vocabulary, sources: Sequence[Sequence[str]], max_source: int | None = None):
    """(src_ids (B, S), src_ext_ids (B, S), src_lengths (B,), oov words) for token lists."""
    sources = [list(s[:max_source]) if max_source else list(s) for s in sources]
    oov: list[str] = []
    for source in sources:
        for token in source:
            if token not in vocab.stoi and token not in oov:
                oov.append(token)
    ext = {token: len(vocab) + k for k, token in enumerate(oov)}
    width = max([len(s) for s in sources] + [1])
    src_ids = torch.zeros(len(sources), width, dtype=torch.long)  # (B, S), 0 = <pad>
    src_ext_ids = torch.zeros(len(sources), width, dtype=torch.long)  # (B, S)
    for i, source in enumerate(sources):
        src_ids[i, : len(source)] = torch.tensor(vocab.encode(source), dtype=torch.long)
        src_ext_ids[i, : len(source)] = torch.tensor([vocab.stoi.get(t, ext.get(t)) for t in source], dtype=torch.long)
    lengths = torch.tensor([len(s) for s in sources], dtype=torch.long)  # (B,)
    return src_ids, src_ext_ids, lengths, oov


def make_batch(vocab: Vocabulary, sources: Sequence[Sequence[str]], targets: Sequence[Sequence[str]],
               max_source: int | None = None, max_target: int | None = None) -> PairBatch:
    """A :class:`PairBatch`; target words found in the batch's sources keep their copy ids."""
    src_ids, src_ext_ids, lengths, oov = encode_sources(vocab, sources, max_source)
    ext = {token: len(vocab) + k for k, token in enumerate(oov)}
    unk = vocab.stoi["<unk>"]
    targets = [list(t[:max_target]) if max_target else list(t) for t in targets]
    width = max(len(t) for t in targets) + 1
    tgt_in = torch.zeros(len(targets), width, dtype=torch.long)  # (B, T)
    tgt_out = torch.zeros(len(targets), width, dtype=torch.long)  # (B, T)
    for i, target in enumerate(targets):
        ids = [vocab.stoi.get(t, ext.get(t, unk)) for t in target]
        tgt_in[i, : len(ids) + 1] = torch.tensor([vocab.stoi[BOS], *ids], dtype=torch.long)
        tgt_out[i, : len(ids) + 1] = torch.tensor([*ids, vocab.stoi[EOS]], dtype=torch.long)
    return PairBatch(src_ids, src_ext_ids, lengths, tgt_in, tgt_out, oov)


def decode_ids(vocab: Vocabulary, ids: Sequence[int], oov: Sequence[str]) -> list[str]:
    """Token strings of generated ids (extended ids → the copied OOV words), stopping at </s>."""
    tokens = []
    for i in ids:
        if i == vocab.stoi[EOS]:
            break
        tokens.append(vocab.itos[i] if i < len(vocab) else oov[i - len(vocab)])
    return tokens
