"""Plain torch modules; no spaCy inside.

They take the tensors :mod:`pipeline.models.features` makes from GiNZA Docs (vector rows, token ids,
lengths, masks) and know nothing of spaCy, so they can be tested and trained on their own.
"""

from pipeline.nn.attention import AdditiveAttention, MultiplicativeAttention, make_attention, masked_softmax
from pipeline.nn.decoding import (
    Generated,
    Hypothesis,
    beam_search,
    greedy,
    language_model_stepper,
    length_penalty,
    sample,
    seq2seq_stepper,
)
from pipeline.nn.embedding import StaticPlusTrainableEmbedding
from pipeline.nn.language_model import LSTMLanguageModel, detach_state, perplexity, truncated_bptt_batches
from pipeline.nn.seq2seq import EncoderMemory, Seq2Seq, masked_nll

__all__ = [
    "AdditiveAttention",
    "EncoderMemory",
    "Generated",
    "Hypothesis",
    "LSTMLanguageModel",
    "MultiplicativeAttention",
    "Seq2Seq",
    "StaticPlusTrainableEmbedding",
    "beam_search",
    "detach_state",
    "greedy",
    "language_model_stepper",
    "length_penalty",
    "make_attention",
    "masked_nll",
    "masked_softmax",
    "perplexity",
    "sample",
    "seq2seq_stepper",
    "truncated_bptt_batches",
]
