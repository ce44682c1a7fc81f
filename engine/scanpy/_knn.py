"""Each row's nearest rows by the engine's kNN, in the form scanpy keeps them: the row itself
first (distance 0), then its neighbours by increasing distance."""

from __future__ import annotations

import numpy as np
from scipy import sparse

from engine.backend import Backend, resolve

METRICS = ("euclidean", "cosine")
FLAT_ROWS = 50_000  # knn="auto": exact search up to here (as scanpy's brute force), then IVF


def backend_of(backend: str | Backend) -> Backend:
    return backend if isinstance(backend, Backend) else resolve(backend)


def knn_with_self(X, n_neighbors: int, *, metric: str = "euclidean", knn: str = "auto",
                  backend: str | Backend = "auto", random_state: int = 0,
                  target_recall: float = 0.96) -> tuple[np.ndarray, np.ndarray]:
    """(indices, distances), both (n, n_neighbors): column 0 is the row itself, then its
    n_neighbors - 1 nearest other rows; a neighbour an approximate search did not find is
    index -1 with distance NaN. Euclidean distances, or cosine distances 1 - cos."""
    from engine.ops.knn import self_knn

    if metric not in METRICS:
        raise ValueError(f"metric={metric!r}: expected one of {', '.join(METRICS)}")
    X = np.asarray(X.toarray() if sparse.issparse(X) else X, dtype=np.float32)
    if X.ndim != 2 or not np.isfinite(X).all():
        raise ValueError(f"the representation must be a finite 2-D matrix, got shape {X.shape}")
    n = X.shape[0]
    if not 2 <= n_neighbors <= n:
        raise ValueError(f"n_neighbors={n_neighbors}: expected 2..{n} (it counts the cell "
                         "itself, as in scanpy)")
    if metric == "cosine":
        X = X / np.maximum(np.linalg.norm(X, axis=1, keepdims=True), 1e-12)
    method = ("flat" if n <= FLAT_ROWS else "ivf") if knn == "auto" else knn
    be = backend_of(backend)
    scores, idx = self_knn(be, X, n_neighbors - 1, method=method,
                           metric="ip" if metric == "cosine" else "l2", seed=random_state,
                           target_recall=target_recall)
    # self_knn gives squared L2 distances or inner products of unit rows.
    dist = (1.0 - scores) if metric == "cosine" else np.sqrt(np.maximum(scores, 0.0))
    dist = np.where(idx >= 0, np.maximum(dist, 0.0), np.nan)
    own = np.arange(n)[:, None]
    return np.hstack([own, idx]), np.hstack([np.zeros((n, 1), np.float32), dist])


def distance_matrix(indices: np.ndarray, distances: np.ndarray, *, keep_self: bool
                    ) -> sparse.csr_matrix:
    """(n, n) CSR of the distances, each row's entries in neighbour order (as scanpy stores
    them); the row itself kept as an explicit 0 with `keep_self` (scikit-learn's
    mode='distance' graph), else left out (scanpy's obsp['distances'])."""
    if not keep_self:
        indices, distances = indices[:, 1:], distances[:, 1:]
    n = indices.shape[0]
    found = indices >= 0
    counts = found.sum(axis=1)
    indptr = np.r_[0, np.cumsum(counts)]
    return sparse.csr_matrix((distances[found].astype(np.float64), indices[found], indptr),
                             shape=(n, n))
