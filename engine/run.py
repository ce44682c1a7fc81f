"""A run's context: output directory, backend, seed, metrics, stage timing and progress.

Job adapters receive a `RunContext`; the algorithms below them take arrays and parameters.
`metrics.json` is written last by `finish()`, so its presence means the run completed; what
a run changes outside its directory (the stream's state) is committed by `finish()` just after
it, and a commit cut off by a kill is completed by the next run, which finds the run's id in
its metrics.json.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pyarrow as pa

from engine.backend import Backend
from engine.cache import Cache
from engine.io import write
from engine.parallel import pmap

log = logging.getLogger("engine")
T = TypeVar("T")


@dataclass
class RunContext:
    out_dir: Path
    backend: Backend
    seed: int = 0
    cache_dir: Path | None = None
    cluster: Any = None  # engine.parallel.DaskCluster, or None for in-process
    show_progress: bool = field(default_factory=lambda: sys.stderr.isatty())
    metrics: dict[str, Any] = field(default_factory=dict)
    # Steps that make the run's effects outside its directory final (the stream's state):
    # run by finish() just after metrics.json, which records `run_id` so that the next run
    # can tell whether a pending effect belongs to a finished run (roll forward) or not.
    commits: list[Callable[[], None]] = field(default_factory=list)
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex)

    def __post_init__(self) -> None:
        self.out_dir = Path(self.out_dir)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        write.remove_orphans(self.out_dir)
        self.metrics.setdefault("seconds", {})
        self.cache = Cache(self.cache_dir)

    def map(self, fn: Callable[..., T], items: Iterable[Any], **kwargs: Any) -> list[T]:
        """[fn(item, **kwargs) for item in items], on the Dask cluster when `cluster=dask`."""
        return pmap(self.cluster, fn, items, **kwargs)

    # -- paths and artifacts ----------------------------------------------------------------
    def path(self, name: str) -> Path:
        return self.out_dir / name

    def write_table(self, name: str, table: pa.Table) -> Path:
        """Atomically write `table` to `<out_dir>/<name>` (Parquet)."""
        return write.write_parquet(table, self.path(name))

    # -- metrics and timing -----------------------------------------------------------------
    def record(self, **values: Any) -> None:
        self.metrics.update(values)

    @contextlib.contextmanager
    def stage(self, name: str) -> Iterator[None]:
        """Time a stage into metrics['seconds'][name] (wall) and metrics['cpu_seconds'][name]
        (this process's CPU, all threads: the steadier figure on a shared machine) and log its
        start and end."""
        log.info("%s ...", name)
        t0, c0 = time.perf_counter(), time.process_time()
        try:
            yield
        finally:
            self.backend.synchronize()
            dt = time.perf_counter() - t0
            self.metrics["seconds"][name] = round(self.metrics["seconds"].get(name, 0) + dt, 4)
            cpu = self.metrics.setdefault("cpu_seconds", {})
            cpu[name] = round(cpu.get(name, 0) + time.process_time() - c0, 4)
            log.info("%s done in %.2fs", name, dt)

    def progress(self, items: Iterable[T], total: int | None = None, desc: str = "") -> Iterator[T]:
        """Iterate with a progress bar on a terminal, or a log line every ~10% otherwise."""
        yield from progress(items, total, desc, self.show_progress)

    def finish(self, objective: float) -> float:
        """Write metrics.json last; returns the objective for Hydra sweepers."""
        self.complete(objective)
        return float(objective)

    def complete(self, objective: float) -> None:
        """The run's closing metrics (objective, backend, versions, ...), metrics.json, then
        the commits that must follow it (the stream's state: see engine._stream.state)."""
        self.metrics["objective"] = float(objective)
        self.metrics["backend"] = self.backend.name
        self.metrics["device"] = self.backend.device
        self.metrics["versions"] = self.backend.versions
        self.metrics["seed"] = self.seed
        if self.cache.enabled:
            self.metrics["cache"] = {"dir": str(self.cache.root), "hits": self.cache.hits,
                                     "misses": self.cache.misses}
        if self.cluster is not None:
            self.metrics["cluster"] = self.cluster.describe()
        self.metrics["run_id"] = self.run_id
        write.write_json(self.metrics, self.path("metrics.json"))
        for commit in self.commits:
            commit()

def progress(items: Iterable[T], total: int | None, desc: str, bar: bool) -> Iterator[T]:
    if total is None and hasattr(items, "__len__"):
        total = len(items)  # type: ignore[arg-type]
    if bar:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
        )

        columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                   TimeRemainingColumn())
        with Progress(*columns, transient=True) as p:
            task = p.add_task(desc, total=total)
            for item in items:
                yield item
                p.advance(task)
        return
    step = max(1, (total or 0) // 10)
    t0 = time.perf_counter()
    for i, item in enumerate(items, 1):
        yield item
        if total and (i % step == 0 or i == total):
            log.info("%s: %d/%d (%.1fs)", desc, i, total, time.perf_counter() - t0)
