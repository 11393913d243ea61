"""Where ``knbc process`` runs its chunks: this process, local worker processes, or a Dask cluster.

Every engine maps :func:`~pipeline.batch.annotate.annotate_chunk` over the chunks and yields the
results in input order, with a bounded number of chunks in flight, so memory stays constant however
large the input is.
"""

from __future__ import annotations

import multiprocessing
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from typing import Optional

from pipeline.batch.annotate import AnnotateOptions, annotate_chunk, loaded_pipeline
from pipeline.errors import EngineError

ENGINES = ("local", "dask")


def ordered_map(submit: Callable, wait: Callable, items: Iterable, in_flight: int) -> Iterator:
    """``wait(submit(item))`` for each item in order, with at most ``in_flight`` items submitted ahead."""
    pending: deque = deque()
    for item in items:
        pending.append(submit(item))
        if len(pending) >= in_flight:
            yield wait(pending.popleft())
    while pending:
        yield wait(pending.popleft())


class InProcessEngine:
    """Chunks annotated one after another in this process."""

    workers = 1

    def __init__(self, options: AnnotateOptions):
        self.options = options
        loaded_pipeline(options)

    def map(self, chunks: Iterable[list[str]]) -> Iterator[list[dict]]:
        """Annotated chunks, in order."""
        return (annotate_chunk(self.options, chunk) for chunk in chunks)

    def close(self) -> None:
        """Nothing to release."""


class ProcessPoolEngine:
    """``n_process`` local worker processes (started fresh, not forked), each loading the pipeline once."""

    def __init__(self, options: AnnotateOptions, n_process: int):
        self.options = options
        self.workers = n_process
        context = multiprocessing.get_context("spawn")  # forking a process that holds torch threads can hang
        self.pool = context.Pool(n_process, initializer=loaded_pipeline, initargs=(options,))

    def map(self, chunks: Iterable[list[str]]) -> Iterator[list[dict]]:
        """Annotated chunks, in order."""
        submit = lambda chunk: self.pool.apply_async(annotate_chunk, (self.options, chunk))  # noqa: E731
        return ordered_map(submit, lambda result: result.get(), chunks, in_flight=2 * self.workers)

    def close(self) -> None:
        """Stop the worker processes."""
        self.pool.terminate()
        self.pool.join()


class DaskEngine:
    """A Dask distributed cluster: the one at ``scheduler`` (``tcp://host:8786``), or a local cluster of
    ``n_workers`` single-threaded worker processes. Each worker loads the pipeline once, from the same
    path, so the model folder must be reachable at that path on every worker."""

    def __init__(self, options: AnnotateOptions, scheduler: Optional[str] = None, n_workers: int = 2):
        try:
            from distributed import Client, LocalCluster
        except ImportError as err:
            raise EngineError("the Dask engine needs dask.distributed: pip install 'dask[distributed]'") from err
        self.options = options
        self.cluster = None
        try:
            if scheduler:
                self.client = Client(scheduler, timeout="20s")
            else:
                self.cluster = LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True,
                                            dashboard_address=None, silence_logs=40)
                self.client = Client(self.cluster)
        except (OSError, TimeoutError) as err:
            raise EngineError(f"cannot reach the Dask scheduler {scheduler}: {err}") from err
        self.workers = len(self.client.scheduler_info()["workers"])
        if not self.workers:
            self.close()
            raise EngineError(f"the Dask cluster at {scheduler} has no workers")

    def map(self, chunks: Iterable[list[str]]) -> Iterator[list[dict]]:
        """Annotated chunks, in order."""
        submit = lambda chunk: self.client.submit(annotate_chunk, self.options, chunk, pure=False)  # noqa: E731
        return ordered_map(submit, lambda future: future.result(), chunks, in_flight=2 * self.workers)

    def close(self) -> None:
        """Disconnect (and stop the local cluster if this engine started it)."""
        self.client.close()
        if self.cluster is not None:
            self.cluster.close()


def check_engine(engine: str, n_process: int, scheduler: Optional[str]) -> None:
    """Raise :class:`EngineError` for an engine name or settings that cannot work."""
    if engine not in ENGINES:
        raise EngineError(f"unknown engine {engine!r}; expected one of {', '.join(ENGINES)}")
    if n_process < 1:
        raise EngineError(f"--n-process must be at least 1, not {n_process}")
    if scheduler and engine != "dask":
        raise EngineError("--scheduler is for --engine dask")


def start_engine(options: AnnotateOptions, engine: str = "local", n_process: int = 1,
                 scheduler: Optional[str] = None):
    """The engine named ``engine`` (``local`` with ``n_process`` processes, or ``dask``)."""
    check_engine(engine, n_process, scheduler)
    if engine == "dask":
        return DaskEngine(options, scheduler, n_workers=n_process)
    return InProcessEngine(options) if n_process == 1 else ProcessPoolEngine(options, n_process)
