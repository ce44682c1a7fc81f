"""Local worker processes for the per-bin consensus work (both cores of a laptop).

fast_hdbscan's spanning trees are built on one Numba thread per sample (its parallel
Boruvka pays more in thread start-up than it gains on bin-sized samples), so a single
process uses one core. With `cluster=local` the job spreads bins over `workers` processes
instead; each bin's result depends only on its own inputs and seed, so the outputs are the
same for any number of workers. Worker start-up (imports, Numba cache load) costs ~3 s per
process, so small inputs stay in-process.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor

MIN_ROWS_FOR_POOL = 20_000  # below this, worker start-up outweighs the per-bin work


def available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def n_workers(requested: int, n_rows: int) -> int:
    """`requested` processes, or with 0 one per available core (1 for small inputs)."""
    if requested > 0:
        return requested
    return available_cores() if n_rows >= MIN_ROWS_FOR_POOL else 1


class LocalPool:
    """`pool.map(fn, items)` over `n` spawned processes, in item order (serial when n = 1).
    Spawn, not fork: forking after Numba's OpenMP threads started is unsafe."""

    def __init__(self, n: int):
        self.n = n
        self._pool: ProcessPoolExecutor | None = None

    def map(self, fn: Callable, items) -> list:
        items = list(items)
        if self.n <= 1 or len(items) <= 1:
            return [fn(x) for x in items]
        if self._pool is None:
            self._pool = ProcessPoolExecutor(self.n, mp_context=multiprocessing.get_context("spawn"))
        return list(self._pool.map(fn, items))

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown()
            self._pool = None

    def __enter__(self) -> LocalPool:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
