"""Speed and memory of a trained pipeline against GiNZA's tokenizer alone, measured in one run."""

from __future__ import annotations

import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Sequence

import torch

from pipeline.corpus import shipped_corpus
from pipeline.errors import UsageError
from pipeline.loading import DEFAULT_PIPELINE, load

TORCH_DEFAULT_THREADS = torch.get_num_threads()  # torch's own choice, before load() sets ours


def _timings(runs: dict, repeats: int) -> dict[str, list[float]]:
    """Seconds of each of ``repeats`` timed runs of each of ``runs`` (name: function), taken in turns
    so that a machine shared with other jobs slows them alike."""
    seconds: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(repeats):
        for name, run in runs.items():
            started = time.perf_counter()
            run()
            seconds[name].append(time.perf_counter() - started)
    return seconds


SENTENCE = "京都の紅葉がきれいでした。"


def component_seconds(nlp, texts: Sequence[str]) -> dict[str, float]:
    """Seconds each step of ``nlp.pipe(texts)`` took in one pass: ``tokenizer`` and each component by name
    (the time between a Doc leaving the step before and leaving this one, summed; components stream Docs
    through one another, so each gets the time spent inside its own ``pipe``)."""
    marks: dict[str, float] = {}  # step name -> total seconds up to a Doc leaving it

    def timed(name: str, docs):
        iterator = iter(docs)
        while True:
            started = time.perf_counter()
            try:
                doc = next(iterator)
            except StopIteration:
                return
            marks[name] = marks.get(name, 0.0) + time.perf_counter() - started
            yield doc

    stream = timed("tokenizer", nlp.tokenizer.pipe(texts))
    names = ["tokenizer"]
    for name, component in nlp.pipeline:
        piped = (component.pipe(stream, batch_size=nlp.batch_size) if hasattr(component, "pipe")  # as nlp.pipe calls it
                 else (component(doc) for doc in stream))
        stream = timed(name, piped)
        names.append(name)
    for _ in stream:
        pass
    # each step's timer includes the steps it pulls from: subtract the one before
    own, before = {}, 0.0
    for name in names:
        total = marks.get(name, 0.0)
        own[name] = round(max(total - before, 0.0), 3)
        before = total
    return own


def _latencies(nlp, calls: int, read_generated: bool = False) -> list[float]:
    """Seconds per ``nlp(SENTENCE)`` call (reading ``doc._.generated`` too, with ``read_generated``)."""
    latencies = []
    for _ in range(calls):
        started = time.perf_counter()
        doc = nlp(SENTENCE)
        if read_generated:
            doc._.generated
        latencies.append(time.perf_counter() - started)
    return latencies


def _summary(latencies: list[float]) -> dict:
    """Median and 95th percentile in milliseconds."""
    ordered = sorted(latencies)
    return {"median": round(statistics.median(ordered) * 1000, 2),
            "p95": round(ordered[max(0, int(0.95 * len(ordered)) - 1)] * 1000, 2)}


@contextmanager
def busy_cpu(processes: int = 1):
    """Keep ``processes`` other processes burning a core each while the block runs (another job's load)."""
    burners = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(processes)]
    try:
        time.sleep(0.5)  # let them get scheduled
        yield
    finally:
        for burner in burners:
            burner.kill()
            burner.wait()


def benchmark(model: str | Path = DEFAULT_PIPELINE, texts: Sequence[str] | None = None, repeats: int = 5,
              latency_calls: int = 200, busy: int = 0, generation_calls: int = 20) -> dict:
    """The pipeline :func:`pipeline.load` gives, called as a user calls it (``nlp.pipe(texts)``, default
    settings), against its tokenizer alone, in one run: sentences/s (the best of ``repeats`` runs) and their
    ratio, also within each round and its median (robust when the machine's speed drifts), one-sentence latency
    (and with ``doc._.generated`` read), peak memory, the seconds of each step in one more pass
    (:func:`component_seconds`); with ``busy`` > 0 also the latency while that many
    other processes burn a core each, with this package's torch threads and with torch's default."""
    rss_start = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    nlp = load(model)
    rss_loaded = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    texts = list(texts) if texts is not None else [s.text for s in shipped_corpus().sentences]
    list(nlp.pipe(texts[:256]))  # warm up (lazy loading, allocations)
    runs = {"tokenizer": lambda: list(nlp.tokenizer.pipe(texts)), "pipeline": lambda: list(nlp.pipe(texts))}
    if "knbc_vectors" in nlp.pipe_names:  # what the vector hooks cost
        runs["without_vectors"] = lambda: list(nlp.pipe(texts, disable=["knbc_vectors"]))
    if "knbc_sentences" in nlp.pipe_names:  # what the sentence splitter costs
        runs["without_sentences"] = lambda: list(nlp.pipe(texts, disable=["knbc_sentences"]))
    seconds = _timings(runs, repeats)
    rates = {name: len(texts) / min(times) for name, times in seconds.items()}  # the best run of each
    tokenizer_rate, pipeline_rate = rates["tokenizer"], rates["pipeline"]
    # the ratio within each round (the two runs next to each other in time), robust to a noisy machine
    round_ratios = [tok / pipe for tok, pipe in zip(seconds["tokenizer"], seconds["pipeline"])]
    results = {
        "model": str(model),
        "components": nlp.pipe_names,
        "texts": len(texts),
        "tokens": sum(len(doc) for doc in nlp.tokenizer.pipe(texts)),
        "tokenizer_sentences_per_s": round(tokenizer_rate, 1),
        "pipeline_sentences_per_s": round(pipeline_rate, 1),
        "pipeline_over_tokenizer": round(pipeline_rate / tokenizer_rate, 3),
        "pipeline_over_tokenizer_per_round": [round(r, 3) for r in round_ratios],
        "pipeline_over_tokenizer_median_round": round(statistics.median(round_ratios), 3),
    }
    if "without_vectors" in rates:
        results["pipeline_without_vectors_sentences_per_s"] = round(rates["without_vectors"], 1)
    if "without_sentences" in rates:
        results["pipeline_without_sentences_sentences_per_s"] = round(rates["without_sentences"], 1)
    results["seconds_per_step"] = component_seconds(nlp, texts)  # one more pass: where the time goes
    idle = _summary(_latencies(nlp, latency_calls))
    results.update({"latency_ms_median": idle["median"], "latency_ms_p95": idle["p95"]})
    if any(hasattr(pipe, "set_generator") for _, pipe in nlp.pipeline) and generation_calls:
        generated = _summary(_latencies(nlp, generation_calls, read_generated=True))
        results.update({"latency_with_generated_ms_median": generated["median"],
                        "latency_with_generated_ms_p95": generated["p95"]})
    if busy:
        threads = torch.get_num_threads()
        with busy_cpu(busy):
            loaded = _summary(_latencies(nlp, latency_calls))
            torch.set_num_threads(TORCH_DEFAULT_THREADS)
            default = _summary(_latencies(nlp, latency_calls))
            torch.set_num_threads(threads)
        results.update({"busy_processes": busy, "busy_latency_ms_median": loaded["median"],
                        "busy_latency_ms_p95": loaded["p95"],
                        "busy_torch_default_threads": TORCH_DEFAULT_THREADS,
                        "busy_latency_torch_default_threads_ms_median": default["median"],
                        "busy_latency_torch_default_threads_ms_p95": default["p95"]})
    results.update({
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "rss_for_loading_mb": round((rss_loaded - rss_start) / 1024, 1),
        "batch_size": nlp.batch_size,
        "torch_threads": torch.get_num_threads(),
        "cores": os.cpu_count(),
        "machine": f"{platform.machine()}, {platform.python_implementation()} {platform.python_version()}",
    })
    return results


def generation_benchmark(model: str | Path, n_inputs: int = 100) -> dict:
    """Decoding speed of a Seq2Seq generator, greedy and beam 4, on the first test inputs of its task."""
    from pipeline.evaluation.generation import BEAM4, GREEDY, decode_all
    from pipeline.models.generator import load_generator
    from pipeline.training.generation_tasks import task_pairs

    generator = load_generator(model)
    if not hasattr(generator, "task"):
        raise UsageError(f"{model}: decoding speed is measured for Seq2Seq generators, not language models")
    pairs = task_pairs(generator.task, "test")[:n_inputs]
    results = {"model": str(model), "task": generator.task, "inputs": len(pairs), "torch_threads": torch.get_num_threads()}
    for label, decoding in (("greedy", GREEDY), ("beam4", BEAM4)):
        results[f"{label}_sentences_per_s"] = round(decode_all(generator, pairs, decoding)[1], 1)
    return results


def process_benchmark(model: str | Path = DEFAULT_PIPELINE, n_process: int = 2, chunk_size: int = 256,
                      texts: Sequence[str] | None = None, longer: int = 4) -> dict:
    """Documents/s of ``knbc process`` for each engine, in one run: the tokenizer alone (one process),
    the pipeline in one process, in ``n_process`` local processes and on a local Dask cluster of
    ``n_process`` workers; on the 4,186 KNBC sentences (or ``texts``), then on them ``longer`` times
    over (keys ending ``_x<longer>``), where start-up (process spawning, pipeline loading: timed
    until the first chunk is written) weighs less. Every run is timed end to end."""
    import json
    import tempfile

    from pipeline.batch import AnnotateOptions, annotate, process

    texts = list(texts) if texts is not None else [s.text for s in shipped_corpus().sentences]
    runs = {
        "tokenizer_only": (AnnotateOptions(model=str(model), classifiers=()), "local", 1),
        "local_1_process": (AnnotateOptions(model=str(model)), "local", 1),
        f"local_{n_process}_processes": (AnnotateOptions(model=str(model)), "local", n_process),
        f"dask_local_{n_process}_workers": (AnnotateOptions(model=str(model)), "dask", n_process),
    }
    results: dict = {"model": str(model), "documents": len(texts), "chunk_size": chunk_size,
                     "cores": os.cpu_count(), "machine": f"{platform.machine()}, Python {platform.python_version()}"}
    with tempfile.TemporaryDirectory() as tmp:
        for suffix, corpus_texts in (("", texts), (f"_x{longer}", texts * longer)):
            corpus = Path(tmp) / f"knbc{suffix}.jsonl"
            corpus.write_text("".join(json.dumps({"text": t}, ensure_ascii=False) + "\n" for t in corpus_texts),
                              encoding="utf-8")
            for name, (options, engine, workers) in runs.items():
                annotate.forget_pipelines()  # every run loads its pipeline, as a fresh command does
                run = process([str(corpus)], Path(tmp) / f"{name}{suffix}.jsonl", options, engine=engine,
                              n_process=workers, chunk_size=chunk_size, progress=False)
                results[name + suffix] = {
                    "engine": engine, "workers": run.workers, "documents": run.records, "seconds": round(run.seconds, 2),
                    "docs_per_s": round(run.docs_per_s, 1), "until_first_chunk_seconds": round(run.first_chunk_seconds, 2),
                    "written": run.written, "errors": run.failed,
                    "docs_per_s_over_tokenizer": round(run.docs_per_s / results.get(f"tokenizer_only{suffix}", {}).get(
                        "docs_per_s", run.docs_per_s), 3),
                }
    return results
