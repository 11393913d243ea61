"""A hierarchical attention network (Yang et al., 2016) over posts: words -> sentences -> post.

A word-level recurrent encoder with attention pooling gives each sentence a vector; a sentence-level
recurrent encoder over those vectors gives each sentence a contextual state, and attention pooling over
the states gives the post a vector. Heads:

* ``post`` (P, n_themes): the post's theme, from the post vector (with ``post_vote``, plus the summed
  log-probabilities of its sentences' own theme heads: the naive vote inside the network);
* ``sentence_theme`` (P, S, n_themes): each sentence's theme from its own vector and its contextual
  state (plus the post's logits with ``theme_from_post``: a sentence is labelled in its post);
* ``sentence_sentiment`` (P, S, n_sentiments): each sentence's sentiment from the same two;
* ``attention`` (P, S): the sentence attention weights, summing to one over a post's real sentences;
* ``word_attention`` (P, S, T): the word attention weights inside each real sentence.

Inputs are padded twice (see :class:`pipeline.models.posts.PostBatch`): ``vector_rows`` and
``token_ids`` (P, S, T), ``word_lengths`` (P, S) real tokens per sentence (0 at padding sentences) and
``sent_lengths`` (P,) real sentences per post. Padding words and padding sentences are never read: the
word encoder runs only over real sentences (packed), the sentence encoder is packed by
``sent_lengths`` and both attentions are masked, so padding a batch does not change any output.
"""

from __future__ import annotations

import torch
from torch import nn

from pipeline.nn.embedding import StaticPlusTrainableEmbedding
from pipeline.nn.encoders import AttentionPooling, RecurrentEncoder


class HierarchicalAttentionNetwork(nn.Module):
    """Word BiLSTM/GRU + attention -> sentence vectors; sentence BiLSTM/GRU + attention -> post vector."""

    def __init__(
        self,
        vectors: torch.Tensor,
        n_tokens: int,
        n_themes: int,
        n_sentiments: int,
        trainable_dim: int = 32,
        freeze_vectors: bool = True,
        word_hidden: int = 64,
        sentence_hidden: int = 64,
        cell: str = "lstm",
        attention_dim: int = 64,
        dropout: float = 0.3,
        theme_from_post: bool = True,
        post_vote: bool = False,
    ):
        super().__init__()
        if n_themes < 1 or n_sentiments < 1:
            raise ValueError(f"n_themes and n_sentiments must be >= 1, not {n_themes} and {n_sentiments}")
        self.theme_from_post = theme_from_post
        self.post_vote = post_vote
        self.embed = StaticPlusTrainableEmbedding(
            vectors, n_tokens, trainable_dim=trainable_dim, freeze_vectors=freeze_vectors, dropout=dropout
        )
        self.word_encoder = RecurrentEncoder(self.embed.output_dim, word_hidden, cell=cell)
        self.word_attention = AttentionPooling(self.word_encoder.output_dim, attention_dim)
        self.sentence_encoder = RecurrentEncoder(self.word_encoder.output_dim, sentence_hidden, cell=cell)
        self.sentence_attention = AttentionPooling(self.sentence_encoder.output_dim, attention_dim)
        sentence_dim = self.word_encoder.output_dim + self.sentence_encoder.output_dim  # [own vector; context]
        self.dropout = nn.Dropout(dropout)
        self.post_head = nn.Linear(self.sentence_encoder.output_dim, n_themes)
        self.theme_head = nn.Linear(sentence_dim, n_themes)
        self.sentiment_head = nn.Linear(sentence_dim, n_sentiments)

    def reset_parameters(self) -> None:
        """Draw every trainable weight afresh from torch's random state (the static vectors are kept)."""
        self.embed.reset_parameters()
        for module in self.modules():
            if isinstance(module, (nn.RNNBase, nn.Linear)):
                module.reset_parameters()

    def encode_sentences(
        self, vector_rows: torch.Tensor, token_ids: torch.Tensor, word_lengths: torch.Tensor, sent_mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(P, S, T) inputs, ``word_lengths`` (P, S), ``sent_mask`` (P, S) -> sentence vectors (P, S, Hw)
        (zero at padding sentences) and word attention (P, S, T) (zero at padding)."""
        posts, slots, steps = token_ids.shape
        flat_mask = sent_mask.reshape(-1)  # (P*S,)
        out = torch.zeros(posts * slots, self.word_encoder.output_dim, device=token_ids.device)  # (P*S, Hw)
        weights_out = torch.zeros(posts * slots, steps, device=token_ids.device)  # (P*S, T)
        if flat_mask.any():
            lengths = word_lengths.reshape(-1)[flat_mask]  # (N,) real sentences only
            width = int(lengths.max().clamp(min=1))
            rows = vector_rows.reshape(-1, steps)[flat_mask][:, :width]  # (N, T')
            ids = token_ids.reshape(-1, steps)[flat_mask][:, :width]  # (N, T')
            word_mask = torch.arange(width, device=ids.device).unsqueeze(0) < lengths.unsqueeze(1)  # (N, T')
            states, _ = self.word_encoder(self.embed(rows, ids), lengths)  # (N, T', Hw)
            pooled, weights = self.word_attention(states, word_mask)  # (N, Hw), (N, T')
            out = out.index_put((flat_mask.nonzero().squeeze(1),), pooled)
            padded = torch.zeros(weights.shape[0], steps, device=weights.device)
            padded[:, :width] = weights
            weights_out = weights_out.index_put((flat_mask.nonzero().squeeze(1),), padded)
        return out.reshape(posts, slots, -1), weights_out.reshape(posts, slots, steps)

    def forward(
        self, vector_rows: torch.Tensor, token_ids: torch.Tensor, word_lengths: torch.Tensor, sent_lengths: torch.Tensor
    ) -> dict[str, torch.Tensor]:
        """``vector_rows``, ``token_ids`` (P, S, T) long, ``word_lengths`` (P, S), ``sent_lengths`` (P,) ->
        ``{"post": (P, C), "sentence_theme": (P, S, C), "sentence_sentiment": (P, S, K), "attention": (P, S),
        "word_attention": (P, S, T), "sentence_mask": (P, S)}`` (logits; attention weights are probabilities).

        A post without sentences gets zero attention and the heads' biases as logits.
        """
        slots = token_ids.shape[1]
        sent_mask = torch.arange(slots, device=token_ids.device).unsqueeze(0) < sent_lengths.unsqueeze(1)  # (P, S)
        sentence_vectors, word_weights = self.encode_sentences(vector_rows, token_ids, word_lengths, sent_mask)
        sentence_vectors = self.dropout(sentence_vectors)  # (P, S, Hw)
        context, _ = self.sentence_encoder(sentence_vectors, sent_lengths)  # (P, S, Hs), zero at padding
        post_vector, attention = self.sentence_attention(context, sent_mask)  # (P, Hs), (P, S)
        post = self.post_head(self.dropout(post_vector))  # (P, C)
        both = self.dropout(torch.cat([sentence_vectors, context], dim=-1))  # (P, S, Hw + Hs)
        theme = self.theme_head(both)  # (P, S, C)
        if self.post_vote:  # a vote inside the network: the post adds its sentences' summed log-probabilities
            votes = torch.log_softmax(theme, dim=-1) * sent_mask.unsqueeze(-1).to(theme.dtype)  # (P, S, C)
            post = post + votes.sum(dim=1)  # (P, C)
        if self.theme_from_post:
            theme = theme + post.unsqueeze(1)  # each sentence read in its post
        return {
            "post": post,
            "sentence_theme": theme,
            "sentence_sentiment": self.sentiment_head(both),  # (P, S, K)
            "attention": attention,
            "word_attention": word_weights,
            "sentence_mask": sent_mask,
        }
