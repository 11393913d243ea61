"""spaCy components and registered architectures wrapping the torch networks of ``pipeline.nn``."""

import multiprocessing
import os

import torch

from pipeline.components.generator import GeneratorComponent, make_knbc_generator
from pipeline.components.textcat import RecurrentTextCategorizer, make_knbc_textcat
from pipeline.components.vectors import VectorHooks, make_knbc_vectors

__all__ = ["GeneratorComponent", "RecurrentTextCategorizer", "VectorHooks", "make_knbc_generator", "make_knbc_textcat",
           "make_knbc_vectors"]


# Worker processes (``nlp.pipe(texts, n_process=N)``, a multiprocessing pool) run torch on one thread:
# - a forked child whose parent already ran torch deadlocks in its first multi-threaded op, since the
#   OpenMP pool does not survive ``fork`` (Linux before Python 3.14 forks);
# - spawned children with a thread per core each oversubscribe the cores, and the OpenMP barriers of
#   small recurrent steps then wait for descheduled threads (measured: 4-10x slower).
# A worker that wants more threads can still call ``torch.set_num_threads`` itself.
def _one_torch_thread() -> None:
    torch.set_num_threads(1)


os.register_at_fork(after_in_child=_one_torch_thread)
# a spawned (or forkserver) worker unpickles its task, and so imports this, before multiprocessing
# records its parent: ``_inheriting`` is what says so at that point
if multiprocessing.parent_process() is not None or getattr(multiprocessing.current_process(), "_inheriting", False):
    _one_torch_thread()
