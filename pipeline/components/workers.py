"""torch threads in the worker processes that run our components (``nlp.pipe(n_process=N)``)."""

from __future__ import annotations

import os


def one_thread_in_workers(owner_pid: int | None) -> int:
    """torch on one thread when this is not the process ``owner_pid`` (a component created there now runs in a
    worker: ``nlp.pipe(n_process=N)``, forked or spawned); returns this process's id, the next owner.

    Components call it before their first torch op in a process, so that only processes that run them are
    touched, and no fork hook is registered for every process that imports the package. In a worker:
    - a forked child whose parent already ran torch deadlocks in its first multi-threaded op, since the
      OpenMP pool does not survive ``fork`` (Linux before Python 3.14 forks);
    - spawned children with a thread per core each oversubscribe the cores, and the OpenMP barriers of
      small recurrent steps then wait for descheduled threads (measured: 4-10x slower).
    A worker that wants more threads can call ``torch.set_num_threads`` after its first Doc.
    """
    pid = os.getpid()
    if pid != owner_pid:
        import torch

        torch.set_num_threads(1)
    return pid
