"""Pretraining the bidirectional LM (:class:`pipeline.nn.bilm.BidirectionalLM`) on unlabelled text.

The text is tokenized once with GiNZA's tokenizer into two aligned streams — vocabulary ids (a
vocabulary of the most frequent words of the text) and ja_ginza vector rows (text → lemma → norm
lookup) — cached as ``data.npz`` in the checkpoint folder. Training runs both directions on every
step (the backward LM reads the streams reversed) with truncated BPTT, Adam and gradient clipping.

Checkpoints (``checkpoint.pt`` in a folder of your choice, outside the repository) hold the weights,
the optimizer, the carried LSTM states, the position in the epoch and the RNG state: a run stopped
and resumed ends with the same weights as one never stopped. ``log.jsonl`` gets a line per
checkpoint (tokens seen, tokens/s, train and dev perplexity of each direction).
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from pipeline.errors import UsageError
from pipeline.ginza import blank_japanese, ginza_vocab
from pipeline.models.features import VectorLookup, vectors_table
from pipeline.models.pretrained_lm import BiLMOptions, build_bilm, save_bilm
from pipeline.models.vocabulary import EOS, Vocabulary
from pipeline.nn.bilm import DIRECTIONS

CHECKPOINT, DATA, LOG = "checkpoint.pt", "data.npz", "log.jsonl"


@dataclass
class PretrainSettings:
    """How to train (recorded in the checkpoint and the exported model)."""

    epochs: float = 6.0  # passes over the training stream (fractions allowed)
    batch_size: int = 32  # parallel rows of the stream
    bptt: int = 35
    learn_rate: float = 2e-3
    grad_clip: float = 0.25
    dev_fraction: float = 0.01  # the last sentences, held out for dev perplexity
    dev_tokens: int = 50_000  # at most this many dev tokens scored per checkpoint
    checkpoint_minutes: float = 5.0
    seed: int = 0


@dataclass
class Streams:
    """Aligned id and vector-row streams (1-D int64), each sentence followed by </s> (row -1)."""

    ids: np.ndarray
    rows: np.ndarray


def read_sentences(text: Path | None = None) -> tuple[list[str], str]:
    """(sentences, a name for them): the lines of ``text`` (blank ones skipped), or the clean sentences of
    the shipped livedoor corpus."""
    if text is None:
        from pipeline.corpus.livedoor import livedoor_sentences

        return list(livedoor_sentences()), "livedoor news corpus (ldcc-20120915), clean sentences"
    try:
        lines = Path(text).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as err:
        raise UsageError(f"{text}: cannot read it as UTF-8 text: {err}") from None
    sentences = [line.strip() for line in lines if line.strip()]
    if not sentences:
        raise UsageError(f"{text}: no sentences (one per line expected)")
    return sentences, str(text)


def tokenize(sentences: Iterable[str], batch_size: int = 1000) -> tuple[list[list[str]], list[list[int]]]:
    """GiNZA tokens (spaces dropped) of each sentence, and their ja_ginza vector rows (-1: none)."""
    tokenizer, lookup = blank_japanese().tokenizer, VectorLookup(ginza_vocab())
    words, rows = [], []
    for doc in tokenizer.pipe(sentences, batch_size=batch_size):
        kept = [t for t in doc if not t.is_space]
        words.append([t.text for t in kept])
        rows.append([lookup.row(t) for t in kept])
    return words, rows


def make_streams(words: list[list[str]], rows: list[list[int]], vocab: Vocabulary) -> Streams:
    """The sentences as one stream of ids and one of vector rows."""
    eos = vocab.stoi[EOS]
    ids = [i for sentence in words for i in (*vocab.encode(sentence), eos)]
    flat_rows = [r for sentence in rows for r in (*sentence, -1)]
    return Streams(np.asarray(ids, dtype=np.int64), np.asarray(flat_rows, dtype=np.int64))


def prepare_data(sentences: list[str], folder: Path, options: BiLMOptions, dev_fraction: float,
                 progress: bool = True) -> tuple[Vocabulary, Streams, Streams]:
    """(vocabulary, train streams, dev streams), from ``folder/data.npz`` when it holds this text's."""
    cache = folder / DATA
    fingerprint = f"{len(sentences)}:{sum(map(len, sentences))}:{options.vocab_size}:{options.min_count}:{dev_fraction}"
    if cache.is_file():
        data = np.load(cache, allow_pickle=False)
        if str(data["fingerprint"]) == fingerprint:
            vocab = Vocabulary(json.loads(str(data["vocab"])))
            return vocab, Streams(data["train_ids"], data["train_rows"]), Streams(data["dev_ids"], data["dev_rows"])
        raise UsageError(f"{cache} was made from other text or settings; use another --checkpoints folder")
    start = time.time()
    words, rows = tokenize(tqdm(sentences, desc="tokenizing", disable=not progress, mininterval=5))
    n_dev = max(1, int(len(sentences) * dev_fraction))
    vocab = Vocabulary.build(words[:-n_dev], min_count=options.min_count, max_size=options.vocab_size - 4)
    train, dev = make_streams(words[:-n_dev], rows[:-n_dev], vocab), make_streams(words[-n_dev:], rows[-n_dev:], vocab)
    folder.mkdir(parents=True, exist_ok=True)
    np.savez(cache, fingerprint=fingerprint, vocab=json.dumps(vocab.to_dict()["tokens"], ensure_ascii=False),
             train_ids=train.ids, train_rows=train.rows, dev_ids=dev.ids, dev_rows=dev.rows)
    if progress:
        print(f"tokenized {len(sentences):,} sentences into {len(train.ids):,} + {len(dev.ids):,} tokens "
              f"in {time.time() - start:.0f} s; vocabulary {len(vocab):,}")
    return vocab, train, dev


def rows_by_id(streams: Streams, vocab_size: int) -> torch.Tensor:
    """(V,): each id's most frequent static vector row in ``streams`` (-1 where it never had one), so that
    generating an id can feed its vector back in."""
    seen = streams.rows >= 0
    width = int(streams.rows.max(initial=0)) + 1  # (id, row) pairs coded as id * width + row
    values, counts = np.unique(streams.ids[seen] * width + streams.rows[seen], return_counts=True)
    best = np.full(vocab_size, -1, dtype=np.int64)
    best_count = np.zeros(vocab_size, dtype=np.int64)
    for value, count in zip(values.tolist(), counts.tolist()):
        token, row = divmod(value, width)
        if count > best_count[token]:
            best[token], best_count[token] = row, count
    return torch.from_numpy(best)


def _grid(stream: np.ndarray, batch_size: int) -> torch.Tensor:
    """(B, N): the stream cut into ``batch_size`` rows read in parallel."""
    columns = len(stream) // batch_size
    if columns < 2:
        raise UsageError(f"a stream of {len(stream)} tokens is too short for batch_size={batch_size}")
    return torch.from_numpy(stream[: columns * batch_size].copy()).view(batch_size, columns)


def direction_grids(streams: Streams, batch_size: int) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """direction -> (ids (B, N), rows (B, N)); the backward LM reads the streams reversed."""
    return {
        "forward": (_grid(streams.ids, batch_size), _grid(streams.rows, batch_size)),
        "backward": (_grid(streams.ids[::-1], batch_size), _grid(streams.rows[::-1], batch_size)),
    }


def _detach(state):
    return [(h.detach(), c.detach()) for h, c in state]


@torch.no_grad()
def stream_perplexity(model, streams: Streams, bptt: int = 35, batch_size: int = 4) -> dict[str, dict]:
    """direction -> {"perplexity", "tokens"} over the whole stream, state carried, in eval mode (leaving
    the model in the mode it was in); every id counts, ``<unk>`` included (predicted like any other word)."""
    was_training = model.training
    model.eval()
    scores = {}
    for direction, (ids, rows) in direction_grids(streams, batch_size).items():
        total, count, state = 0.0, 0, None
        for i in range(0, ids.size(1) - 1, bptt):
            n = min(bptt, ids.size(1) - 1 - i)
            loss, k, state = model.loss(direction, rows[:, i:i + n], ids[:, i:i + n], ids[:, i + 1:i + 1 + n], state)
            total, count = total + loss.item(), count + k
        scores[direction] = {"perplexity": math.exp(total / max(count, 1)), "tokens": count}
    model.train(was_training)
    return scores


def dev_perplexity(model, streams: Streams, bptt: int, max_tokens: int) -> dict[str, float]:
    """Perplexity of each direction on the first ``max_tokens`` of the dev streams."""
    cut = Streams(streams.ids[:max_tokens], streams.rows[:max_tokens])
    return {direction: score["perplexity"] for direction, score in stream_perplexity(model, cut, bptt).items()}


def _resumable(settings: dict) -> dict:
    """The settings a resumed run must share with the checkpoint (more epochs or other checkpoint
    intervals are fine)."""
    return {k: v for k, v in settings.items() if k not in ("epochs", "checkpoint_minutes")}


def _save_checkpoint(folder: Path, payload: dict) -> None:
    tmp = folder / (CHECKPOINT + ".tmp")
    torch.save(payload, tmp)
    os.replace(tmp, folder / CHECKPOINT)  # atomic: an interrupted save leaves the previous checkpoint


def pretrain(
    sentences: list[str],
    checkpoints: str | Path,
    out: str | Path | None = None,
    options: BiLMOptions = BiLMOptions(),
    settings: PretrainSettings = PretrainSettings(),
    max_minutes: float | None = None,
    max_steps: int | None = None,
    progress: bool = True,
    data_name: str = "",
) -> dict:
    """Train (or resume from ``checkpoints/checkpoint.pt``) until ``settings.epochs`` passes, ``max_minutes``
    of this call or ``max_steps`` steps of this call; checkpoint on the way and at the end, and export the
    model to ``out`` (when given). Returns the last log line."""
    folder = Path(checkpoints)
    folder.mkdir(parents=True, exist_ok=True)
    vocab, train, dev = prepare_data(sentences, folder, options, settings.dev_fraction, progress)
    torch.manual_seed(settings.seed)
    model = build_bilm(vocab, options, vectors_table(ginza_vocab()))
    optimizer = torch.optim.Adam(model.parameters(), lr=settings.learn_rate)
    grids = direction_grids(train, settings.batch_size)
    columns = grids["forward"][0].size(1)
    steps_per_epoch = math.ceil((columns - 1) / settings.bptt)
    total_steps = int(settings.epochs * steps_per_epoch)
    step, tokens, seconds, states = 0, 0, 0.0, {d: None for d in DIRECTIONS}
    if (folder / CHECKPOINT).is_file():
        saved = torch.load(folder / CHECKPOINT, weights_only=True)
        if saved["options"] != asdict(options) or _resumable(saved["settings"]) != _resumable(asdict(settings)):
            raise UsageError(f"{folder / CHECKPOINT} was made with other options or settings; use another folder")
        model.load_state_dict(saved["model"])
        optimizer.load_state_dict(saved["optimizer"])
        step, tokens, seconds = saved["step"], saved["tokens"], saved["seconds"]
        states = {d: (None if not saved["states"][d] else [tuple(s) for s in saved["states"][d]]) for d in DIRECTIONS}
        torch.set_rng_state(saved["rng"])
    model.train()
    started, last_checkpoint, this_call = time.time(), time.time(), 0
    window = {d: [0.0, 0] for d in DIRECTIONS}
    bar = tqdm(total=total_steps, initial=step, desc="pretraining", unit="step", disable=not progress,
               mininterval=5, smoothing=0.05)
    record: dict = {}

    def checkpoint() -> dict:
        nonlocal last_checkpoint, window
        elapsed = seconds + time.time() - started
        dev_ppl = dev_perplexity(model, dev, settings.bptt, settings.dev_tokens)
        line = {"step": step, "epoch": round(step / steps_per_epoch, 4), "tokens": tokens,
                "seconds": round(elapsed, 1), "tokens_per_s": round(tokens / max(elapsed, 1e-9)),
                **{f"train_ppl_{d}": round(math.exp(t / n), 2) if n else None for d, (t, n) in window.items()},
                **{f"dev_ppl_{d}": round(p, 2) for d, p in dev_ppl.items()}}
        _save_checkpoint(folder, {
            "model": model.state_dict(), "optimizer": optimizer.state_dict(), "step": step, "tokens": tokens,
            "seconds": elapsed, "rng": torch.get_rng_state(), "options": asdict(options), "settings": asdict(settings),
            "states": {d: [list(s) for s in (states[d] or [])] for d in DIRECTIONS},
        })
        with open(folder / LOG, "a", encoding="utf-8") as log:
            log.write(json.dumps(line) + "\n")
        last_checkpoint, window = time.time(), {d: [0.0, 0] for d in DIRECTIONS}
        return line

    while step < total_steps:
        if max_steps is not None and this_call >= max_steps:
            break
        if max_minutes is not None and time.time() - started > max_minutes * 60:
            break
        i = (step % steps_per_epoch) * settings.bptt
        if i == 0:
            states = {d: None for d in DIRECTIONS}  # a new pass starts from zeros
        n = min(settings.bptt, columns - 1 - i)
        optimizer.zero_grad()
        total_loss, total_count = 0.0, 0
        for direction, (ids, rows) in grids.items():
            loss, count, state = model.loss(direction, rows[:, i:i + n], ids[:, i:i + n], ids[:, i + 1:i + 1 + n],
                                            states[direction])
            states[direction] = _detach(state)
            (loss / max(count, 1)).backward()
            window[direction][0] += loss.item()
            window[direction][1] += count
            total_loss, total_count = total_loss + loss.item(), total_count + count
        torch.nn.utils.clip_grad_norm_(model.parameters(), settings.grad_clip)
        optimizer.step()
        step, this_call, tokens = step + 1, this_call + 1, tokens + total_count // 2
        bar.update(1)
        if step % 50 == 0:
            bar.set_postfix(tok_s=f"{tokens / max(seconds + time.time() - started, 1e-9):,.0f}",
                            ppl=f"{math.exp(total_loss / max(total_count, 1)):.0f}")
        if time.time() - last_checkpoint > settings.checkpoint_minutes * 60:
            record = checkpoint()
    bar.close()
    record = checkpoint()
    if out is not None:
        save_bilm(out, model, vocab, options, settings=asdict(settings), data=data_name, trained=record,
                  rows_by_id=rows_by_id(train, len(vocab)).tolist())
    return record
