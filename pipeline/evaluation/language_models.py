"""Language models compared on the KNBC test articles over one shared vocabulary (the pretrained model's):
the pretrained bidirectional LM as it is, fine-tuned on the KNBC training articles, the same network
trained on those articles alone, and Kneser–Ney 3-gram. A word outside the vocabulary is read as
``<unk>``, which every model predicts like any other word (so the models share one closed vocabulary).
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict
from pathlib import Path

from pipeline.evaluation.ngram_lm import UNK, KneserNeyLM
from pipeline.ginza import ginza_vocab
from pipeline.models.features import vectors_table
from pipeline.models.pretrained_lm import load_bilm
from pipeline.training.lm_finetune import (
    FinetuneSettings,
    finetune_bilm,
    knbc_sentences,
    knbc_streams,
    mean_perplexity,
    stream_perplexity,
)
from pipeline.training.pretrain import tokenize


def compare_language_models(pretrained: str | Path, out: str | Path | None = None,
                            settings: FinetuneSettings = FinetuneSettings(), progress: bool = True) -> dict:
    """Test perplexity on the KNBC test articles over the pretrained model's vocabulary, for: the pretrained
    LM as it is, fine-tuned on the KNBC training articles, the same network trained on them alone, and
    Kneser–Ney 3-gram on the same vocabulary. Writes ``results.json`` to ``out`` when given."""
    _, vocab, options = load_bilm(pretrained, vectors_table(ginza_vocab()))
    streams = knbc_streams(vocab)
    results: dict = {"vocabulary": len(vocab), "pretrained": str(pretrained), "settings": asdict(settings)}
    model, _, _ = load_bilm(pretrained, vectors_table(ginza_vocab()))
    results["pretrained, not fine-tuned"] = {"test": stream_perplexity(model, streams["test"], settings.bptt)}
    for name, init in (("pretrained + fine-tuned on KNBC", pretrained), ("KNBC only (same network)", None)):
        start = time.time()
        model, history = finetune_bilm(streams, vocab, options, init, settings, progress=progress)
        best = min(history[1:] if init is None else history, key=lambda h: mean_perplexity(h["dev"]))
        results[name] = {"test": stream_perplexity(model, streams["test"], settings.bptt), "best_epoch": best["epoch"],
                         "dev": best["dev"], "seconds": round(time.time() - start, 1)}
    words = {split: tokenize(knbc_sentences(split))[0] for split in ("train", "test")}
    closed = lambda sentences: [[w if w in vocab.stoi else UNK for w in s] for s in sentences]  # noqa: E731
    kn = KneserNeyLM(order=3, min_count=1).fit(closed(words["train"]))
    test = closed(words["test"])
    results["Kneser-Ney 3-gram (same vocabulary)"] = {"test": {"forward": {
        "perplexity": kn.perplexity(test), "tokens": sum(len(s) + 1 for s in test)}}}
    unk = vocab.stoi[UNK] if UNK in vocab.stoi else 1
    results["unknown_rate_test"] = float((streams["test"].ids == unk).mean())
    if out is not None:
        Path(out).mkdir(parents=True, exist_ok=True)
        (Path(out) / "results.json").write_text(json.dumps(results, ensure_ascii=False, indent=2), encoding="utf-8")
    return results
