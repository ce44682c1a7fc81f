"""k-nearest-neighbour search: the one entry point, which picks a backend module.

`self_knn(backend, X, k, ...)` returns, for every row of X, its k nearest other rows by inner
product (cosine on L2-normalised rows) or squared L2: `(scores, indices)`, both (n, k), with
self matches, repeated and invalid (-1) results removed and the rows left-packed; missing
neighbours are marked with index -1 and score NaN.

Modules (each imports only engine.ops.knn_common below it, never this one):
- engine.ops.knn_cpu: FAISS flat and HNSW (`hnsw_m`, `ef_construction`, `ef_search`);
- engine.ops.knn_ivf: CPU IVF searched list by list (`nlist`, 0: about 2 sqrt(n); `nprobe`,
  0: calibrated on a sample to reach `target_recall`; `seed`);
- engine.ops.knn_gpu: cuVS brute force, IVF-Flat (`nlist`, 0: about 4 sqrt(n); `nprobe`) and
  CAGRA (`graph_degree`, `intermediate_graph_degree`, `itopk_size`).
Index parameters of other methods are ignored.

`sample_recall` measures an approximate result against exact search on a sample of rows.
"""

from __future__ import annotations

import numpy as np

from engine.backend import Backend
from engine.errors import UserError
from engine.ops.knn_common import (  # noqa: F401  (re-exported: callers import them from here)
    METHODS,
    check_method,
    drop_self,
    faiss_metric,
    recall_at_k,
)


def _module(backend: Backend):
    if backend.gpu:
        from engine.ops import knn_gpu

        return knn_gpu
    from engine.ops import knn_cpu

    return knn_cpu


def self_knn(backend: Backend, X, k: int, method: str = "flat", metric: str = "ip",
             batch_rows: int = 65536, progress=None, info: dict | None = None,
             **index_params) -> tuple[np.ndarray, np.ndarray]:
    """k nearest other rows of every row of X (host arrays out).

    X: (n, d) float rows (NumPy, or CuPy on the GPU backend). metric "ip" (use L2-normalised
    rows for cosine) or "l2" (squared distances). Queries run in chunks of `batch_rows`;
    `progress(iterable, total, desc)` (e.g. RunContext.progress) reports them. `info` (a dict)
    receives the settings the search resolved (CPU ivf: nlist, nprobe, calibrated_recall)."""
    n = X.shape[0]
    if k < 1:
        raise UserError(f"k={k} must be at least 1")
    if k >= n:
        raise UserError(f"k={k} must be smaller than the number of rows ({n})")
    check_method(backend.gpu, method)
    mod = _module(backend)
    kwargs = {"backend": backend} if backend.gpu else {"info": info}
    # k + 1 results: each row finds itself, which drop_self removes.
    scores, idx = mod.search(X=X, k=k + 1, method=method, metric=metric, batch_rows=batch_rows,
                             progress=progress, **kwargs, **index_params)
    return drop_self(scores, idx, k)


def exact_knn_rows(backend: Backend, X, rows: np.ndarray, k: int,
                   metric: str = "ip") -> tuple[np.ndarray, np.ndarray]:
    """Exact k nearest other rows of X[rows] (brute force over all of X), host arrays."""
    if backend.gpu:
        from engine.ops import knn_gpu

        scores, idx = knn_gpu.exact_rows(backend, X, rows, k + 1, metric)
    else:
        from engine.ops import knn_cpu

        scores, idx = knn_cpu.exact_rows(X, rows, k + 1, metric)
    return drop_self(scores, idx, k, row_ids=rows)


def sample_recall(backend: Backend, X, idx: np.ndarray, n_sample: int = 1000, seed: int = 0,
                  metric: str = "ip") -> float:
    """recall@k of the neighbour lists `idx` (n, k) against exact search on sampled rows."""
    n, k = idx.shape
    rng = np.random.default_rng([seed, 7])
    rows = np.sort(rng.choice(n, size=min(n_sample, n), replace=False))
    _, exact = exact_knn_rows(backend, X, rows, k, metric)
    return recall_at_k(idx[rows], exact)
