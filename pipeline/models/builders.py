"""The generators' option classes (saved in ``generator.json``) and the builders that turn options and a
vocabulary into torch networks: what training and loading share."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from pipeline.corpus.labels import THEME_IDS
from pipeline.models.vocabulary import Vocabulary
from pipeline.nn.language_model import LSTMLanguageModel
from pipeline.nn.seq2seq import Seq2Seq


@dataclass
class Seq2SeqOptions:
    """The network and data options of a Seq2Seq generator (saved with the model)."""

    hidden_size: int = 256
    attention: str = "additive"  # additive | multiplicative | none
    copy: bool = True
    dropout: float = 0.2
    min_count: int = 2  # vocabulary: tokens seen at least this often in training
    max_source: int = 60  # source tokens kept (longer sources are truncated, with a warning at inference)
    max_target: int = 60  # target tokens trained on
    pretrained: bool = True  # initialise embeddings from the ja_ginza vectors (300-d)
    embed_dim: int = 300  # 364 to start from models/livedoor-lm (its 300-d static + 64-d trainable input)
    lm_path: str = ""  # a `knbc pretrain` folder: start the embeddings, encoder, decoder and output layer from it


@dataclass
class LMOptions:
    """The network and data options of the LSTM language model (saved with the model)."""

    embed_dim: int = 300
    hidden_size: int = 300
    layers: int = 1
    dropout: float = 0.3
    themes: bool = True  # condition on the article's theme
    min_count: int = 2
    bptt: int = 35
    pretrained: bool = True


def build_seq2seq(vocab: Vocabulary, options: Seq2SeqOptions, pretrained: torch.Tensor | None = None) -> Seq2Seq:
    """A Seq2Seq for ``vocab``; ``pretrained`` (V, 300) initialises its embeddings (training passes the
    ja_ginza rows; a saved model's own weights replace them when it loads)."""
    return Seq2Seq(
        len(vocab),
        embed_dim=options.embed_dim,
        hidden_size=options.hidden_size,
        attention=options.attention,
        copy=options.copy,
        dropout=options.dropout,
        pretrained=pretrained,
    )


def build_language_model(vocab: Vocabulary, options: LMOptions, pretrained: torch.Tensor | None = None) -> LSTMLanguageModel:
    """An LSTM LM for ``vocab``; ``pretrained`` (V, embed_dim) initialises its embeddings."""
    return LSTMLanguageModel(
        len(vocab),
        embed_dim=options.embed_dim,
        hidden_size=options.hidden_size,
        layers=options.layers,
        dropout=options.dropout,
        n_themes=len(THEME_IDS) if options.themes else 0,
        pretrained=pretrained,
    )
