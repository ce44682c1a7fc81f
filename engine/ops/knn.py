"""k-nearest-neighbour search with FAISS (CPU: flat, HNSW; GPU: flat, IVF, CAGRA).

`self_knn(backend, X, k, ...)` returns, for every row of X, its k nearest other rows by inner
product (cosine on L2-normalised rows) or squared L2: `(scores, indices)`, both (n, k), with
self matches and FAISS's invalid (-1) results removed and the rows left-packed; missing
neighbours are marked with index -1 and score NaN.
"""

from __future__ import annotations

import numpy as np

from engine.backend import Backend
from engine.errors import UserError

METHODS = ("flat", "hnsw", "ivf", "cagra")


def _faiss():
    import faiss

    return faiss


def build_index_cpu(X: np.ndarray, method: str, metric: str, hnsw_m: int = 32,
                    ef_construction: int = 200, ef_search: int = 128, seed: int = 0):
    faiss = _faiss()
    d = X.shape[1]
    faiss_metric = faiss.METRIC_INNER_PRODUCT if metric == "ip" else faiss.METRIC_L2
    if method == "flat":
        index = faiss.IndexFlatIP(d) if metric == "ip" else faiss.IndexFlatL2(d)
    elif method == "hnsw":
        index = faiss.IndexHNSWFlat(d, hnsw_m, faiss_metric)
        index.hnsw.efConstruction = ef_construction
        index.hnsw.efSearch = ef_search
    elif method in ("ivf", "cagra"):
        raise UserError(f"job.knn={method} needs the GPU backend (CPU: flat or hnsw)")
    else:
        raise UserError(f"job.knn={method!r}: expected one of {', '.join(METHODS)}")
    index.add(np.ascontiguousarray(X, dtype=np.float32))
    return index


def drop_self(scores: np.ndarray, idx: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Remove each row's own index and -1 results, left-pack, keep k columns."""
    n = idx.shape[0]
    valid = (idx >= 0) & (idx != np.arange(n)[:, None])
    # Stable left-pack: order valid entries first, preserving their rank order.
    order = np.argsort(~valid, axis=1, kind="stable")
    idx = np.take_along_axis(idx, order, 1)[:, :k]
    scores = np.take_along_axis(scores, order, 1)[:, :k].astype(np.float32)
    packed_valid = np.take_along_axis(valid, order, 1)[:, :k]
    idx = np.where(packed_valid, idx, -1)
    scores = np.where(packed_valid, scores, np.nan).astype(np.float32)
    return scores, idx


def self_knn(backend: Backend, X, k: int, method: str = "flat", metric: str = "ip",
             batch_rows: int = 65536, **index_params) -> tuple[np.ndarray, np.ndarray]:
    """k nearest other rows of every row of X (host arrays out)."""
    n = X.shape[0]
    if k >= n:
        raise UserError(f"k={k} must be smaller than the number of rows ({n})")
    if backend.gpu:
        from engine.ops import knn_gpu

        scores, idx = knn_gpu.search(backend, X, k + 1, method, metric, batch_rows,
                                     **index_params)
    else:
        X = np.ascontiguousarray(X, dtype=np.float32)
        index = build_index_cpu(X, method, metric, **index_params)
        parts = [index.search(X[i : i + batch_rows], k + 1) for i in range(0, n, batch_rows)]
        scores = np.concatenate([p[0] for p in parts])
        idx = np.concatenate([p[1] for p in parts])
    return drop_self(scores, idx, k)
