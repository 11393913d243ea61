"""Language models compared on the KNBC test articles over one shared vocabulary (the pretrained model's):
the pretrained bidirectional LM as it is, fine-tuned on the KNBC training articles, the same network
trained on those articles alone, and Kneser–Ney 3-gram. A word outside the vocabulary is read as
``<unk>``, which every model predicts like any other word (so the models share one closed vocabulary).
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict
from pathlib import Path

from pipeline.evaluation.ngram_lm import UNK, KneserNeyLM
from pipeline.ginza import ginza_vocab
from pipeline.models.features import vectors_table
from pipeline.models.generator import PretrainedLMGenerator
from pipeline.models.pretrained_lm import load_bilm, saved_rows_by_id
from pipeline.training.lm_finetune import (
    FinetuneSettings,
    finetune_bilm,
    knbc_sentences,
    knbc_streams,
    mean_perplexity,
)
from pipeline.training.pretrain import stream_perplexity, tokenize


def compare_language_models(pretrained: str | Path, out: str | Path | None = None,
                            settings: FinetuneSettings = FinetuneSettings(), progress: bool = True,
                            save_generator: str | Path | None = None) -> dict:
    """Test perplexity on the KNBC test articles over the pretrained model's vocabulary, for: the pretrained
    LM as it is, fine-tuned on the KNBC training articles, the same network trained on them alone, and
    Kneser–Ney 3-gram on the same vocabulary. Writes ``results.json`` to ``out`` when given."""
    model, vocab, options = load_bilm(pretrained, vectors_table(ginza_vocab()))
    streams = knbc_streams(vocab)
    results: dict = {"vocabulary": len(vocab), "pretrained": str(pretrained), "settings": asdict(settings)}
    results["pretrained, not fine-tuned"] = {"test": stream_perplexity(model, streams["test"], settings.bptt)}
    for name, init in (("pretrained + fine-tuned on KNBC", pretrained), ("KNBC only (same network)", None)):
        start = time.time()
        model, history = finetune_bilm(streams, vocab, options, init, settings, progress=progress)
        best = min(history[1:] if init is None else history, key=lambda h: mean_perplexity(h["dev"]))
        results[name] = {"test": stream_perplexity(model, streams["test"], settings.bptt), "best_epoch": best["epoch"],
                         "dev": best["dev"], "seconds": round(time.time() - start, 1)}
        if init is not None and save_generator is not None:  # the fine-tuned forward LM writes continuations
            PretrainedLMGenerator(model, vocab, options, saved_rows_by_id(pretrained)).save(save_generator)
            results[name]["saved_as"] = str(save_generator)
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


def compare_continuation(pretrained_generator: str | Path, seq2seq: str | Path, limit: int | None = None,
                         n_samples: int = 20, tune: bool = True) -> dict:
    """The sentence after a sentence, on the continuation pairs of the KNBC test articles: the fine-tuned
    pretrained LM and the Seq2Seq continuation model, each with beam search (4) with and without the
    bigram repetition block, and a retrieval baseline (the next sentence of the training sentence that
    shares the most tokens). Perplexity of the reference next sentences: the pretrained LM's over its own
    30k vocabulary, the Seq2Seq's over its own (smaller) one with copying; each counts ``</s>``.

    With ``tune``, the pretrained LM's decoding is first chosen on the dev articles' pairs among
    :data:`~pipeline.evaluation.generation.DECODING_CANDIDATES` (by chrF), saved into its folder (what
    ``knbc assemble`` and ``knbc generate`` then use), and scored on the test pairs as one more row."""
    from pipeline.evaluation.generation import BEAM4, BEAM4_BLOCKED, choose_decoding, decode_all, score_outputs
    from pipeline.evaluation.retrieval import KeywordRetriever
    from pipeline.models.generator import load_generator
    from pipeline.training.generation import seq2seq_dev_scores
    from pipeline.training.generation_tasks import task_pairs

    pairs = task_pairs("continuation", "test")[:limit]
    rows: dict = {}
    outputs: dict = {}
    lm = load_generator(pretrained_generator, vectors_table(ginza_vocab()))
    sentence_pairs = [type(p)(p.sid, p.source[1:], p.target, p.theme) for p in pairs]  # the theme token left out
    nll = [lm.target_nll(p.source, p.target) for p in sentence_pairs]
    lm_perplexity = math.exp(sum(n for n, _ in nll) / sum(c for _, c in nll))
    seq = load_generator(seq2seq)
    seq_perplexity = seq2seq_dev_scores(seq.model, seq.vocab, pairs, seq.options)["dev_perplexity"]
    tuned: dict = {}
    if tune:
        dev = [type(p)(p.sid, p.source[1:], p.target, p.theme) for p in task_pairs("continuation", "dev")[:limit]]
        label, lm.decoding, scores = choose_decoding(lm, dev)
        lm.save(pretrained_generator)
        tuned = {f"{label}, no repeated bigram; chosen on dev": lm.decoding}
        rows_dev = {"dev_pairs": len(dev), "chrf": scores, "chosen": label}
    for name, generator, inputs, perplexity, extra in (
        ("pretrained LM, fine-tuned", lm, sentence_pairs, lm_perplexity, tuned),
        ("Seq2Seq + attention + copy", seq, pairs, seq_perplexity, {}),
    ):
        for label, decoding in (("beam4", BEAM4), ("beam4, no repeated bigram", BEAM4_BLOCKED), *extra.items()):
            generated, rate = decode_all(generator, inputs, decoding)
            system = f"{name} ({label})"
            rows[system] = {**score_outputs([g.tokens for g in generated], pairs), "perplexity": perplexity,
                            "sentences_per_s": rate}
            outputs[system] = ["".join(g.tokens) for g in generated]
    train = task_pairs("continuation", "train")
    retriever = KeywordRetriever([(p.source[1:], "\x00".join(p.target)) for p in train])
    retrieved = [r.split("\x00") for r in retriever.retrieve_batch([p.source for p in sentence_pairs])]
    rows["retrieval (most shared tokens)"] = score_outputs(retrieved, pairs)
    outputs["retrieval (most shared tokens)"] = ["".join(r) for r in retrieved]
    samples = [{"source": "".join(p.source), "outputs": {"reference": "".join(p.target),
                                                         **{system: out[i] for system, out in outputs.items()}}}
               for i, p in enumerate(sentence_pairs[:n_samples])]
    result = {"test_pairs": len(pairs), "rows": rows, "samples": samples}
    if tune:
        result["decoding_on_dev"] = rows_dev
    return result
