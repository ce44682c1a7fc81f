"""Data-parallel map over independent items (files, bins, clusters): in-process or on Dask.

`cluster=local` maps in this process. `cluster=dask` submits to a `dask.distributed`
scheduler at `cluster.address` (`tcp://host:8786`), or to a LocalCluster of
`cluster.n_workers` processes when no address is given. `cluster=dask_cuda` does the same on
GPU nodes: with no address it starts a `dask_cuda.LocalCUDACluster` (one worker per visible
GPU, or `cluster.n_workers`). Either way the cluster starts on the first `map`, so a job that
never maps pays nothing, and results come back in the order of the items, so every cluster
gives the same outputs as the in-process map.

`fn` must be a top-level (picklable) function. Keyword arguments go to every call; arrays
among them larger than a megabyte are sent to each worker once, not once per item.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from engine.errors import UserError

log = logging.getLogger("engine")

SCATTER_BYTES = 1 << 20  # keyword arrays at least this big are broadcast once to the workers
_SHARED_PREFIX = "_engine_shared_"


class DaskCluster:
    """A `dask.distributed` client, connected (and its local cluster started) on first use."""

    def __init__(self, address: str | None, n_workers: int | None = None, gpu: bool = False,
                 connect_timeout: str = "30s"):
        self.address = address
        self.connect_timeout = connect_timeout
        self.n_workers = n_workers
        self.gpu = gpu
        self._client = None
        self._local = None
        self.n_maps = 0  # for metrics.json: how much went through the cluster
        self.n_items = 0
        self.workers_seen = 0

    @property
    def client(self):
        if self._client is None:
            self._client = self._connect()
        return self._client

    def _connect(self):
        try:
            from dask.distributed import Client, LocalCluster
        except ImportError:
            raise UserError("cluster=dask: dask.distributed is not installed (install the "
                            "`tune` extra)") from None
        # Dask logs every worker start and stop at INFO; keep the run's log about the run.
        logging.getLogger("distributed").setLevel(logging.WARNING)
        address = self.address
        if address is None:
            if self.gpu:
                self._local = _local_cuda_cluster(self.n_workers)
            else:  # ":0": a free port, so the clusters of concurrent runs never collide
                self._local = LocalCluster(n_workers=self.n_workers or 2, threads_per_worker=1,
                                           processes=True, dashboard_address=":0")
            address = self._local.scheduler_address
            log.info("started a local Dask cluster at %s", address)
        try:
            return Client(address, timeout=self.connect_timeout)
        except OSError as exc:
            self.close()
            raise UserError(f"cluster.address={address}: cannot reach the Dask scheduler "
                            f"({exc})") from None

    def map(self, fn: Callable[..., Any], items: Iterable[Any], **kwargs: Any) -> list[Any]:
        items = list(items)
        if not items:
            return []
        client = self.client
        self.n_maps += 1
        self.n_items += len(items)
        self.workers_seen = max(self.workers_seen, len(client.nthreads()))
        small = {k: v for k, v in kwargs.items() if not _is_big(v)}
        shared = {_SHARED_PREFIX + k: client.scatter(v, broadcast=True)
                  for k, v in kwargs.items() if _is_big(v)}
        call = functools.partial(_call, fn, small)
        # pure=False: the same item mapped twice is computed twice, as in-process.
        futures = client.map(call, items, pure=False, **shared)
        try:
            return client.gather(futures)
        except BaseException:
            client.cancel(futures)
            raise

    def describe(self) -> dict[str, Any]:
        """Where the maps ran and how much went there, for metrics.json."""
        return {"name": "dask_cuda" if self.gpu else "dask", "address": self.address or "local",
                "workers": self.workers_seen, "maps": self.n_maps, "items": self.n_items}

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
        if self._local is not None:
            self._local.close()
            self._local = None


def _is_big(value: Any) -> bool:
    return isinstance(value, np.ndarray) and value.nbytes >= SCATTER_BYTES


def _call(fn: Callable[..., Any], kwargs: dict[str, Any], item: Any, **shared: Any) -> Any:
    """Runs on a worker: fn(item, **kwargs) with the broadcast arrays put back by name."""
    kwargs = {**kwargs, **{k.removeprefix(_SHARED_PREFIX): v for k, v in shared.items()}}
    return fn(item, **kwargs)


def _local_cuda_cluster(n_workers: int | None):
    try:
        from dask_cuda import LocalCUDACluster
    except ImportError:
        raise UserError("cluster=dask_cuda: dask-cuda is not installed (install the `gpu` "
                        "extra), or name a running scheduler with cluster.address=") from None
    return LocalCUDACluster(n_workers=n_workers, threads_per_worker=1, dashboard_address=":0")


def make_cluster(cfg: Any) -> DaskCluster | None:
    if cfg is None or cfg.name == "local":
        return None
    if cfg.name in ("dask", "dask_cuda"):
        if cfg.n_workers is not None and cfg.n_workers < 1:
            raise UserError(f"cluster.n_workers={cfg.n_workers}: must be at least 1")
        return DaskCluster(cfg.address, cfg.n_workers, gpu=cfg.name == "dask_cuda")
    raise UserError(f"cluster={cfg.name!r}: expected local, dask or dask_cuda")


def pmap(cluster: DaskCluster | None, fn: Callable[..., Any], items: Iterable[Any],
         **kwargs: Any) -> list[Any]:
    """[fn(item, **kwargs) for item in items], on the cluster when there is one."""
    if cluster is None:
        return [fn(item, **kwargs) for item in items]
    return cluster.map(fn, items, **kwargs)
