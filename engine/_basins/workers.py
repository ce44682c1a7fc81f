"""Local worker processes for the per-bin consensus work (both cores of a laptop).

fast_hdbscan's spanning trees are built on one Numba thread per sample (its parallel
Boruvka pays more in thread start-up than it gains on bin-sized samples), so a single
process uses one core. With `cluster=local` the job spreads bins over `workers` processes
instead; each bin's result depends only on its own inputs and seed, so the outputs are the
same for any number of workers. Worker start-up (imports, Numba cache load) costs ~3 s per
process, so small inputs stay in-process.

A run may itself be a worker of a sweep launcher (joblib's loky workers under
`hydra/launcher=local_parallel`, submitit, SLURM, Dask). Then the pool must not inherit the
launcher's start method, must fit in the cores the launcher gave this run, and cannot exist at
all inside a daemonic process (those may not have children): the work then stays in-process.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor

log = logging.getLogger("engine")

MIN_ROWS_FOR_POOL = 20_000  # below this, worker start-up outweighs the per-bin work
START_METHOD = "spawn"  # not fork: forking after Numba's OpenMP threads started is unsafe


def nested() -> bool:
    """True inside a worker process of some pool or launcher (not a top-level program)."""
    return multiprocessing.parent_process() is not None or multiprocessing.current_process().daemon


def can_have_children() -> bool:
    return not multiprocessing.current_process().daemon


def available_cores() -> int:
    """The cores this process may use: its CPU affinity (SLURM, taskset, cgroups) and, in a
    launcher's worker, the thread budget the launcher set (joblib's loky workers get
    OMP_NUM_THREADS = cores // n_jobs, so that parallel runs do not oversubscribe)."""
    try:
        n = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        n = os.cpu_count() or 1
    budget = os.environ.get("OMP_NUM_THREADS", "")
    if nested() and budget.isdigit() and int(budget) > 0:
        n = min(n, int(budget))
    return max(1, n)


def n_workers(requested: int, n_rows: int) -> int:
    """`requested` processes, or with 0 one per available core (1 for small inputs); always 1
    in a daemonic process."""
    if not can_have_children():
        return 1
    if requested > 0:
        return requested
    return available_cores() if n_rows >= MIN_ROWS_FOR_POOL else 1


@contextlib.contextmanager
def _own_start_method() -> Iterator[None]:
    """Spawned children re-apply their parent's default start method when they boot; inside a
    loky worker that is 'loky', which a fresh interpreter does not know ("cannot find context
    for 'loky'"). Make the default ours while the pool starts its processes."""
    old = multiprocessing.get_start_method(allow_none=True)
    if old == START_METHOD:
        yield
        return
    multiprocessing.set_start_method(START_METHOD, force=True)
    try:
        yield
    finally:
        multiprocessing.set_start_method(old, force=True)


class LocalPool:
    """`pool.map(fn, items)` over `n` spawned processes, in item order (serial when n = 1 or
    when this process is daemonic)."""

    def __init__(self, n: int):
        self.n = n
        self._pool: ProcessPoolExecutor | None = None

    def map(self, fn: Callable, items) -> list:
        items = list(items)
        if self.n <= 1 or len(items) <= 1:
            return [fn(x) for x in items]
        if not can_have_children():
            log.warning("workers=%d: running in-process (a daemonic process cannot start "
                        "worker processes)", self.n)
            self.n = 1
            return [fn(x) for x in items]
        if self._pool is None:
            self._pool = ProcessPoolExecutor(
                self.n, mp_context=multiprocessing.get_context(START_METHOD))
        # Executor.map submits every item (starting the processes) before it returns.
        with _own_start_method():
            results = self._pool.map(fn, items)
        return list(results)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown()
            self._pool = None

    def __enter__(self) -> LocalPool:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
