"""The sequential pass over one micro-batch (Numba).

Inputs are the batch's exact unit vectors X, their screened similarities S to the K0
centroids that existed when the batch started (snapshot), and the batch's own screened Gram
matrix G (for centroids created inside the batch). Messages are then taken strictly in order.
For centroid j the screened value est (S[i, j], or G[i, m] for a centroid created by message m
of this batch) is within `eps + drift[j]` of the exact similarity, where drift[j] bounds how
far the centroid moved since the value was screened (|c_now - c_then|, since |x| = 1). Only
centroids whose est + err can reach both the threshold and the best lower bound are
re-computed exactly; the winner is the exact maximum, ties to the lowest id, exactly as the
plain loop decides. bfloat16 screens arrive as raw bits (int16): for the non-negative values
that can reach the threshold, bits order like values, so rows are scanned as integers and
decoded through a 65536-entry table only where they pass.
"""

from __future__ import annotations

import numpy as np
from numba import njit, types
from numba.extending import overload

from engine._stream.exact import distance, dot, update_centroid

DRIFT_SLACK = 1e-9  # relative padding on |c_now - c_then| for its own rounding


def screened(row, j, lut):
    """The screened similarity row[j] as float64 (bfloat16 rows hold raw bits)."""


@overload(screened)
def _screened(row, j, lut):
    if isinstance(row.dtype, types.Integer):  # bfloat16 bits: decode through the table
        return lambda row, j, lut: np.float64(lut[np.int64(row[j]) & 0xFFFF])
    return lambda row, j, lut: np.float64(row[j])


def key_below(value, row):
    """A key of row's dtype at or below `value` (conservative by a 1e-6 relative margin)."""


@overload(key_below)
def _key_below(value, row):
    if isinstance(row.dtype, types.Integer):
        def impl(value, row):
            v = value - 1e-6 * abs(value) - 1e-9
            if v <= 0.0:
                return np.int16(-32768)
            f = np.empty(1, np.float32)
            f[0] = v  # rounding to float32 moves v by < 1e-7 relative: inside the margin
            return np.int16(f.view(np.int32)[0] >> 16)  # truncation rounds down
        return impl
    return lambda value, row: np.float32(value - 1e-6 * abs(value) - 1e-9)


BF16_VALUES = (np.arange(65536, dtype=np.uint32) << np.uint32(16)).view(np.float32)


def screen_key(value: float, dtype) -> np.generic:
    """The largest key of S's dtype whose value is <= `value` (keys compare like values for
    the non-negative values that matter; a non-positive bar lets every entry through)."""
    f = np.float32(value)
    while np.float64(f) > value:
        f = np.nextafter(f, np.float32(-np.inf))
    if np.dtype(dtype) == np.float32:
        return f
    if f <= 0:
        return np.int16(-32768)
    return np.int16(np.array([f], np.float32).view(np.int32)[0] >> 16)  # truncation: <= f


@njit(cache=True)
def _block_max(row, lo, hi):
    """max(row[lo:hi]) (hi > lo). Written over a slice indexed from 0 with a plain max, so
    LLVM vectorises it (packed int16 max for bfloat16 bits): this scan is the only O(K) work
    per message in the pass, and a counting loop over row[j] ran ~12x slower."""
    blk = row[lo:hi]
    m = blk[0]
    for j in range(1, blk.shape[0]):
        m = max(m, blk[j])
    return m


@njit(cache=True, nogil=True)
def pass_buffers(n, d):
    """Scratch of a sequential pass: ids, screened estimates and their errors for up to n
    candidates, and a d-vector for the centroid update."""
    return np.empty(n, np.int64), np.empty(n), np.empty(n), np.empty(d)


@njit(cache=True)
def _consider(j, v, err, s_th, cand, cand_est, cand_err, nc) -> int:
    if v + err >= s_th:
        cand[nc] = j
        cand_est[nc] = v
        cand_err[nc] = err
        nc += 1
    return nc


@njit(cache=True, nogil=True)
def exact_winner(x, C, s_th, cand, cand_est, cand_err, nc):
    """The exact maximum over the candidates (screened est within err of x . C[j]) that can
    still be the best, ties to the lowest id: (best id or -1, its similarity, exact dots).
    Exact means `engine._stream.exact.dot`, in its fixed lane order: the bits every screen
    and the plain reference agree on."""
    # The best exact similarity is at least the largest est - err among the candidates.
    bar = s_th
    for q in range(nc):
        lb = cand_est[q] - cand_err[q]
        if lb > bar:
            bar = lb
    best = -1
    best_s = -np.inf
    checked = 0
    for q in range(nc):
        if cand_est[q] + cand_err[q] < bar:
            continue
        j = cand[q]
        s = dot(x, C[j])
        checked += 1
        if s > best_s or (s == best_s and j < best):  # ties: the lowest id
            best_s = s
            best = j
    return best, best_s, checked


@njit(cache=True, nogil=True)
def join(C, n, last_seen, j, x, t, cap, work, i, similarity, out_cluster, out_conf, out_new):
    """Message i (x at time t) joins centroid j: the capped running-mean update."""
    update_centroid(C[j], x, min(n[j], cap), work)
    n[j] += 1
    last_seen[j] = t
    out_cluster[i] = j
    out_conf[i] = similarity
    out_new[i] = False


@njit(cache=True, nogil=True)
def start_cluster(C, n, last_seen, K, x, t, i, out_cluster, out_conf, out_new):
    """Message i (x at time t) starts centroid K, with confidence 1."""
    C[K, :] = x
    n[K] = 1
    last_seen[K] = t
    out_cluster[i] = K
    out_conf[i] = 1.0
    out_new[i] = True


@njit(cache=True)
def assign_batch(X, times, S, G, lut, clean_bar, C, n, last_seen, K0, cap, s_th, eps,
                 window_ns, out_cluster, out_conf, out_new, drift, snap, slot, creator, touched):
    """Assign the batch's messages in order; returns (K, n_touched, n_exact).

    C, n, last_seen (capacity >= K0 + B rows) are updated in place; `touched` receives the ids
    of pre-existing centroids that moved (their float32 copies must be refreshed), and the
    centroids K0..K-1 are new. drift/slot must be 0/-1 for all rows on entry and are reset
    for the touched rows on exit.
    """
    B, d = X.shape
    K = K0
    n_touched = 0
    n_exact = 0
    max_drift = 0.0
    cand, cand_est, cand_err, work = pass_buffers(K0 + B, d)
    block = 64
    for i in range(B):
        t = times[i]
        x = X[i]
        nc = 0
        row = S[i]
        # Centroids unchanged since the snapshot: their screened value is within eps.
        for b0 in range(0, K0, block):
            b1 = min(b0 + block, K0)
            if _block_max(row, b0, b1) < clean_bar:
                continue
            for j in range(b0, b1):
                if row[j] < clean_bar or slot[j] >= 0:
                    continue
                if window_ns >= 0 and t - last_seen[j] > window_ns:
                    continue
                v = screened(row, j, lut)
                nc = _consider(j, v, eps, s_th, cand, cand_est, cand_err, nc)
        # Centroids moved inside this batch: add how far they moved (at most max_drift).
        touched_bar = key_below(s_th - eps - max_drift * (1.0 + DRIFT_SLACK) - 1e-12, row)
        for q in range(n_touched):
            j = touched[q]
            if row[j] < touched_bar:
                continue
            if window_ns >= 0 and t - last_seen[j] > window_ns:
                continue
            err = eps + drift[j] * (1.0 + DRIFT_SLACK) + 1e-12
            nc = _consider(j, screened(row, j, lut), err, s_th, cand, cand_est, cand_err, nc)
        # Centroids created inside this batch: screened through the batch's Gram matrix.
        for j in range(K0, K):
            if window_ns >= 0 and t - last_seen[j] > window_ns:
                continue
            err = eps + drift[j] * (1.0 + DRIFT_SLACK) + 1e-12
            v = screened(G[i], creator[j - K0], lut)
            nc = _consider(j, v, err, s_th, cand, cand_est, cand_err, nc)
        best, best_s, checked = exact_winner(x, C, s_th, cand, cand_est, cand_err, nc)
        n_exact += checked
        if best >= 0 and best_s >= s_th:
            j = best
            if j < K0 and slot[j] < 0:
                slot[j] = n_touched
                snap[n_touched, :] = C[j]
                touched[n_touched] = j
                n_touched += 1
            join(C, n, last_seen, j, x, t, cap, work, i, best_s, out_cluster, out_conf, out_new)
            if j < K0:
                drift[j] = distance(C[j], snap[slot[j]])
                max_drift = max(max_drift, drift[j])
            else:
                drift[j] = distance(C[j], X[creator[j - K0]])
        else:
            start_cluster(C, n, last_seen, K, x, t, i, out_cluster, out_conf, out_new)
            creator[K - K0] = i
            drift[K] = 0.0
            K += 1
    for q in range(n_touched):
        j = touched[q]
        slot[j] = -1
        drift[j] = 0.0
    for j in range(K0, K):
        drift[j] = 0.0
    return K, n_touched, n_exact
