"""GPU kNN with cuVS (brute force, IVF-Flat, CAGRA); its libraries are imported only when a
search runs, so this module imports on any machine.

Calls follow cuVS 26.10's Python sources (cuvs/neighbors/*/*.pyx): `brute_force.build(dataset,
metric)` and `brute_force.search(index, queries, k)`; `ivf_flat.build(IndexParams(n_lists=,
metric=), dataset)` and `ivf_flat.search(SearchParams(n_probes=), index, queries, k)`;
`cagra.build(IndexParams(metric=, graph_degree=, intermediate_graph_degree=), dataset)` and
`cagra.search(SearchParams(itopk_size=), index, queries, k)`. Each takes CUDA-array-interface
input, returns (distances, neighbors) as pylibraft device arrays (neighbours int64, uint32 for
CAGRA) and, given no `resources`, synchronises its own before returning.

Why FAISS GPU is not used: faiss-gpu-cuvs 1.15.0 cannot load beside RAPIDS 26.10 (docs/gpu.md).
"""

from __future__ import annotations

import numpy as np

from engine.backend import Backend
from engine.errors import UserError
from engine.ops.knn_common import chunks

DEFAULT_NPROBE = 32  # IVF lists probed per query when the caller leaves nprobe at 0
CUVS_METRIC = {"ip": "inner_product", "l2": "sqeuclidean"}
SCORE_BLOCK = 1 << 24  # gathered neighbour elements per block when rescoring (64 MB float32)


def _neighbors(name: str):
    """A cuVS search module; a clear line (not an ImportError) when cuVS lacks it."""
    import importlib

    try:
        mod = importlib.import_module(f"cuvs.neighbors.{name}")
    except ImportError as exc:
        raise UserError(f"cuVS search {name!r} cannot be imported ({exc}); install the `gpu` "
                        "extra") from exc
    if not hasattr(mod, "Index"):  # test the index class itself, not a build string
        raise UserError(f"this cuVS has no {name} index")
    return mod


def build_index(X, method: str, metric: str, nlist: int = 0, nprobe: int = 0,
                graph_degree: int = 32, intermediate_graph_degree: int = 64, itopk_size: int = 0,
                k: int = 1, **_ignored):
    """A built cuVS index over the device matrix X and `search(queries, k)` for it."""
    n = X.shape[0]
    m = CUVS_METRIC[metric]
    if method == "flat":
        bf = _neighbors("brute_force")
        index = bf.build(X, metric=m)
        return lambda Q, kk: bf.search(index, Q, kk)
    if method == "ivf":
        ivf = _neighbors("ivf_flat")
        nlist = int(nlist) or max(1, min(int(4 * np.sqrt(n)), n // 39 or 1))
        index = ivf.build(ivf.IndexParams(n_lists=nlist, metric=m), X)
        sp = ivf.SearchParams(n_probes=min(int(nprobe) or DEFAULT_NPROBE, nlist))
        return lambda Q, kk: ivf.search(sp, index, Q, kk)
    if method == "cagra":
        cagra = _neighbors("cagra")
        gd = int(graph_degree)
        ip = cagra.IndexParams(metric=m, graph_degree=gd,
                               intermediate_graph_degree=int(max(intermediate_graph_degree, gd)))
        index = cagra.build(ip, X)
        # The internal top-k list must hold at least k entries.
        sp = cagra.SearchParams(itopk_size=int(max(itopk_size or 0, k, 64)))
        return lambda Q, kk: cagra.search(sp, index, Q, kk)
    raise UserError(f"job.knn={method!r} does not run on the GPU backend (flat, ivf, cagra)")


def _device(backend: Backend, X):
    cp = backend.xp
    return cp.ascontiguousarray(cp.asarray(X, dtype=cp.float32))


def rescore(cp, Q, X, idx, metric: str):
    """Scores of the listed neighbours, recomputed exactly and sorted best first; invalid
    entries (outside 0..n-1) become -1. cuVS reports distances in each index's own convention
    (sign and scale differ by metric and index type); recomputing costs n·k·d, and gives the
    CPU path's exact inner products or squared distances."""
    n = X.shape[0]
    idx = cp.asarray(idx).astype(cp.int64)  # CAGRA gives uint32 (0xFFFFFFFF: none found)
    valid = (idx >= 0) & (idx < n)
    idx = cp.where(valid, idx, -1)
    rows = max(1, SCORE_BLOCK // max(1, idx.shape[1] * X.shape[1]))
    s = cp.empty(idx.shape, cp.float32)
    for lo in range(0, len(idx), rows):
        nb = X[cp.maximum(idx[lo : lo + rows], 0)]  # (b, k, d)
        q = Q[lo : lo + rows, None, :]
        s[lo : lo + rows] = ((q * nb).sum(-1) if metric == "ip"
                             else ((q - nb) ** 2).sum(-1))
    worst = -cp.inf if metric == "ip" else cp.inf
    s = cp.where(valid, s, worst)
    order = cp.argsort(-s if metric == "ip" else s, axis=1)
    return cp.take_along_axis(s, order, 1), cp.take_along_axis(idx, order, 1)


def search(backend: Backend, X, k: int, method: str, metric: str, batch_rows: int,
           progress=None, **index_params) -> tuple[np.ndarray, np.ndarray]:
    """Raw (n, k) scores and indices of every row of X against X (self included), host."""
    cp = backend.xp
    Xd = _device(backend, X)
    n = Xd.shape[0]
    find = build_index(Xd, method, metric, k=k, **index_params)
    scores = np.empty((n, k), np.float32)
    idx = np.empty((n, k), np.int64)
    for lo in chunks(n, batch_rows, progress):
        Q = Xd[lo : lo + batch_rows]
        _, nb = find(Q, k)
        s, i = rescore(cp, Q, Xd, nb, metric)
        scores[lo : lo + len(Q)], idx[lo : lo + len(Q)] = s.get(), i.get()
    return scores, idx


def exact_rows(backend: Backend, X, rows: np.ndarray, k: int,
               metric: str) -> tuple[np.ndarray, np.ndarray]:
    """Exact (len(rows), k) search of X[rows] against X on the GPU (cuVS brute force)."""
    cp = backend.xp
    Xd = _device(backend, X)
    find = build_index(Xd, "flat", metric)
    Q = cp.ascontiguousarray(Xd[cp.asarray(rows)])
    _, nb = find(Q, k)
    s, i = rescore(cp, Q, Xd, nb, metric)
    return s.get(), i.get()
