"""Training the generators through the shared epoch loop (:func:`pipeline.training.loop.run_epochs`):
a Seq2Seq on token pairs (teacher forcing), and an LSTM language model on article streams
(truncated backpropagation through time, state carried across chunks)."""

from __future__ import annotations

import copy
import math
import random
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator, Sequence

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from pipeline.ginza import ginza_vocab
from pipeline.models.batching import make_batch
from pipeline.models.features import VectorLookup, vectors_table
from pipeline.models.pretrained_lm import load_bilm, saved_rows_by_id
from pipeline.models.seq2seq_from_lm import init_seq2seq_from_bilm
from pipeline.models.builders import LMOptions, Seq2SeqOptions, build_language_model, build_seq2seq
from pipeline.models.vocabulary import EOS, Pair, Vocabulary
from pipeline.corpus.labels import THEME_IDS
from pipeline.nn.language_model import LSTMLanguageModel, detach_state, summed_nll, truncated_bptt_batches
from pipeline.nn.seq2seq import Seq2Seq
from pipeline.training.loop import TrainResult, TrainSettings, length_bucketed_batches, run_epochs


@dataclass
class GenerationSettings(TrainSettings):
    """Training settings for the generators (higher dev log-likelihood is better)."""

    max_epochs: int = 20
    patience: int = 2
    learn_rate: float = 2e-3
    grad_clip: float = 5.0
    metric: str = "dev_log_likelihood"
    # Seq2Seq: after training, `knbc train-generator` chooses the decoding on the dev pairs by chrF and saves it
    # with the model (pipeline.evaluation.generation.choose_saved_decoding)
    choose_decoding: bool = False


def pretrained_matrix(vocab: Vocabulary, dim: int = 300) -> torch.Tensor:
    """(len(vocab), 300): each token's ja_ginza vector where its text has one, small noise elsewhere."""
    lookup = VectorLookup(ginza_vocab(), fields=("text",))
    table = vectors_table(ginza_vocab())  # (rows, 300)
    matrix = torch.randn(len(vocab), table.size(1)) * 0.1  # (V, 300)
    for i, token in enumerate(vocab.itos):
        row = lookup.string_row(token)
        if row >= 0:
            matrix[i] = table[row]
    return matrix[:, :dim]


def lm_resources() -> tuple[torch.Tensor, Callable[[str], int]]:
    """ja_ginza's static vector table (rows, 300) and a token text's row in it (-1: none): what a
    ``knbc pretrain`` LM reads (a function, so that tests can stand in a small table)."""
    return vectors_table(ginza_vocab()), VectorLookup(ginza_vocab(), fields=("text",)).string_row


def init_from_pretrained_lm(model: Seq2Seq, vocab: Vocabulary, lm_path: str | Path,
                            sample_targets: Sequence[Sequence[str]] = (), samples: int = 256) -> dict:
    """Start ``model`` from the pretrained LM at ``lm_path`` (:func:`init_seq2seq_from_bilm`); the output
    layer's tail biases are set from the LM's states over the first ``samples`` of ``sample_targets``."""
    vectors, string_row = lm_resources()
    bilm, lm_vocab, _ = load_bilm(lm_path, vectors)
    rows_by_id = saved_rows_by_id(lm_path)  # (V_lm,)
    states = None
    chosen = [list(t) for t in sample_targets[:samples] if len(t)]
    if chosen:
        with torch.no_grad():
            states = []
            for tokens in chosen:
                ids = torch.tensor([[lm_vocab.stoi[EOS], *lm_vocab.encode(tokens)]])  # (1, T + 1)
                hidden, _ = bilm.hidden("forward", rows_by_id[ids], ids)  # (1, T + 1, H)
                states.append(hidden[0])
            states = torch.cat(states)  # (N, H)
    return init_seq2seq_from_bilm(model, vocab, bilm, lm_vocab, rows_by_id, string_row, states)


def _batches(pairs: Sequence[Pair], batch_size: int, rng: random.Random | None) -> list[list[Pair]]:
    """Length-bucketed batches of pairs (shuffled when ``rng`` is given)."""
    order = list(pairs)
    if rng is not None:
        rng.shuffle(order)
    return length_bucketed_batches(order, batch_size, rng, length=lambda pair: len(pair.target))


def seq2seq_loss(model: Seq2Seq, vocab: Vocabulary, pairs: Sequence[Pair], options: Seq2SeqOptions) -> torch.Tensor:
    """Mean NLL per target token of a batch of pairs (teacher forcing)."""
    batch = make_batch(vocab, [p.source for p in pairs], [p.target for p in pairs], options.max_source, options.max_target)
    n_oov = len(batch.oov) if model.copy else 0
    return model.loss(batch.src_ids, batch.src_lengths, batch.tgt_in, batch.tgt_out, batch.src_ext_ids, n_oov)


@contextmanager
def evaluation_mode(model: torch.nn.Module) -> Iterator[torch.nn.Module]:
    """``model`` in ``eval()`` mode (no dropout) inside the block, then back in the mode it was in."""
    was_training = model.training
    model.eval()
    try:
        yield model
    finally:
        model.train(was_training)


@torch.no_grad()
def seq2seq_dev_scores(model: Seq2Seq, vocab: Vocabulary, pairs: Sequence[Pair], options: Seq2SeqOptions) -> dict:
    """Token-weighted dev NLL, its negative (the selection key) and perplexity; in eval mode, leaving
    the model in the mode it was in."""
    total, count = 0.0, 0
    with evaluation_mode(model):
        for batch in _batches(pairs, 64, None):
            n = sum(min(len(p.target), options.max_target) + 1 for p in batch)
            total += seq2seq_loss(model, vocab, batch, options).item() * n
            count += n
    nll = total / max(count, 1)
    return {"dev_log_likelihood": -nll, "dev_perplexity": math.exp(nll)}


def train_seq2seq(
    train: Sequence[Pair],
    dev: Sequence[Pair],
    options: Seq2SeqOptions = Seq2SeqOptions(),
    settings: GenerationSettings = GenerationSettings(),
    log_path: str | Path | None = None,
    progress: bool = True,
) -> tuple[Seq2Seq, Vocabulary, TrainResult]:
    """Build a vocabulary from ``train`` and train a Seq2Seq on it, keeping the best epoch on ``dev``."""
    torch.manual_seed(settings.seed)
    rng = random.Random(settings.seed)
    vocab = Vocabulary.build((tokens for p in train for tokens in (p.source, p.target)), min_count=options.min_count)
    model = build_seq2seq(vocab, options, pretrained_matrix(vocab) if options.pretrained and not options.lm_path else None)
    if options.lm_path:
        init_from_pretrained_lm(model, vocab, options.lm_path, [p.target for p in train])
    optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=settings.learn_rate)

    def train_epoch(epoch: int) -> float:
        model.train()
        total = 0.0
        batches = _batches(train, settings.batch_size, rng)
        for batch in tqdm(batches, desc=f"seq2seq epoch {epoch}", leave=False, disable=not progress):
            optimizer.zero_grad()
            loss = seq2seq_loss(model, vocab, batch, options)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), settings.grad_clip)
            optimizer.step()
            total += loss.item()
        return total / max(len(batches), 1)

    result = run_epochs(
        settings.metric,
        settings,
        train_epoch,
        evaluate=lambda: seq2seq_dev_scores(model, vocab, dev, options),
        snapshot=lambda: copy.deepcopy(model.state_dict()),
        restore=model.load_state_dict,
        log_path=log_path,
        progress=progress,
    )
    model.eval()
    return model, vocab, result


def article_streams(articles: Sequence[Sequence[Sequence[str]]], themes: Sequence[str], vocab: Vocabulary):
    """One id stream per theme: the articles' sentences, each followed by </s> (one <s> at the start)."""
    streams: dict[int, list[int]] = {}
    for sentences, theme in zip(articles, themes):
        stream = streams.setdefault(THEME_IDS[theme], [vocab.stoi["<s>"]])
        for tokens in sentences:
            stream.extend(vocab.encode([*tokens, EOS]))
    return streams


def lm_chunks(streams: dict[int, list[int]], batch_size: int, bptt: int):
    """(theme id, input (B, L), target (B, L)) chunks of every theme's stream, theme by theme."""
    for theme, stream in streams.items():
        rows = max(1, min(batch_size, len(stream) // (2 * bptt)))
        for inputs, targets in truncated_bptt_batches(stream, rows, bptt):
            yield theme, inputs, targets


def lm_nll(model: LSTMLanguageModel, streams: dict[int, list[int]], batch_size: int, bptt: int) -> tuple[float, int]:
    """Summed NLL and token count of the streams' targets (:func:`pipeline.nn.language_model.summed_nll`),
    state carried within each theme's stream; in eval mode, leaving the model in the mode it was in."""
    total, count = 0.0, 0
    with evaluation_mode(model):
        for theme, stream in streams.items():
            rows = max(1, min(batch_size, len(stream) // (2 * bptt)))
            theme_ids = torch.tensor([theme]) if model.theme_embed is not None else None  # (1,), expanded per batch
            nll, n = summed_nll(model, truncated_bptt_batches(stream, rows, bptt), theme_ids)
            total, count = total + nll, count + n
    return total, count


def train_language_model(
    train_streams: dict[int, list[int]],
    dev_streams: dict[int, list[int]],
    vocab: Vocabulary,
    options: LMOptions = LMOptions(),
    settings: GenerationSettings = GenerationSettings(batch_size=16),
    log_path: str | Path | None = None,
    progress: bool = True,
) -> tuple[LSTMLanguageModel, TrainResult]:
    """Train the LSTM LM with truncated BPTT (chunks of ``options.bptt``), best epoch on dev."""
    torch.manual_seed(settings.seed)
    model = build_language_model(
        vocab, options, pretrained_matrix(vocab, options.embed_dim) if options.pretrained else None)
    optimizer = torch.optim.Adam(model.parameters(), lr=settings.learn_rate)

    def train_epoch(epoch: int) -> float:
        model.train()
        total, n, state, current = 0.0, 0, None, None
        chunks = list(lm_chunks(train_streams, settings.batch_size, options.bptt))
        for theme, inputs, targets in tqdm(chunks, desc=f"lm epoch {epoch}", leave=False, disable=not progress):
            if theme != current:
                state, current = None, theme
            theme_ids = torch.full((inputs.size(0),), theme, dtype=torch.long) if options.themes else None
            optimizer.zero_grad()
            log_probs, state = model(inputs, state, theme_ids)  # (B, L, V)
            state = detach_state(state)  # truncated BPTT: no gradient into earlier chunks
            loss = F.nll_loss(log_probs.transpose(1, 2), targets)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), settings.grad_clip)
            optimizer.step()
            total, n = total + loss.item(), n + 1
        return total / max(n, 1)

    def evaluate() -> dict:
        nll, count = lm_nll(model, dev_streams, settings.batch_size, options.bptt)
        return {"dev_log_likelihood": -nll / count, "dev_perplexity": math.exp(nll / count)}

    result = run_epochs(
        settings.metric,
        settings,
        train_epoch,
        evaluate=evaluate,
        snapshot=lambda: copy.deepcopy(model.state_dict()),
        restore=model.load_state_dict,
        log_path=log_path,
        progress=progress,
    )
    model.eval()
    return model, result
