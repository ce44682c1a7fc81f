"""FAISS GPU search (flat, IVF-Flat, CAGRA); imported only on the GPU backend.

Follows FAISS's GPU wiki and its `faiss/gpu/test` usage: `StandardGpuResources`,
`GpuIndexFlatIP/L2(res, d, GpuIndexFlatConfig)`, `GpuIndexIVFFlat(res, d, nlist, metric,
GpuIndexIVFFlatConfig)` (train, add, `nprobe`), `GpuIndexCagra(res, d, metric,
GpuIndexCagraConfig)` (built by `train`, searched with `SearchParametersCagra.itopk_size`).
FAISS GPU selection kernels handle k <= 2048 (and nprobe <= 2048 for IVF): larger values are
refused with a clear error. Queries run in chunks of `batch_rows` to bound device memory.
"""

from __future__ import annotations

import numpy as np

from engine.backend import Backend
from engine.errors import UserError
from engine.ops.knn import faiss_metric

GPU_MAX_K = 2048
DEFAULT_NPROBE = 32  # IVF lists probed per query when the caller leaves nprobe at 0
_resources = None


def _faiss():
    import faiss

    return faiss


def resources():
    """One StandardGpuResources per process (it owns the scratch memory and cuBLAS handle)."""
    global _resources
    if _resources is None:
        _resources = _faiss().StandardGpuResources()
    return _resources


def _host(backend: Backend, X) -> np.ndarray:
    # FAISS's Python wrappers take host NumPy arrays and copy them to the device themselves.
    return np.ascontiguousarray(backend.to_host(X), dtype=np.float32)


def build_index(X: np.ndarray, method: str, metric: str, nlist: int = 0, nprobe: int = 0,
                graph_degree: int = 32, intermediate_graph_degree: int = 64,
                use_float16: bool = False, seed: int = 0, **_ignored):
    """A filled GPU index over X and the search parameters to use with it (or None)."""
    faiss = _faiss()
    res = resources()
    n, d = X.shape
    params = None
    if method == "flat":
        cfg = faiss.GpuIndexFlatConfig()
        cfg.useFloat16 = bool(use_float16)
        index = (faiss.GpuIndexFlatIP(res, d, cfg) if metric == "ip"
                 else faiss.GpuIndexFlatL2(res, d, cfg))
        index.add(X)
    elif method == "ivf":
        nlist = int(nlist) or max(1, min(int(4 * np.sqrt(n)), n // 39 or 1))
        if nprobe > GPU_MAX_K:
            raise UserError(f"job.nprobe={nprobe}: FAISS GPU allows at most {GPU_MAX_K}")
        cfg = faiss.GpuIndexIVFFlatConfig()
        index = faiss.GpuIndexIVFFlat(res, d, nlist, faiss_metric(metric), cfg)
        # k-means on a seeded sample (FAISS itself samples 256 points per list at most).
        rng = np.random.default_rng([seed, 11])
        train = X if n <= 256 * nlist else X[np.sort(rng.choice(n, 256 * nlist, replace=False))]
        index.train(train)
        index.add(X)
        index.nprobe = min(int(nprobe) or DEFAULT_NPROBE, nlist)
    elif method == "cagra":
        if "CUVS" not in faiss.get_compile_options():
            raise UserError("job.knn=cagra: this faiss build has no cuVS (CAGRA); use flat or ivf")
        cfg = faiss.GpuIndexCagraConfig()
        cfg.graph_degree = int(graph_degree)
        cfg.intermediate_graph_degree = int(max(intermediate_graph_degree, graph_degree))
        index = faiss.GpuIndexCagra(res, d, faiss_metric(metric), cfg)
        index.train(X)  # CAGRA builds its graph over the training set, which is X itself
        params = faiss.SearchParametersCagra()
    else:
        raise UserError(f"job.knn={method!r} does not run on the GPU backend (flat, ivf, cagra)")
    return index, params


def search(backend: Backend, X, k: int, method: str, metric: str, batch_rows: int,
           itopk_size: int = 0, progress=None, **index_params
           ) -> tuple[np.ndarray, np.ndarray]:
    """Raw (n, k) scores and indices of every row of X against X (self included)."""
    if k > GPU_MAX_K:
        raise UserError(f"job.k={k - 1}: FAISS GPU search allows k <= {GPU_MAX_K - 1} "
                        "(k + 1 results are fetched to drop each row itself)")
    Xh = _host(backend, X)
    index, params = build_index(Xh, method, metric, **index_params)
    if params is not None:  # CAGRA: the internal top-k list must hold at least k entries
        params.itopk_size = int(max(itopk_size or 0, k, 64))
    n = Xh.shape[0]
    scores = np.empty((n, k), np.float32)
    idx = np.empty((n, k), np.int64)
    starts = range(0, n, batch_rows)
    for lo in progress(starts, len(starts), "knn search") if progress else starts:
        hi = min(lo + batch_rows, n)
        if params is None:
            D, Ind = index.search(Xh[lo:hi], k)
        else:
            D, Ind = index.search(Xh[lo:hi], k, params=params)
        scores[lo:hi], idx[lo:hi] = D, Ind
    return scores, idx


def exact_rows(backend: Backend, X, rows: np.ndarray, k: int,
               metric: str) -> tuple[np.ndarray, np.ndarray]:
    """Exact (len(rows), k) search of X[rows] against X on the GPU (GpuIndexFlat)."""
    if k > GPU_MAX_K:
        raise UserError(f"k={k - 1}: FAISS GPU search allows k <= {GPU_MAX_K - 1}")
    Xh = _host(backend, X)
    index, _ = build_index(Xh, "flat", metric)
    return index.search(np.ascontiguousarray(Xh[rows]), k)
