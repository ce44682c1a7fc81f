"""k-nearest-neighbour search with FAISS (CPU: flat, HNSW, IVF; GPU: flat, IVF, CAGRA).

`self_knn(backend, X, k, ...)` returns, for every row of X, its k nearest other rows by inner
product (cosine on L2-normalised rows) or squared L2: `(scores, indices)`, both (n, k), with
self matches and FAISS's invalid (-1) results removed and the rows left-packed; missing
neighbours are marked with index -1 and score NaN.

Index parameters (keyword arguments; those of other methods are ignored):
- hnsw (CPU): `hnsw_m` (graph degree), `ef_construction`, `ef_search`;
- ivf: `nlist` (0: about 4 sqrt(n) on the GPU, 2 sqrt(n) on the CPU), `nprobe` (CPU: 0 picks
  it from a sample so that recall@k reaches `target_recall`), `seed` (training sample); the
  CPU searches list by list with dense products (engine.ops.knn_ivf);
- cagra (GPU): `graph_degree`, `intermediate_graph_degree`, `itopk_size`.

`sample_recall` measures an approximate result against exact search on a sample of rows.
"""

from __future__ import annotations

import numpy as np

from engine.backend import Backend
from engine.errors import UserError

METHODS = ("flat", "hnsw", "ivf", "cagra")
CPU_METHODS = ("flat", "hnsw", "ivf")
GPU_METHODS = ("flat", "ivf", "cagra")


def _faiss():
    import faiss

    return faiss


def faiss_metric(metric: str):
    """FAISS's metric constant for "ip" (inner product) or "l2"."""
    faiss = _faiss()
    return faiss.METRIC_INNER_PRODUCT if metric == "ip" else faiss.METRIC_L2


def check_method(backend: Backend, method: str) -> None:
    """One clear line when a method does not exist or does not run on this backend."""
    if method not in METHODS:
        raise UserError(f"job.knn={method!r}: expected one of {', '.join(METHODS)}")
    allowed = GPU_METHODS if backend.gpu else CPU_METHODS
    if method not in allowed:
        where = "GPU" if backend.gpu else "CPU"
        raise UserError(f"job.knn={method} does not run on the {where} backend "
                        f"({where}: {' or '.join(allowed)})")


def build_index_cpu(X: np.ndarray, method: str, metric: str, hnsw_m: int = 32,
                    ef_construction: int = 200, ef_search: int = 128, **_ignored):
    """FAISS index over X for the CPU's flat and hnsw methods (ivf: engine.ops.knn_ivf)."""
    faiss = _faiss()
    d = X.shape[1]
    if method == "flat":
        index = faiss.IndexFlatIP(d) if metric == "ip" else faiss.IndexFlatL2(d)
    elif method == "hnsw":
        index = faiss.IndexHNSWFlat(d, int(hnsw_m), faiss_metric(metric))
        index.hnsw.efConstruction = int(ef_construction)
        index.hnsw.efSearch = int(ef_search)
    elif method == "cagra":
        raise UserError("job.knn=cagra needs the GPU backend (CPU: flat, hnsw or ivf)")
    else:
        raise UserError(f"job.knn={method!r}: expected one of {', '.join(METHODS)}")
    index.add(np.ascontiguousarray(X, dtype=np.float32))
    return index


def drop_self(scores: np.ndarray, idx: np.ndarray, k: int,
              row_ids: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Remove each row's own index and -1 results, left-pack, keep k columns.

    `row_ids[i]` is the index of query row i in the database (default: i)."""
    own = np.arange(idx.shape[0]) if row_ids is None else np.asarray(row_ids)
    valid = (idx >= 0) & (idx != own[:, None])
    # Stable left-pack: order valid entries first, preserving their rank order.
    order = np.argsort(~valid, axis=1, kind="stable")
    idx = np.take_along_axis(idx, order, 1)[:, :k]
    scores = np.take_along_axis(scores, order, 1)[:, :k].astype(np.float32)
    packed_valid = np.take_along_axis(valid, order, 1)[:, :k]
    idx = np.where(packed_valid, idx, -1)
    scores = np.where(packed_valid, scores, np.nan).astype(np.float32)
    return scores, idx


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
    check_method(backend, method)
    if backend.gpu:
        from engine.ops import knn_gpu

        scores, idx = knn_gpu.search(backend, X, k + 1, method, metric, batch_rows,
                                     progress=progress, **index_params)
    elif method == "ivf":
        from engine.ops.knn_ivf import ivf_self_knn

        p = index_params
        scores, idx, resolved = ivf_self_knn(
            X, k, nlist=p.get("nlist", 0), nprobe=p.get("nprobe", 0), metric=metric,
            seed=p.get("seed", 0), target_recall=p.get("target_recall", 0.96),
            progress=progress)
        if info is not None:
            info.update(resolved)
    else:
        X = np.ascontiguousarray(X, dtype=np.float32)
        index = build_index_cpu(X, method, metric, **index_params)
        if method == "hnsw":
            # HNSW searches with max(efSearch, k) candidates; keep efSearch >= k + 1.
            index.hnsw.efSearch = max(int(index.hnsw.efSearch), k + 1)
        parts = [index.search(X[i : i + batch_rows], k + 1)
                 for i in _chunks(n, batch_rows, progress)]
        scores = np.concatenate([p[0] for p in parts])
        idx = np.concatenate([p[1] for p in parts])
    return drop_self(scores, idx, k)


def _chunks(n: int, batch_rows: int, progress=None):
    starts = range(0, n, batch_rows)
    return progress(starts, len(starts), "knn search") if progress else starts


def exact_knn_rows(backend: Backend, X, rows: np.ndarray, k: int,
                   metric: str = "ip") -> tuple[np.ndarray, np.ndarray]:
    """Exact k nearest other rows of X[rows] (brute force over all of X), host arrays."""
    if backend.gpu:
        from engine.ops import knn_gpu

        scores, idx = knn_gpu.exact_rows(backend, X, rows, k + 1, metric)
    else:
        faiss = _faiss()
        X = np.ascontiguousarray(X, dtype=np.float32)
        scores, idx = faiss.knn(X[rows], X, k + 1, metric=faiss_metric(metric))
    return drop_self(scores, idx, k, row_ids=rows)


def recall_at_k(approx_idx: np.ndarray, exact_idx: np.ndarray) -> float:
    """Share of the exact neighbours (index >= 0) that the approximate lists also hold."""
    approx_idx = np.where(np.asarray(approx_idx) >= 0, approx_idx, -1)
    exact_idx = np.where(np.asarray(exact_idx) >= 0, exact_idx, -2)
    # Each list holds distinct indices, so a value seen twice in a sorted row is a hit.
    both = np.sort(np.concatenate([approx_idx, exact_idx], axis=1), axis=1)
    hits = int(((both[:, 1:] == both[:, :-1]) & (both[:, 1:] >= 0)).sum())
    total = int((exact_idx >= 0).sum())
    return hits / total if total else 1.0


def sample_recall(backend: Backend, X, idx: np.ndarray, n_sample: int = 1000, seed: int = 0,
                  metric: str = "ip") -> float:
    """recall@k of the neighbour lists `idx` (n, k) against exact search on sampled rows."""
    n, k = idx.shape
    rng = np.random.default_rng([seed, 7])
    rows = np.sort(rng.choice(n, size=min(n_sample, n), replace=False))
    _, exact = exact_knn_rows(backend, X, rows, k, metric)
    return recall_at_k(idx[rows], exact)
