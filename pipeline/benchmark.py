"""Speed and memory of a trained pipeline against GiNZA's tokenizer alone, measured in one run."""

from __future__ import annotations

import platform
import resource
import statistics
import time
from pathlib import Path
from typing import Sequence

import torch

from pipeline.corpus import shipped_corpus
from pipeline.loading import DEFAULT_PIPELINE, load


def _rate(run, n_texts: int, repeats: int) -> float:
    """Texts per second: the best of ``repeats`` timed runs."""
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - started)
    return n_texts / best


def benchmark(model: str | Path = DEFAULT_PIPELINE, texts: Sequence[str] | None = None, repeats: int = 3,
              batch_size: int = 256, latency_calls: int = 200) -> dict:
    """Sentences/s of the tokenizer alone and of tokenizer + classifiers, one-sentence latency, peak memory."""
    rss_start = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    nlp = load(model)
    nlp.select_pipes(enable=[name for name, pipe in nlp.pipeline if hasattr(pipe, "labels")])  # the classifiers
    rss_loaded = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    texts = list(texts) if texts is not None else [s.text for s in shipped_corpus().sentences]
    list(nlp.pipe(texts[:256], batch_size=batch_size))  # warm up (lazy loading, allocations)
    tokenizer_rate = _rate(lambda: list(nlp.tokenizer.pipe(texts, batch_size=batch_size)), len(texts), repeats)
    pipeline_rate = _rate(lambda: list(nlp.pipe(texts, batch_size=batch_size)), len(texts), repeats)
    sentence = "京都の紅葉がきれいでした。"
    latencies = []
    for _ in range(latency_calls):
        started = time.perf_counter()
        nlp(sentence)
        latencies.append(time.perf_counter() - started)
    return {
        "model": str(model),
        "components": nlp.pipe_names,
        "texts": len(texts),
        "tokens": sum(len(doc) for doc in nlp.tokenizer.pipe(texts)),
        "tokenizer_sentences_per_s": round(tokenizer_rate, 1),
        "pipeline_sentences_per_s": round(pipeline_rate, 1),
        "pipeline_over_tokenizer": round(pipeline_rate / tokenizer_rate, 3),
        "latency_ms_median": round(statistics.median(latencies) * 1000, 2),
        "latency_ms_p95": round(sorted(latencies)[int(0.95 * len(latencies)) - 1] * 1000, 2),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "rss_for_loading_mb": round((rss_loaded - rss_start) / 1024, 1),
        "batch_size": batch_size,
        "torch_threads": torch.get_num_threads(),
        "machine": f"{platform.machine()}, {platform.python_implementation()} {platform.python_version()}",
    }


def generation_benchmark(model: str | Path, n_inputs: int = 100) -> dict:
    """Decoding speed of a Seq2Seq generator, greedy and beam 4, on the first test inputs of its task."""
    from pipeline.evaluation.generation import BEAM4, GREEDY, decode_all
    from pipeline.generation.generator import load_generator
    from pipeline.generation.tasks import task_pairs

    generator = load_generator(model)
    if not hasattr(generator, "task"):
        raise ValueError(f"{model}: decoding speed is measured for Seq2Seq generators, not language models")
    pairs = task_pairs(generator.task, "test")[:n_inputs]
    results = {"model": str(model), "task": generator.task, "inputs": len(pairs), "torch_threads": torch.get_num_threads()}
    for label, decoding in (("greedy", GREEDY), ("beam4", BEAM4)):
        results[f"{label}_sentences_per_s"] = round(decode_all(generator, pairs, decoding)[1], 1)
    return results
