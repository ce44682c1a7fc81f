"""CPU kNN with FAISS: flat and HNSW indexes here, IVF in engine.ops.knn_ivf.

Both functions return raw FAISS-style results, (scores, indices) best first with the query
row itself among them; engine.ops.knn drops self matches, repeats and -1 entries."""

from __future__ import annotations

import numpy as np

from engine.errors import UserError
from engine.ops.knn_common import chunks, faiss_metric


def build_index(X: np.ndarray, method: str, metric: str, hnsw_m: int = 32,
                ef_construction: int = 200, ef_search: int = 128, **_ignored):
    """FAISS index over X for the flat and hnsw methods."""
    import faiss

    d = X.shape[1]
    if method == "flat":
        index = faiss.IndexFlatIP(d) if metric == "ip" else faiss.IndexFlatL2(d)
    elif method == "hnsw":
        index = faiss.IndexHNSWFlat(d, int(hnsw_m), faiss_metric(metric))
        index.hnsw.efConstruction = int(ef_construction)
        index.hnsw.efSearch = int(ef_search)
    else:
        raise UserError(f"job.knn={method!r}: the CPU index here is flat or hnsw")
    index.add(np.ascontiguousarray(X, dtype=np.float32))
    return index


def search(X, k: int, method: str, metric: str, batch_rows: int, progress=None,
           info: dict | None = None, **index_params) -> tuple[np.ndarray, np.ndarray]:
    """Raw (n, k) scores and indices of every row of X against X (self included)."""
    if method == "ivf":
        from engine.ops.knn_ivf import ivf_self_knn

        p = index_params
        scores, idx, resolved = ivf_self_knn(
            X, k - 1, nlist=p.get("nlist", 0), nprobe=p.get("nprobe", 0), metric=metric,
            seed=p.get("seed", 0), target_recall=p.get("target_recall", 0.96),
            progress=progress)
        if info is not None:
            info.update(resolved)
        return scores, idx
    X = np.ascontiguousarray(X, dtype=np.float32)
    index = build_index(X, method, metric, **index_params)
    if method == "hnsw":
        # HNSW searches with max(efSearch, k) candidates; keep efSearch >= k.
        index.hnsw.efSearch = max(int(index.hnsw.efSearch), k)
    parts = [index.search(X[i : i + batch_rows], k) for i in chunks(len(X), batch_rows, progress)]
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


def exact_rows(X, rows: np.ndarray, k: int, metric: str) -> tuple[np.ndarray, np.ndarray]:
    """Exact (len(rows), k) search of X[rows] against all of X (brute force)."""
    import faiss

    X = np.ascontiguousarray(X, dtype=np.float32)
    return faiss.knn(X[rows], X, k, metric=faiss_metric(metric))
