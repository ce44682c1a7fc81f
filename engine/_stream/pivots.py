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
(`engine._stream.pivot_search`: the nearest copy in a nearby list): a poor one loosens
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

import numpy as np

from engine._stream.screen import F32_U


def gram_error(dim: int) -> float:
    """|fl32(e_a . e_j) - e_a . e_j| for float32 vectors of norm <= 1 + 1e-6 (any order)."""
    gamma = dim * F32_U / (1 - dim * F32_U)
    # + 1e-6: an int8 bound clipped at 1 still bounds e_a . e_j <= |e_a||e_j| <= 1 + 3e-7.
    return 1.01 * gamma * (1 + 1e-6) ** 2 + 1e-6


class PivotIndex:
    """Float32 copies E of the centroids, their Gram matrix H, drift bounds delta, and an IVF
    index over the copies for finding pivots. Rows 0..size-1 are live."""

    def __init__(self, dim: int, max_drift: float = 0.25, list_size: int = 24, rescue: int = 12,
                 pca_dim: int = 64):
        from engine._stream.pivot_search import PivotSearch

        self.dim = dim
        self.max_drift = float(max_drift)
        self.finder = PivotSearch(dim, pca_dim, list_size, rescue)
        self.err_h = gram_error(dim)
        self.size = 0
        self.E = np.zeros((0, dim), np.float32)
        self.Hq = np.zeros((0, 0), np.int8)  # H[a, j] <= Hq[a, j] / QSCALE (+ err_h)
        self.delta = np.zeros(0)
        self.delta32 = np.zeros(0, np.float32)  # delta rounded up, for the vectorised scans
        self.delta_q = np.zeros(0, np.int16)  # delta <= delta_q / QSCALE

    def _reserve(self, rows: int, pool=None) -> None:
        cap = self.E.shape[0]
        if rows <= cap:
            return
        new = max(rows, int(1.5 * cap), 1024)
        s = self.size
        E = np.zeros((new, self.dim), np.float32)
        E[:s] = self.E[:s]
        Hq = np.zeros((new, new), np.int8)
        # The copy writes fresh pages (~0.2 s for 8k copies, mostly page faults).
        h = s // 2
        both(pool, lambda: np.copyto(Hq[:h, :s], self.Hq[:h, :s]),
             lambda: np.copyto(Hq[h:s, :s], self.Hq[h:s, :s]))
        delta = np.zeros(new)
        delta[:s] = self.delta[:s]
        delta32 = np.zeros(new, np.float32)
        delta32[:s] = self.delta32[:s]
        delta_q = np.zeros(new, np.int16)
        delta_q[:s] = self.delta_q[:s]
        self.E, self.Hq, self.delta, self.delta32, self.delta_q = E, Hq, delta, delta32, delta_q

    def refresh(self, vectors: np.ndarray, rows: np.ndarray, size: int, pool=None,
                queries: np.ndarray | None = None, known: tuple | None = None
                ) -> np.ndarray | None:
        """Copy the centroids `rows` (float64 `vectors[rows]`) afresh; `size` is the new count
        (rows past the old size are new centroids). One product fills their rows of H, split
        with `pool`'s idle thread when given (see `products`); float32 `queries` ride along
        in it, and their products with the copies are returned. `known` = (some of the new
        rows, their new copies' float32 products with copies 0..old size-1 as they were
        before this refresh): those rows are only multiplied with the copies taken now."""
        from engine._stream.pivot_pass import record_drifts, store_gram_columns, store_gram_rows

        rows = np.asarray(rows, np.int64)
        old = self.size
        self._reserve(size, pool)
        self.size = size
        if len(rows):
            self.E[rows] = vectors[rows]
            record_drifts(vectors, self.E, rows, self.delta, self.delta32, self.delta_q)
        fresh = rows if known is None else rows[~np.isin(rows, known[0])]
        if queries is None:
            block = products(self.E[fresh], self.E[:size], pool)
        else:
            block = products(np.vstack([self.E[fresh], queries]), self.E[:size], pool)
        if len(fresh):
            h = len(fresh) // 2
            both(pool, lambda: store_gram_rows(self.Hq, fresh[:h], block[:h]),
                 lambda: store_gram_rows(self.Hq, fresh[h:], block[h : len(fresh)]))
        if known is not None and len(known[0]):
            # The old copies not retaken now are those the known products used; the others
            # (the new ones among them) take one small product.
            ids, old_products = known
            gram = np.empty((len(ids), size), np.float32)
            gram[:, :old] = old_products
            gram[:, rows] = self.E[ids] @ self.E[rows].T
            store_gram_rows(self.Hq, ids, gram)
        if len(rows):
            # The columns' scattered writes (~5x the rows' cost) on the idle thread, while
            # this one keeps the search lists: the two touch disjoint data.
            both(pool, lambda: store_gram_columns(self.Hq, rows, 0, size),
                 lambda: self._index(rows, size))
        return None if queries is None else block[len(fresh) :]

    def _index(self, rows: np.ndarray, size: int) -> None:
        """Keeps the pivot search's lists over the copies: rebuilt when the count has doubled
        (new axes and list centres) or placing the new and retaken copies would crowd a list
        (`PivotSearch.place`), else those join their nearest lists."""
        f = self.finder
        if f.trained_at == 0 or size >= 2 * f.trained_at or not f.place(self.E, rows):
            f.rebuild(self.E[:size])

    def search(self, X: np.ndarray, X32: np.ndarray, min_reach: float, s_th: float
               ) -> tuple[np.ndarray, np.ndarray]:
        """(pivot ids, rho) for unit rows X (X32 their float32 copy): near pivots, so that
        the bound reaches `min_reach` below s_th (`engine._stream.pivot_search`). Safe to run
        while a sequential pass runs: it only reads the lists and the copies."""
        return self.finder.search(X, X32, self.E, s_th - self.err_h - min_reach)

    def too_far(self, rho: np.ndarray, min_reach: float, s_th: float) -> np.ndarray:
        """Rows whose pivot is too far (rho) for the bound to reach `min_reach` below s_th."""
        return s_th - self.err_h - rho < min_reach

    def rho(self, X: np.ndarray, ids: np.ndarray) -> np.ndarray:
        """rho >= |x - e_id| for the current copies (float64, padded for its rounding)."""
        from engine._stream.pivot_pass import distances_to_rows

        return distances_to_rows(X, self.E, ids)

    def stale(self, rows: np.ndarray) -> np.ndarray:
        """The centroids among `rows` whose drift exceeds `max_drift`: refresh them."""
        return rows[self.delta[rows] > self.max_drift]


def products(A: np.ndarray, B: np.ndarray, pool=None) -> np.ndarray:
    """A @ B.T for a few rows A against many rows B, the columns split with `pool`'s idle
    thread when given (one BLAS thread each, see online.py). With few rows the product is
    bound by reading B: split by columns each thread reads half of it (1.8 ms vs 2.8 ms on
    one thread for 16 x 384 against 9,000 rows; split by rows, 4.1 ms)."""
    if pool is None or len(A) == 0 or len(B) < 2048:
        return A @ B.T
    h = len(B) // 2
    return np.hstack(both(pool, lambda: A @ B[:h].T, lambda: A @ B[h:].T))


def both(pool, first, second) -> tuple:
    """(first(), second()): first on `pool`'s idle thread when given, second on this one.
    The halves of the refresh's work that run while the other thread has nothing to do."""
    if pool is None:
        return first(), second()
    other = pool.submit(first)
    mine = second()
    return other.result(), mine
