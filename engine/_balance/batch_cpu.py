"""All pairs of one similarity tile, solved with Numba (the CPU backend): in parallel over
pairs, or on the calling thread without the GIL when tiles themselves run concurrently."""

from __future__ import annotations

import numba
import numpy as np
from numba import njit, prange

from engine._balance.solvers import auction_max, greedy_max, lsap_max_into, lsap_work

METHOD_CODES = {"exact": 0, "auction": 1, "greedy": 2}


@njit(cache=True, nogil=True)
def _solve_one(S, method, eps, max_bids, scale, work):
    if method == 1:
        total, bound, status = auction_max(S, eps, max_bids, scale)
        if status != 0:  # bid cap reached: the exact solver takes over
            total, bound, _ = lsap_max_into(S, work)
        return total, bound, status
    if method == 2:
        return greedy_max(S)
    return lsap_max_into(S, work)


@njit(cache=True, nogil=True)
def _solve_pairs(G, a_off, a_n, b_off, b_n, lo, hi, method, eps, bids_per_row, scale,
                 out_total, out_bound, out_status):
    """Pairs lo..hi-1, sharing one scratch: for blocks of a few rows, allocating per pair
    costs as much as solving."""
    rows = 1
    cols = 1
    for p in range(lo, hi):
        rows = max(rows, min(a_n[p], b_n[p]))
        cols = max(cols, max(a_n[p], b_n[p]))
    work = lsap_work(rows, cols)
    buf = np.empty(rows * cols)
    for p in range(lo, hi):
        a, b = a_n[p], b_n[p]
        max_bids = bids_per_row * min(a, b)
        if a > b:
            # The solvers take the smaller side as rows and scan rows: a contiguous copy of
            # the transpose, as a transposed view would touch a new cache line per element.
            S = buf[:a * b].reshape((b, a))
            for j in range(b):
                for i in range(a):
                    S[j, i] = G[a_off[p] + i, b_off[p] + j]
            total, bound, status = _solve_one(S, method, eps, max_bids, scale, work)
        else:  # the tile's own block, rows contiguous: no copy
            S = G[a_off[p]:a_off[p] + a, b_off[p]:b_off[p] + b]
            total, bound, status = _solve_one(S, method, eps, max_bids, scale, work)
        out_total[p] = total
        out_bound[p] = bound
        out_status[p] = status


CHUNK = 32  # pairs per scratch allocation and per parallel work item


@njit(parallel=True, cache=True)
def _solve_tile_parallel(G, a_off, a_n, b_off, b_n, method, eps, bids_per_row, scale,
                         out_total, out_bound, out_status):
    n = a_off.shape[0]
    for c in prange((n + CHUNK - 1) // CHUNK):
        _solve_pairs(G, a_off, a_n, b_off, b_n, c * CHUNK, min(n, (c + 1) * CHUNK), method,
                     eps, bids_per_row, scale, out_total, out_bound, out_status)


# A separate serial loop: a prange function may not be entered from several threads at once
# (Numba's workqueue layer is not thread-safe), and the tile pool calls this concurrently.
@njit(cache=True, nogil=True)
def _solve_tile_serial(G, a_off, a_n, b_off, b_n, method, eps, bids_per_row, scale,
                       out_total, out_bound, out_status):
    _solve_pairs(G, a_off, a_n, b_off, b_n, 0, a_off.shape[0], method, eps, bids_per_row,
                 scale, out_total, out_bound, out_status)


def solve_tile(G: np.ndarray, a_off: np.ndarray, a_n: np.ndarray, b_off: np.ndarray,
               b_n: np.ndarray, method: str, eps: float, max_bids_per_row: int,
               scale: bool, parallel: bool = True
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Solve every pair p whose block is G[a_off:a_off+a_n, b_off:b_off+b_n].

    Returns (total matched similarity, error bound on the total, status) per pair; status 1
    marks auction pairs that hit the bid cap and were re-solved exactly. `parallel=False`
    runs on the calling thread without the GIL (for callers that run tiles concurrently).
    """
    n = len(a_off)
    out_total = np.empty(n)
    out_bound = np.empty(n)
    out_status = np.zeros(n, np.int8)
    if n == 0:
        return out_total, out_bound, out_status
    args = (G, a_off.astype(np.int64), a_n.astype(np.int64), b_off.astype(np.int64),
            b_n.astype(np.int64), METHOD_CODES[method], float(eps), int(max_bids_per_row),
            bool(scale), out_total, out_bound, out_status)
    if not parallel:
        _solve_tile_serial(*args)
        return out_total, out_bound, out_status
    # Chunks of pairs differ in size; one chunk per work item keeps both cores busy.
    with numba.parallel_chunksize(1):
        _solve_tile_parallel(*args)
    return out_total, out_bound, out_status
