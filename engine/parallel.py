"""Data-parallel map over independent items (files, bins, clusters): in-process or on Dask.

`cluster=local` maps in this process; `cluster=dask` submits to a `dask.distributed` scheduler
(`cluster.address`, or a LocalCluster of `cluster.n_workers` when none is given). Results come
back in the order of the items either way, so both give identical outputs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from engine.errors import UserError


class DaskCluster:
    def __init__(self, address: str | None, n_workers: int):
        try:
            from dask.distributed import Client, LocalCluster
        except ImportError:
            raise UserError("cluster=dask: dask.distributed is not installed (install the "
                            "`tune` extra)") from None
        self._local = None
        if address is None:
            self._local = LocalCluster(n_workers=n_workers, threads_per_worker=1,
                                       processes=True, dashboard_address=None)
            address = self._local.scheduler_address
        self.client = Client(address)

    def map(self, fn: Callable[..., Any], items: Iterable[Any], **kwargs: Any) -> list[Any]:
        futures = self.client.map(fn, list(items), pure=False, **kwargs)
        return self.client.gather(futures)

    def close(self) -> None:
        self.client.close()
        if self._local is not None:
            self._local.close()


def make_cluster(cfg: Any) -> DaskCluster | None:
    if cfg is None or cfg.name == "local":
        return None
    if cfg.name == "dask":
        return DaskCluster(cfg.address, cfg.n_workers)
    raise UserError(f"cluster={cfg.name!r}: expected local or dask")


def pmap(cluster: DaskCluster | None, fn: Callable[..., Any], items: Iterable[Any],
         **kwargs: Any) -> list[Any]:
    """[fn(item, **kwargs) for item in items], on the cluster when there is one."""
    if cluster is None:
        return [fn(item, **kwargs) for item in items]
    return cluster.map(fn, items, **kwargs)
