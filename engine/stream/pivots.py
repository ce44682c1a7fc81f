"""Pivot bounds: rule out most centroids for a message from one nearby centroid, exactly.

For unit x and centroids c_j with float32 reference copies e_j ("epoch" copies, |c_j - e_j| <=
delta_j) and their Gram matrix H[a, j] = fl32(e_a . e_j), the triangle inequality gives, for
any pivot a,

    x . c_j <= x . e_j + delta_j <= e_a . e_j + |x - e_a| |e_j| + delta_j
            <= H[a, j] + err_H + rho (1 + 1e-6) + delta_j,      rho >= |x - e_a|,

so a centroid whose bound is below the threshold cannot take the message, whatever its exact
similarity. With a pivot near x (rho ~ 0.3 for a message that joins a cluster) and centroids
spread out (H[a, j] small), a scan of one row of H leaves one or two candidates out of
thousands; the plain loop reads all K centroids per message. The pivot is only a heuristic
(FAISS IVF on a PCA projection, one list, more for the few it misses): a poor one loosens
the bound, never breaks it.

Each scan adds delta[j] to H[a, j] (vectorised), so a centroid's copy never has to follow it for
the bound to hold; copies are refreshed (H's row and column recomputed, one product for all of
them) for new centroids and for those that drifted more than `max_drift` from their copy, only
to keep the bounds tight: a column write touches K cache lines, so refreshing every moved
centroid would cost as much as the plain loop. Memory: H is held as K x K int8 upper
bounds (100 MB at 10,000 clusters); `OnlineClustering` falls back to dense screening above
`pivot_max_clusters`.
"""

from __future__ import annotations

import os

import numpy as np

from engine.stream.screen import F32_U

PCA_MIN_ROWS = 1024  # fewer copies search the full dimension (a PCA needs the points)


def gram_error(dim: int) -> float:
    """|fl32(e_a . e_j) - e_a . e_j| for float32 vectors of norm <= 1 + 1e-6 (any order)."""
    gamma = dim * F32_U / (1 - dim * F32_U)
    # + 1e-6: an int8 bound clipped at 1 still bounds e_a . e_j <= |e_a||e_j| <= 1 + 3e-7.
    return 1.01 * gamma * (1 + 1e-6) ** 2 + 1e-6


class PivotIndex:
    """Float32 copies E of the centroids, their Gram matrix H, drift bounds delta, and an IVF
    index over the copies for finding pivots. Rows 0..size-1 are live."""

    def __init__(self, dim: int, max_drift: float = 0.25, list_size: int = 24, nprobe: int = 1,
                 rescue_nprobe: int = 16, pca_dim: int = 64):
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # see screen.Screen
        import faiss

        self._faiss = faiss
        self.dim = dim
        self.max_drift = float(max_drift)
        self.list_size = int(list_size)
        self.nprobe = int(nprobe)
        self.rescue_nprobe = int(rescue_nprobe)
        self.pca_dim = int(pca_dim)
        self.err_h = gram_error(dim)
        self.size = 0
        self.E = np.zeros((0, dim), np.float32)
        self.Hq = np.zeros((0, 0), np.int8)  # H[a, j] <= Hq[a, j] / QSCALE (+ err_h)
        self.delta = np.zeros(0)
        self.delta32 = np.zeros(0, np.float32)  # delta rounded up, for the vectorised scans
        self.delta_q = np.zeros(0, np.int16)  # delta <= delta_q / QSCALE
        self._ivf = None  # the IVF part of `_index_obj` (which may project first)
        self._index_obj = None
        self._trained_at = 0

    def _reserve(self, rows: int) -> None:
        cap = self.E.shape[0]
        if rows <= cap:
            return
        new = max(rows, int(1.5 * cap), 1024)
        s = self.size
        E = np.zeros((new, self.dim), np.float32)
        E[:s] = self.E[:s]
        Hq = np.zeros((new, new), np.int8)
        Hq[:s, :s] = self.Hq[:s, :s]
        delta = np.zeros(new)
        delta[:s] = self.delta[:s]
        delta32 = np.zeros(new, np.float32)
        delta32[:s] = self.delta32[:s]
        delta_q = np.zeros(new, np.int16)
        delta_q[:s] = self.delta_q[:s]
        self.E, self.Hq, self.delta, self.delta32, self.delta_q = E, Hq, delta, delta32, delta_q

    def refresh(self, vectors: np.ndarray, rows: np.ndarray, size: int, pool=None) -> None:
        """Copy the centroids `rows` (float64 `vectors[rows]`) afresh; `size` is the new count
        (rows past the old size are new centroids). One product fills their rows of H, split
        with `pool`'s idle thread when given (one BLAS thread each: see online.py)."""
        from engine.stream.pivot_pass import record_drifts, store_gram_rows

        rows = np.asarray(rows, np.int64)
        old = self.size
        self._reserve(size)
        self.size = size
        if len(rows) == 0:
            return
        self.E[rows] = vectors[rows]
        record_drifts(vectors, self.E, rows, self.delta, self.delta32, self.delta_q)
        copies = self.E[:size]
        half = len(rows) // 2 if pool is not None else 0
        other = pool.submit(np.matmul, self.E[rows[:half]], copies.T) if half else None
        block = self.E[rows[half:]] @ copies.T
        if other is not None:
            block = np.vstack([other.result(), block])
        store_gram_rows(self.Hq, rows, block)
        self._index(rows[rows >= old], size)

    def _index(self, new_rows: np.ndarray, size: int) -> None:
        """Adds new copies to the IVF index; retrains it when the count has doubled. From
        PCA_MIN_ROWS copies on, the index searches a PCA projection to `pca_dim` axes: the
        coarse product over ~K / list_size list centres is most of a search, and a pivot
        needs only to be near, not the nearest."""
        faiss = self._faiss
        if self._ivf is None or size >= 2 * self._trained_at:
            dim = self.pca_dim if self.pca_dim < self.dim and size >= PCA_MIN_ROWS else self.dim
            nlist = max(1, size // self.list_size)
            ivf = faiss.IndexIVFFlat(faiss.IndexFlatIP(dim), dim, nlist,
                                     faiss.METRIC_INNER_PRODUCT)
            ivf.cp.min_points_per_centroid = 1  # too few points for a clustering is expected
            ivf.cp.niter = 10
            index = ivf if dim == self.dim else faiss.IndexPreTransform(
                faiss.PCAMatrix(self.dim, dim), ivf)
            index.train(self.E[:size])
            index.add_with_ids(self.E[:size], np.arange(size, dtype=np.int64))
            self._ivf, self._index_obj, self._trained_at = ivf, index, size
        elif len(new_rows):
            self._index_obj.add_with_ids(self.E[new_rows], new_rows)

    def search(self, X: np.ndarray, X32: np.ndarray, min_reach: float, s_th: float
               ) -> np.ndarray:
        """Pivot ids: the nearest copy in the `nprobe` nearest lists, or in `rescue_nprobe`
        lists for rows whose first search missed (rho too large for a useful bound). Safe to
        run while a sequential pass runs: it only reads the index and the copies."""
        ids = self._search(X32, self.nprobe)
        miss = np.flatnonzero(s_th - self.err_h - self._rho(X, ids) < min_reach)
        if len(miss):
            ids[miss] = self._search(X32[miss], self.rescue_nprobe)
        return ids

    def pivots(self, X: np.ndarray, ids: np.ndarray, min_reach: float, s_th: float
               ) -> tuple[np.ndarray, np.ndarray]:
        """From `search`'s ids (found on this or an earlier state of the index and copies:
        any id is a valid pivot), rho >= |x - e_id| with the current copies, and the ids
        with -1 where the bound cannot reach `min_reach` below s_th (a far message)."""
        rho = self._rho(X, ids)
        return np.where(s_th - self.err_h - rho < min_reach, -1, ids), rho

    def _search(self, X32: np.ndarray, nprobe: int) -> np.ndarray:
        faiss = self._faiss
        params = ivf_params = faiss.SearchParametersIVF(nprobe=min(nprobe, self._ivf.nlist))
        if self._index_obj is not self._ivf:
            params = faiss.SearchParametersPreTransform()
            params.index_params = ivf_params  # (ivf_params stays referenced until the search)
        _, ids = self._index_obj.search(X32, 1, params=params)
        ids = ids[:, 0]
        ids[ids < 0] = 0
        return ids

    def _rho(self, X: np.ndarray, ids: np.ndarray) -> np.ndarray:
        """|x - e_id| in float64, padded for its rounding."""
        from engine.stream.pivot_pass import distances_to_rows

        return distances_to_rows(X, self.E, ids)

    def stale(self, rows: np.ndarray) -> np.ndarray:
        """The centroids among `rows` whose drift exceeds `max_drift`: refresh them."""
        return rows[self.delta[rows] > self.max_drift]
