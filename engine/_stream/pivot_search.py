"""Pivots for the stream's bounds (`engine._stream.pivots`): for each message, a centroid copy
near it.

The copies are partitioned into lists of ~`list_size` by k-means (FAISS) on their leading
principal axes. A message's pivot is the copy nearest to it, in the projection, within the
two lists whose centres are nearest; for the few messages whose pivot is then too far for a
useful bound (poor lists), the nearest within the `rescue` nearest lists. The batch's projection
and its products with the list centres are two BLAS calls; the rest is one Numba kernel that
reads ~list_size short projected rows per message. Each list holds its members' projections
inline, so a list is one contiguous read: gathered by copy id from one array, the same
search took 1.5-2x as long (a cache miss per row). (FAISS's IndexIVFFlat did the search ~2x
slower still: per-query scanner setup, and a full second search for the rescued rows.)

A pivot is only a heuristic: any copy is a valid one, a poor one loosens the bound. So the
list centres are only retrained when the copy count has doubled; in between, new and
retaken copies join the list of their nearest centre.
"""

from __future__ import annotations

import os

import numpy as np
from numba import njit

from engine._stream.pivot_pass import distance_bound, dot32

PCA_MIN_ROWS = 1024  # fewer copies search the full dimension (the axes need the points)
CROWDED_FILL = 8  # a list longer than this x list_size: rebuild, not widen (see `place`)


class PivotSearch:
    """Lists over the copies E (float32 rows, grown by the caller); `rebuild`, then `place`
    for new and retaken copies."""

    def __init__(self, dim: int, pca_dim: int = 64, list_size: int = 24, rescue: int = 12,
                 seed: int = 0):
        self.dim = dim
        self.pca_dim = int(pca_dim)
        self.list_size = int(list_size)
        self.rescue = int(rescue)
        self.seed = int(seed)
        self.axes = None  # (dim, pca_dim) float32, or None: the full dimension
        self.centres = np.zeros((1, dim), np.float32)
        self.centre_half = np.zeros(1, np.float32)  # |centre|^2 / 2
        # List l's members are slots 0..fill[l]-1: copy ids, projections, |projection|^2 / 2.
        self.members = np.zeros((1, 0), np.int64)
        self.vectors = np.zeros((1, 0, dim), np.float32)
        self.half = np.zeros((1, 0), np.float32)
        self.fill = np.zeros(1, np.int64)
        self.list_of = np.zeros(0, np.int64)  # each copy's list (-1: none) ...
        self.slot_of = np.zeros(0, np.int64)  # ... and its slot in it
        self.trained_at = 0

    def project(self, X32: np.ndarray) -> np.ndarray:
        return X32 if self.axes is None else X32 @ self.axes

    def rebuild(self, E: np.ndarray) -> None:
        """New axes, list centres and lists for the copies E (all rows live)."""
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # see screen.Screen
        import faiss

        from engine.ops.knn_ivf import principal_axes

        size = E.shape[0]
        wide = self.pca_dim < self.dim and size >= PCA_MIN_ROWS
        self.axes = principal_axes(E, self.pca_dim) if wide else None
        Ep = np.ascontiguousarray(self.project(E), dtype=np.float32)
        nlist = max(1, size // self.list_size)
        if nlist > 1:
            km = faiss.Kmeans(Ep.shape[1], nlist, niter=10, seed=self.seed + 1,
                              min_points_per_centroid=1)  # few points per list is expected
            km.train(Ep)
            self.centres = np.ascontiguousarray(km.centroids, dtype=np.float32)
        else:
            self.centres = Ep.mean(axis=0, keepdims=True)
        self.centre_half = 0.5 * np.einsum("ij,ij->i", self.centres, self.centres)
        nlist, width = len(self.centres), 2 * self.list_size
        self.members = np.zeros((nlist, width), np.int64)
        self.vectors = np.zeros((nlist, width, Ep.shape[1]), np.float32)
        self.half = np.zeros((nlist, width), np.float32)
        self.fill = np.zeros(nlist, np.int64)
        self.list_of = np.full(max(size, 1), -1, np.int64)
        self.slot_of = np.zeros(max(size, 1), np.int64)
        self.trained_at = size
        self._add(Ep, np.arange(size))

    def place(self, E: np.ndarray, rows: np.ndarray) -> bool:
        """Copies `rows` of E are new or were retaken: their projections follow, and each
        moves to the list of its nearest centre (a young cluster's copy can travel far).
        Returns False, placing nothing, where a list would outgrow CROWDED_FILL x list_size:
        copies of topics the axes and centres were not trained on (a shift in the stream)
        can all fall into one list, slow to search, and every list's inline storage would
        widen with it (lists x width x pca_dim floats). The caller rebuilds instead."""
        if len(rows) == 0:
            return True
        Ep = np.ascontiguousarray(self.project(E[rows]), dtype=np.float32)
        return self._add(Ep, rows, CROWDED_FILL * self.list_size)

    def _add(self, Ep: np.ndarray, rows: np.ndarray, limit: int | None = None) -> bool:
        """Moves copies `rows` (projections Ep) to their nearest lists, unless a list would
        end up longer than `limit`."""
        self._reserve(int(rows.max()) + 1)
        lists = np.argmax(Ep @ self.centres.T - self.centre_half, axis=1)
        arriving = np.bincount(lists, minlength=len(self.fill))
        if limit is not None:
            old = self.list_of[rows]
            leaving = np.bincount(old[old >= 0], minlength=len(self.fill))
            if int((self.fill - leaving + arriving).max()) > limit:
                return False
        need = int((self.fill + arriving).max())
        if need > self.members.shape[1]:  # worst case: every moving copy leaves its list
            width = max(need, 2 * self.members.shape[1])
            self.members = _widen(self.members, width)
            self.vectors = _widen(self.vectors, width)
            self.half = _widen(self.half, width)
        _move(self.members, self.vectors, self.half, self.fill, self.list_of, self.slot_of,
              lists, rows, Ep)
        return True

    def _reserve(self, rows: int) -> None:
        if rows > self.list_of.shape[0]:
            new = max(rows, 2 * self.list_of.shape[0])
            old = self.list_of.shape[0]
            list_of = np.full(new, -1, np.int64)
            list_of[:old] = self.list_of
            slot_of = np.zeros(new, np.int64)
            slot_of[:old] = self.slot_of
            self.list_of, self.slot_of = list_of, slot_of

    def search(self, X: np.ndarray, X32: np.ndarray, E: np.ndarray, rho_max: float
               ) -> tuple[np.ndarray, np.ndarray]:
        """(a pivot id per row of X, rho >= |x - E[id]|) for unit float64 X (X32 its float32
        copy): rows whose first pivot is farther than `rho_max` search the `rescue` nearest
        lists. Reads only what `place` and `rebuild` write, so it may run while a
        sequential pass runs."""
        Xp = np.ascontiguousarray(self.project(X32))
        scores = Xp @ self.centres.T
        ids = np.empty(len(X), np.int64)
        rho = np.empty(len(X))
        nearest_copies(X, Xp, scores, self.centre_half, self.members, self.vectors, self.half,
                       self.fill, E, min(self.rescue, len(self.fill)), rho_max, ids, rho)
        return ids, rho


def _widen(a: np.ndarray, width: int) -> np.ndarray:
    out = np.zeros((a.shape[0], width, *a.shape[2:]), a.dtype)
    out[:, : a.shape[1]] = a
    return out


@njit(cache=True)
def _move(members, vectors, half, fill, list_of, slot_of, lists, rows, Ep):
    """Copy rows[q] (projection Ep[q]) into list lists[q], out of its old list (list_of -1:
    none yet); the last member of the old list takes the freed slot."""
    for q in range(rows.shape[0]):
        j, li = rows[q], lists[q]
        old = list_of[j]
        if old >= 0:
            s, last = slot_of[j], fill[old] - 1
            if old == li:  # stays: its projection changed in place
                _put(members, vectors, half, old, s, j, Ep[q])
                continue
            moving = members[old, last]
            members[old, s] = moving
            vectors[old, s] = vectors[old, last]
            half[old, s] = half[old, last]
            slot_of[moving] = s
            fill[old] -= 1
        _put(members, vectors, half, li, fill[li], j, Ep[q])
        list_of[j] = li
        slot_of[j] = fill[li]
        fill[li] += 1


@njit(cache=True)
def _put(members, vectors, half, li, s, j, v):
    members[li, s] = j
    h = np.float32(0.0)
    for k in range(v.shape[0]):
        vectors[li, s, k] = v[k]
        h += v[k] * v[k]
    half[li, s] = np.float32(0.5) * h


@njit(cache=True)
def _nearest_in_list(xp, members, vectors, half, fill, li, best, best_v):
    """The copy of list li nearest to xp if nearer than best_v (|xp - ep|^2 / 2 - |xp|^2 / 2
    = half - xp . ep; `dot32` sums in any order: a heuristic)."""
    for t in range(fill[li]):
        v = half[li, t] - dot32(xp, vectors[li, t])
        if v < best_v:
            best_v = v
            best = members[li, t]
    return best, best_v


@njit(cache=True, nogil=True)
def nearest_copies(X, Xp, scores, centre_half, members, vectors, half, fill, E, rescue,
                   rho_max, ids, rho):
    """ids[q]: the copy nearest to Xp[q] in the two lists with the nearest centres; where
    that copy is farther than rho_max from X[q], the nearest in the `rescue` nearest lists
    (if nearer in full dimension). rho[q]: an upper bound on |X[q] - E[ids[q]]|. Two lists
    first: on the 1M bench stream one list left 20% of the messages to the rescue, two 11%,
    for less time overall."""
    nlist = scores.shape[1]
    row = np.empty(nlist, np.float32)
    for q in range(X.shape[0]):
        t1, v1, t2, v2 = -1, -np.inf, -1, -np.inf  # the two best lists
        for li in range(nlist):
            v = scores[q, li] - centre_half[li]
            row[li] = v
            if v > v2:
                if v > v1:
                    t2, v2, t1, v1 = t1, v1, li, v
                else:
                    t2, v2 = li, v
        best, best_v = _nearest_in_list(Xp[q], members, vectors, half, fill, t1, -1,
                                        np.float32(np.inf))
        if t2 >= 0:
            best, best_v = _nearest_in_list(Xp[q], members, vectors, half, fill, t2, best,
                                            best_v)
        if best < 0:  # only empty lists: any copy is a valid pivot
            best = 0
        r = distance_bound(X[q], E[best])
        if r > rho_max and rescue > 2:
            cut = _cut_for_top(row, v1, rescue)
            first = best
            for li in range(nlist):
                if row[li] >= cut and li != t1 and li != t2:
                    best, best_v = _nearest_in_list(Xp[q], members, vectors, half, fill, li,
                                                    best, best_v)
            if best != first:
                r2 = distance_bound(X[q], E[best])
                if r2 > r:
                    best = first  # the projection misjudged: keep the nearer
                else:
                    r = r2
        ids[q] = best
        rho[q] = r


@njit(cache=True)
def _count_at_least(row, t):
    c = 0
    for v in row:
        c += v >= t
    return c


@njit(cache=True)
def _cut_for_top(row, top_v, r):
    """A score t with r <= #(row >= t) <= 2 r (or the nearest bisection gets): the lists
    to rescue from. Bisection with vectorised counts: np.partition took ~5 us per row."""
    lo = top_v - 4.0 * (abs(top_v) + 1.0)  # below every score of a unit row's projection
    hi = top_v
    for _ in range(24):
        mid = np.float32(0.5 * (lo + hi))
        c = _count_at_least(row, mid)
        if c < r:
            hi = mid
        else:
            lo = mid
            if c <= 2 * r:
                break
    return lo
