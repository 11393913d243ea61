"""Fine-tuning the pretrained bidirectional LM on KNBC text (ULMFiT's target-text LM step), or training
the same network on KNBC alone, over one fixed vocabulary: the comparison pretraining is judged by.

Only the training articles of the shared split are trained on; the dev articles choose the epoch
(lowest mean perplexity of the two directions), and the test articles are only ever scored.
"""

from __future__ import annotations

import copy
import json
import math
import random
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from tqdm.auto import tqdm

from pipeline.corpus import shipped_corpus
from pipeline.corpus.splits import load_splits
from pipeline.ginza import ginza_vocab
from pipeline.models.features import vectors_table
from pipeline.models.pretrained_lm import BiLMOptions, build_bilm, load_bilm
from pipeline.models.vocabulary import Vocabulary
from pipeline.nn.bilm import DIRECTIONS
from pipeline.training.pretrain import Streams, direction_grids, make_streams, stream_perplexity, tokenize


@dataclass
class FinetuneSettings:
    """How to fine-tune (or train from scratch) on KNBC."""

    max_epochs: int = 30
    patience: int = 3
    batch_size: int = 16
    bptt: int = 35
    learn_rate: float = 1e-3
    grad_clip: float = 0.25
    seed: int = 0


def knbc_sentences(split: str) -> list[str]:
    """The non-empty sentences of the split's articles, in corpus (article) order."""
    splits = load_splits()
    return [r.text for r in splits.select(shipped_corpus().sentences, split) if r.text.strip()]


def knbc_streams(vocab: Vocabulary) -> dict[str, Streams]:
    """split -> the KNBC streams of that split over ``vocab`` (tokenized with GiNZA's tokenizer)."""
    return {split: make_streams(*tokenize(knbc_sentences(split)), vocab) for split in ("train", "dev", "test")}


def mean_perplexity(scores: dict[str, dict]) -> float:
    return sum(scores[d]["perplexity"] for d in DIRECTIONS) / len(DIRECTIONS)


def finetune_bilm(
    streams: dict[str, Streams],
    vocab: Vocabulary,
    options: BiLMOptions,
    init: str | Path | None = None,
    settings: FinetuneSettings = FinetuneSettings(),
    log_path: str | Path | None = None,
    progress: bool = True,
):
    """Train on ``streams["train"]`` from the pretrained model at ``init`` (or from scratch), keep the epoch
    with the lowest dev perplexity; returns (model, history)."""
    torch.manual_seed(settings.seed)
    random.seed(settings.seed)
    vectors = vectors_table(ginza_vocab())
    if init is not None:
        model, saved_vocab, _ = load_bilm(init, vectors)
        if saved_vocab.itos != vocab.itos:
            raise ValueError(f"{init}: its vocabulary differs from the one given")
        model.train()
    else:
        model = build_bilm(vocab, options, vectors)
    optimizer = torch.optim.Adam(model.parameters(), lr=settings.learn_rate)
    grids = direction_grids(streams["train"], settings.batch_size)
    columns = grids["forward"][0].size(1)
    best, best_state, history, waited = math.inf, None, [], 0
    start = time.time()
    initial = stream_perplexity(model, streams["dev"], settings.bptt)
    history.append({"epoch": 0, "dev": initial, "seconds": 0.0})
    if init is not None:
        best, best_state = mean_perplexity(initial), copy.deepcopy(model.state_dict())
    for epoch in tqdm(range(1, settings.max_epochs + 1), desc="fine-tuning", disable=not progress):
        model.train()
        states = {d: None for d in DIRECTIONS}
        for i in range(0, columns - 1, settings.bptt):
            n = min(settings.bptt, columns - 1 - i)
            optimizer.zero_grad()
            for direction, (ids, rows) in grids.items():
                loss, count, state = model.loss(direction, rows[:, i:i + n], ids[:, i:i + n], ids[:, i + 1:i + 1 + n],
                                                states[direction])
                states[direction] = [(h.detach(), c.detach()) for h, c in state]
                (loss / max(count, 1)).backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), settings.grad_clip)
            optimizer.step()
        dev = stream_perplexity(model, streams["dev"], settings.bptt)
        history.append({"epoch": epoch, "dev": dev, "seconds": round(time.time() - start, 1)})
        if log_path is not None:
            with open(log_path, "a", encoding="utf-8") as log:
                log.write(json.dumps(history[-1]) + "\n")
        if mean_perplexity(dev) < best:
            best, best_state, waited = mean_perplexity(dev), copy.deepcopy(model.state_dict()), 0
        else:
            waited += 1
            if waited > settings.patience:
                break
    model.load_state_dict(best_state)
    return model.eval(), history
