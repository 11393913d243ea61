"""Posts for the hierarchical classifier: Docs split into sentences -> padded (P, S, T) tensors, the
network's options and builder, and its save/load (``post_model.json`` + fp16 ``post_model.pt``).

A post is a Doc whose sentences are ``doc.sents`` when the Doc has sentence annotation
(``doc.has_annotation("SENT_START")``, e.g. from a sentence splitter earlier in the pipeline) and the
whole Doc otherwise. Each sentence keeps its first ``max_words`` tokens and each post its first
``max_sentences`` sentences (the rest are read by nobody; the component says so in its results).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from spacy.tokens import Doc, Span

from pipeline.errors import ModelError
from pipeline.models.features import NO_VECTOR, PAD_ID, DocFeatures
from pipeline.nn.hierarchical import HierarchicalAttentionNetwork

SENTENCE_END = tuple("。！？!?")
OPTIONS_FILE = "post_model.json"
WEIGHTS_FILE = "post_model.pt"


@dataclass
class PostOptions:
    """The network and data options of the hierarchical post classifier (saved with it)."""

    cell: str = "lstm"
    word_hidden: int = 64
    sentence_hidden: int = 64
    attention_dim: int = 64
    trainable_dim: int = 32
    n_buckets: int = 20000
    freeze_vectors: bool = True
    dropout: float = 0.3
    theme_from_post: bool = True
    post_vote: bool = False  # the post's logits also sum its sentences' theme log-probabilities
    max_words: int = 128  # tokens kept per sentence
    max_sentences: int = 1000  # sentences kept per post
    vector_dim: int = 300

    @classmethod
    def from_dict(cls, values: dict) -> "PostOptions":
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown post classifier option(s) {unknown}; expected some of {sorted(known)}")
        return cls(**values)


def build_post_network(options: PostOptions, vectors: torch.Tensor, n_themes: int, n_sentiments: int
                       ) -> HierarchicalAttentionNetwork:
    """A :class:`HierarchicalAttentionNetwork` for ``options`` over the static ``vectors`` (rows, 300)."""
    return HierarchicalAttentionNetwork(
        vectors,
        n_tokens=options.n_buckets + 1,
        n_themes=n_themes,
        n_sentiments=n_sentiments,
        trainable_dim=options.trainable_dim,
        freeze_vectors=options.freeze_vectors,
        word_hidden=options.word_hidden,
        sentence_hidden=options.sentence_hidden,
        cell=options.cell,
        attention_dim=options.attention_dim,
        dropout=options.dropout,
        theme_from_post=options.theme_from_post,
        post_vote=options.post_vote,
    )


def post_sentences(doc: Doc) -> list[Span]:
    """The sentences of a post: ``doc.sents`` when the Doc has sentence annotation, else the whole Doc
    as one sentence; none for a Doc without tokens."""
    if not len(doc):
        return []
    if doc.has_annotation("SENT_START"):
        return list(doc.sents)
    return [doc[:]]


def simple_sentence_starts(doc: Doc) -> Doc:
    """Sentence starts after a token ending in 。！？!? (a run of them stays together) and after a line
    break; what user posts get when the pipeline has no sentence splitter. Returns ``doc``."""
    if not len(doc) or doc.has_annotation("SENT_START"):
        return doc
    starts = [True] + [False] * (len(doc) - 1)
    for i in range(1, len(doc)):
        previous, token = doc[i - 1], doc[i]
        ended = previous.text.endswith(SENTENCE_END) or "\n" in previous.text or "\n" in previous.whitespace_
        starts[i] = ended and not token.text.startswith(SENTENCE_END) and not token.is_space
    for token, start in zip(doc, starts):
        token.is_sent_start = start
    return doc


@dataclass
class PostFeatures:
    """One post's sentences as features (each sentence untruncated)."""

    sentences: list[DocFeatures]


def split_features(features: DocFeatures, sentences: Sequence[Span]) -> PostFeatures:
    """The features of a whole Doc cut into its ``sentences``."""
    return PostFeatures([DocFeatures(features.vector_rows[s.start:s.end], features.token_ids[s.start:s.end])
                         for s in sentences])


@dataclass
class PostBatch:
    """Padded tensors of P posts, S sentence slots, T token slots (see :mod:`pipeline.nn.hierarchical`)."""

    vector_rows: torch.Tensor  # (P, S, T) long, -1 = no vector or padding
    token_ids: torch.Tensor  # (P, S, T) long, 0 = padding
    word_lengths: torch.Tensor  # (P, S) long, 0 at padding sentences
    sent_lengths: torch.Tensor  # (P,) long

    def args(self) -> tuple[torch.Tensor, ...]:
        return self.vector_rows, self.token_ids, self.word_lengths, self.sent_lengths


def pad_posts(posts: Sequence[PostFeatures], max_words: int, max_sentences: int) -> PostBatch:
    """Pad posts into a :class:`PostBatch`: at least one sentence slot and one token slot, so an empty
    post (no sentences) has ``sent_lengths == 0`` and only padding."""
    kept = [post.sentences[:max_sentences] for post in posts]
    slots = max([1, *(len(k) for k in kept)])
    steps = max([1, *(min(len(s), max_words) for k in kept for s in k)])
    rows = np.full((len(posts), slots, steps), NO_VECTOR, dtype=np.int64)  # (P, S, T)
    ids = np.full((len(posts), slots, steps), PAD_ID, dtype=np.int64)  # (P, S, T)
    word_lengths = np.zeros((len(posts), slots), dtype=np.int64)  # (P, S)
    for p, sentences in enumerate(kept):
        for s, features in enumerate(sentences):
            n = min(len(features), max_words)
            rows[p, s, :n] = features.vector_rows[:n]
            ids[p, s, :n] = features.token_ids[:n]
            word_lengths[p, s] = n
    sent_lengths = torch.tensor([len(k) for k in kept], dtype=torch.long).reshape(len(posts))  # (P,)
    return PostBatch(torch.from_numpy(rows), torch.from_numpy(ids), torch.from_numpy(word_lengths), sent_lengths)


def save_post_model(path: str | Path, network: HierarchicalAttentionNetwork, options: PostOptions,
                    info: dict) -> None:
    """Write ``post_model.json`` (options, labels, vectors record: ``info``) and the state_dict in fp16
    (the frozen ja_ginza table is not in it: the pipeline reloads it)."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    state = {k: (v.half() if v.is_floating_point() else v) for k, v in network.state_dict().items()}
    torch.save(state, path / WEIGHTS_FILE)
    (path / OPTIONS_FILE).write_text(json.dumps({"options": asdict(options), **info}, ensure_ascii=False, indent=2),
                                     encoding="utf-8")


def read_post_model_info(path: str | Path) -> dict:
    """The contents of ``post_model.json``; a :class:`ModelError` naming the file when it is missing or damaged."""
    file = Path(path) / OPTIONS_FILE
    try:
        info = json.loads(file.read_text(encoding="utf-8"))
        PostOptions.from_dict(info["options"])
        if not isinstance(info.get("themes"), list) or not isinstance(info.get("sentiments"), list):
            raise ValueError("no 'themes' / 'sentiments' label lists")
        return info
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise ModelError(f"{file}: missing or damaged post classifier file ({err})") from None


def load_post_weights(path: str | Path, network: HierarchicalAttentionNetwork) -> None:
    """Load ``post_model.pt`` into ``network`` (``weights_only``; fp16 -> the network's dtype)."""
    file = Path(path) / WEIGHTS_FILE
    try:
        state = torch.load(file, map_location="cpu", weights_only=True)
        network.load_state_dict({k: (v.float() if v.is_floating_point() else v) for k, v in state.items()})
    except Exception as err:  # noqa: BLE001 - torch raises many kinds for a truncated or foreign file
        raise ModelError(f"{file}: missing or damaged post classifier weights ({type(err).__name__}: {err})") from None
