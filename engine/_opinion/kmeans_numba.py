"""Numba kernel of the CPU k-means assignment step (2-D points, ~100 centres)."""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True)
def _assign(x, c, out):
    for i in range(x.shape[0]):
        best = 0
        best_d = np.inf
        for j in range(c.shape[0]):
            d = 0.0
            for t in range(x.shape[1]):
                diff = x[i, t] - c[j, t]
                d += diff * diff
            if d < best_d:  # strict: ties keep the lower index
                best_d = d
                best = j
        out[i] = best


def assign(x: np.ndarray, centres: np.ndarray) -> np.ndarray:
    out = np.empty(len(x), np.int32)
    _assign(x.astype(np.float64, copy=False), centres.astype(np.float64, copy=False), out)
    return out


@numba.njit(cache=True)
def _hamerly(x, c, tol, max_iter, labels):
    """Unweighted Lloyd iterations with Hamerly's bounds (exact: the same assignments as
    plain Lloyd, but points whose bounds prove their centre unchanged are skipped).
    Stops when every centre moves < tol. Returns (centres, n_iter, dropped_any)."""
    n, dim = x.shape
    k = c.shape[0]
    upper = np.full(n, np.inf)
    lower = np.zeros(n)
    for i in range(n):
        labels[i] = -1
    n_iter = 0
    for it in range(max_iter):
        n_iter = it + 1
        # Half the distance from each centre to its nearest other centre.
        half = np.full(k, np.inf)
        for a in range(k):
            for b in range(k):
                if a != b:
                    d = 0.0
                    for t in range(dim):
                        diff = c[a, t] - c[b, t]
                        d += diff * diff
                    d = np.sqrt(d) / 2
                    if d < half[a]:
                        half[a] = d
        for i in range(n):
            a = labels[i]
            if a >= 0 and upper[i] <= max(half[a], lower[i]):
                continue
            if a >= 0:  # tighten the upper bound, test again
                d = 0.0
                for t in range(dim):
                    diff = x[i, t] - c[a, t]
                    d += diff * diff
                upper[i] = np.sqrt(d)
                if upper[i] <= max(half[a], lower[i]):
                    continue
            best, second = np.inf, np.inf
            arg = 0
            for j in range(k):
                d = 0.0
                for t in range(dim):
                    diff = x[i, t] - c[j, t]
                    d += diff * diff
                if d < best:
                    second = best
                    best = d
                    arg = j
                elif d < second:
                    second = d
            labels[i] = arg
            upper[i] = np.sqrt(best)
            lower[i] = np.sqrt(second)
        sums = np.zeros((k, dim))
        mass = np.zeros(k)
        for i in range(n):
            mass[labels[i]] += 1.0
            for t in range(dim):
                sums[labels[i], t] += x[i, t]
        for j in range(k):
            if mass[j] == 0:
                return c, n_iter, True  # a cluster emptied: the caller drops it
        moved = np.zeros(k)
        for j in range(k):
            d = 0.0
            for t in range(dim):
                new = sums[j, t] / mass[j]
                diff = new - c[j, t]
                d += diff * diff
                c[j, t] = new
            moved[j] = np.sqrt(d)
        biggest = 0.0
        for j in range(k):
            if moved[j] > biggest:
                biggest = moved[j]
        if biggest < tol:
            break
        for i in range(n):
            upper[i] += moved[labels[i]]
            lower[i] -= biggest
    return c, n_iter, False


def lloyd_unweighted(x: np.ndarray, centres: np.ndarray, tol: float, max_iter: int):
    """(centres, n_iter, kept): drops emptied clusters; `kept` indexes the starting centres
    that survived, in order (cluster ids are carried by the caller)."""
    x = np.ascontiguousarray(x, np.float64)
    c = np.array(centres, np.float64)
    kept = np.arange(len(c))
    labels = np.empty(len(x), np.int32)
    done = 0
    while True:
        c, n_iter, dropped = _hamerly(x, c, tol, max_iter - done, labels)
        done += n_iter
        if not dropped or done >= max_iter:
            return c, done, kept
        alive = np.bincount(labels, minlength=len(c)) > 0
        c = np.ascontiguousarray(c[alive])
        kept = kept[alive]
