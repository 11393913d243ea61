"""A Seq2Seq (attention + copy) whose decoder starts from a pretrained bidirectional LM's forward direction.

The Seq2Seq keeps its own (KNBC) vocabulary; each of its tokens is mapped to the LM's id of the same text
(``<unk>`` where the LM has none). With ``embed_dim`` = the LM's input width (static vector + trainable
part) and ``hidden_size`` = the LM's, :func:`init_seq2seq_from_bilm` copies:

* both embedding tables: each token's LM input vector (its static row, the LM's trainable row, the LM's
  ``no_vector`` where it has no static vector), so the static vectors are baked into plain tables and the
  saved generator needs neither the LM nor ja_ginza; the decoder's ``<s>`` reads the LM's ``</s>`` (a
  sentence starts after ``</s>`` in the LM's training streams);
* the decoder LSTM from the forward LM's LSTM, the encoder's forward / backward LSTM from the LM's
  forward / backward LSTM;
* the output layer from the adaptive softmax: a shortlist word's row is its head row; a tail word's row is
  its cluster's head row plus its tail row (the tail's two projections multiplied out), with a bias of minus
  the cluster's mean log-normaliser (over ``sample_states``, or log of the cluster's size), so that the
  plain softmax starts close to the LM's; tokens the LM lacks share its ``<unk>`` row, their bias lowered
  by the log of their number;
* Luong's combination layer so that ``h̃ ≈ tanh(h)`` at first (identity on the decoder state; the
  context part keeps its random init, scaled by 0.1).

* the projections of the encoder's final state: biases such that the decoder starts (nearly) in the
  forward LM's state after reading ``</s>`` from a zero state, their weights scaled by 0.1.

The attention and the copy switch start from scratch.
"""

from __future__ import annotations

import math
from typing import Callable

import torch

from pipeline.models.vocabulary import BOS, EOS, UNK, Vocabulary
from pipeline.nn.bilm import BidirectionalLM
from pipeline.nn.seq2seq import Seq2Seq


def lm_ids(vocab: Vocabulary, lm_vocab: Vocabulary) -> torch.Tensor:
    """(V,): the LM id of each of ``vocab``'s tokens (the LM's ``<unk>`` where it has none)."""
    unk = lm_vocab.stoi[UNK]
    return torch.tensor([lm_vocab.stoi.get(token, unk) for token in vocab.itos], dtype=torch.long)


@torch.no_grad()
def lm_embedding_table(bilm: BidirectionalLM, vocab: Vocabulary, lm_vocab: Vocabulary, rows_by_id: torch.Tensor,
                       string_row: Callable[[str], int]) -> torch.Tensor:
    """(V, E): the LM's input vector of each of ``vocab``'s tokens. A token the LM knows gets its static row
    from ``rows_by_id``; one it lacks gets its own static row (``string_row(text)``, -1: none)."""
    ids = lm_ids(vocab, lm_vocab)  # (V,)
    known = torch.tensor([token in lm_vocab.stoi for token in vocab.itos])  # (V,)
    rows = torch.tensor([string_row(token) for token in vocab.itos], dtype=torch.long)  # (V,)
    rows = torch.where(known, rows_by_id.long()[ids], rows)  # (V,)
    return bilm.embed(rows.unsqueeze(0), ids.unsqueeze(0)).squeeze(0).clone()  # (V, E)


@torch.no_grad()
def adaptive_softmax_as_linear(softmax: torch.nn.AdaptiveLogSoftmaxWithLoss,
                               sample_states: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """(weight (n_classes, H), bias (n_classes,)) of a plain linear softmax approximating ``softmax``."""
    head_w = softmax.head.weight  # (S + K, H)
    head_b = softmax.head.bias if softmax.head.bias is not None else torch.zeros(head_w.size(0))
    short = softmax.shortlist_size
    weights, biases = [head_w[:short]], [head_b[:short]]
    for k, tail in enumerate(softmax.tail):
        rows = tail[1].weight @ tail[0].weight  # (osz, hsz) @ (hsz, H) -> (osz, H)
        if sample_states is None:
            lse = math.log(rows.size(0))
        else:
            lse = float(torch.logsumexp(sample_states @ rows.T, dim=-1).mean())  # (N,) -> mean
        weights.append(head_w[short + k] + rows)  # (osz, H)
        biases.append((head_b[short + k] - lse).expand(rows.size(0)))
    return torch.cat(weights), torch.cat(biases)


@torch.no_grad()
def init_seq2seq_from_bilm(model: Seq2Seq, vocab: Vocabulary, bilm: BidirectionalLM, lm_vocab: Vocabulary,
                           rows_by_id: torch.Tensor, string_row: Callable[[str], int] = lambda token: -1,
                           sample_states: torch.Tensor | None = None) -> dict:
    """Copy the LM's weights into ``model`` (see the module docstring) and return counts of what mapped.

    Raises ValueError unless the shapes agree: one layer each, ``model``'s embedding width = the LM's
    input width, ``model``'s hidden size = the LM's."""
    embed_dim = bilm.embed.output_dim
    if model.layers != 1 or bilm.n_layers != 1:
        raise ValueError(f"one LSTM layer each is needed, not {model.layers} and {bilm.n_layers}")
    if model.tgt_embed.embedding_dim != embed_dim or model.hidden_size != bilm.hidden_size:
        raise ValueError(f"the Seq2Seq needs embed_dim={embed_dim} and hidden_size={bilm.hidden_size} to start "
                         f"from this LM, not {model.tgt_embed.embedding_dim} and {model.hidden_size}")
    if len(vocab) != model.vocab_size:
        raise ValueError(f"vocab has {len(vocab)} ids, the model {model.vocab_size}")
    table = lm_embedding_table(bilm, vocab, lm_vocab, rows_by_id, string_row)  # (V, E)
    model.src_embed.weight.copy_(table)
    model.tgt_embed.weight.copy_(table)
    model.tgt_embed.weight[vocab.stoi[BOS]] = table[vocab.stoi[EOS]]  # a sentence starts after </s>
    for table_ in (model.src_embed, model.tgt_embed):
        table_.weight[model.pad_id].zero_()
    forward, backward = bilm.rnns["forward_lstm"][0], bilm.rnns["backward_lstm"][0]
    for name, value in forward.state_dict().items():  # weight_ih_l0, weight_hh_l0, bias_ih_l0, bias_hh_l0
        getattr(model.decoder, name).copy_(value)
        getattr(model.encoder.rnn, name).copy_(value)
        getattr(model.encoder.rnn, f"{name}_reverse").copy_(backward.state_dict()[name])
    ids = lm_ids(vocab, lm_vocab)  # (V,)
    known = torch.tensor([token in lm_vocab.stoi for token in vocab.itos])  # (V,)
    weight, bias = adaptive_softmax_as_linear(bilm.softmax, sample_states)  # (V_lm, H), (V_lm,)
    model.out.weight.copy_(weight[ids])
    unknown = int((~known).sum())
    model.out.bias.copy_(bias[ids] - torch.where(known, 0.0, math.log(max(unknown, 1))))
    eos = torch.tensor([[lm_vocab.stoi[EOS]]])  # (1, 1)
    was_training = bilm.training
    _, [(h0, c0)] = bilm.eval().hidden("forward", rows_by_id.long()[eos], eos)  # (1, 1, H) each
    bilm.train(was_training)
    for layer, start in ((model.init_h, h0), (model.init_c, c0)):
        layer.weight.mul_(0.1)  # the encoder's final state moves the start a little at first
        layer.bias.copy_(torch.atanh(start.view(-1).clamp(-0.95, 0.95)))
    if model.attention is not None:
        enc_dim = model.encoder.output_dim
        model.combine.weight[:, :enc_dim] *= 0.1  # the context part: its random init, smaller
        model.combine.weight[:, enc_dim:] = torch.eye(model.hidden_size)  # h̃ ≈ tanh(h) at first
    return {"mapped": int(known.sum()), "unmapped": unknown, "vocabulary": len(vocab)}
