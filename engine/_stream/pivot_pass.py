"""The sequential pass over one micro-batch with pivot bounds (`engine._stream.pivots`), Numba.

The decisions are those of `batch_pass.assign_batch` (the exact maximum among the centroids
that cannot be ruled out, ties to the lowest id); only the way centroids are ruled out differs.
Message i either has a pivot a (pivot[i] >= 0, rho[i] >= |x_i - e_a|): centroid j is ruled
out when H[a, j] + err_h + rho + delta[j] < threshold (H held as int8 upper bounds), and
the survivors get a float32 dot with their copy e_j (within eps of x . e_j, so within
eps + delta[j] of x . c_j); or it has a dense row of float32 products with every copy
(dense_row[i] >= 0), for messages far from any centroid, where a pivot bound rules out
little. Centroids created inside the batch are screened by a float32 dot with the message
that created them, plus how far they moved since. A centroid that moves gets its delta
re-measured at once, so the bounds hold for every message after it. The survivors' exact
similarities and updates are `engine._stream.exact`'s (via `batch_pass`), bit for bit.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from engine._stream.batch_pass import _consider, exact_winner, join, pass_buffers, start_cluster
from engine._stream.exact import distance


@njit(cache=True, fastmath=True)
def dot32(a, b) -> np.float32:
    """float32 dot product in any order (fastmath lets LLVM vectorise it): only ever a screen
    whose error bound allows any summation order."""
    s = np.float32(0.0)
    for k in range(a.shape[0]):
        s += a[k] * b[k]
    return s


DRIFT_PAD = 1e-9  # relative and absolute padding of a distance for its float64 rounding


@njit(cache=True, nogil=True)
def distance_bound(a, b) -> float:
    """An upper bound on |a - b|: the float64 distance padded for its rounding."""
    return distance(a, b) * (1.0 + DRIFT_PAD) + DRIFT_PAD


@njit(cache=True, nogil=True)
def distances_to_rows(X, E, rows):
    """Upper bounds on |X[q] - E[rows[q]]| (float64 X, float32 E)."""
    out = np.empty(rows.shape[0])
    for q in range(rows.shape[0]):
        out[q] = distance_bound(X[q], E[rows[q]])
    return out


@njit(cache=True)
def _block_max_sum_q(a, b, lo, hi):
    """max(a[lo:hi] + b[lo:hi]) for int8 a and int16 b (hi > lo), as int16: explicit int16
    arithmetic lets LLVM vectorise it (packed int16 add and max); Numba would otherwise widen
    every element to int64, ~4x slower. No overflow: |a| <= 127, 0 <= b <= 32000."""
    x = a[lo:hi]
    y = b[lo:hi]
    m = np.int16(-32768)
    for j in range(x.shape[0]):
        v = np.int16(np.int16(x[j]) + y[j])
        if v > m:
            m = v
    return m


@njit(cache=True)
def _block_max_sum_f(a, b, lo, hi):
    """max(a[lo:hi] + b[lo:hi]) for float32 a and b (hi > lo), vectorised the same way."""
    x = a[lo:hi]
    y = b[lo:hi]
    m = np.float32(-np.inf)
    for j in range(x.shape[0]):
        v = x[j] + y[j]
        if v > m:
            m = v
    return m


QSCALE = 127.0  # int8 bounds: value <= q / QSCALE


@njit(cache=True, nogil=True)
def store_gram_rows(Hq, rows, block):
    """Hq[rows[r], j] = the smallest q / QSCALE >= block[r, j], clipped to +-QSCALE (a
    product of two copies never exceeds 1 + 3e-7: covered by the error bound). One pass:
    quantising through NumPy took four temporaries of the block. The columns follow with
    `store_gram_columns`."""
    R, K = block.shape
    for r in range(R):
        a = rows[r]
        for j in range(K):
            q = min(max(math.ceil(np.float64(block[r, j]) * QSCALE), -QSCALE), QSCALE)
            Hq[a, j] = np.int8(q)


@njit(cache=True, nogil=True)
def store_gram_columns(Hq, rows, lo, hi):
    """Hq[j, rows[r]] = Hq[rows[r], j] for lo <= j < hi, row by row (each row of Hq is
    touched once). These scattered writes cost ~5x the rows' (a cache line per row and
    copy): the caller runs them on its idle thread."""
    for j in range(lo, hi):
        for r in range(rows.shape[0]):
            Hq[j, rows[r]] = Hq[rows[r], j]


@njit(cache=True)
def quantise_up(v) -> np.int16:
    """The smallest q with q / QSCALE >= v, for 0 <= v <= 2 (a drift bound)."""
    return np.int16(min(math.ceil(v * QSCALE + 1e-9), 32000 - 128))


@njit(cache=True)
def _upper32(v):
    """A float32 at or above the float64 v."""
    f = np.float32(v)
    if np.float64(f) < v:
        f = np.nextafter(f, np.float32(np.inf))
    return f


@njit(cache=True, nogil=True)
def record_drift(C, E, j, delta, delta32, delta_q):
    """delta[j] >= |C[j] - E[j]| (padded for its rounding), and its rounded-up float32 and
    int8-scale copies for the vectorised scans."""
    delta[j] = distance_bound(C[j], E[j])
    delta32[j] = _upper32(delta[j])
    delta_q[j] = quantise_up(delta[j])


@njit(cache=True)
def record_drifts(C, E, rows, delta, delta32, delta_q):
    """`record_drift` for each j in rows."""
    for j in rows:
        record_drift(C, E, j, delta, delta32, delta_q)


@njit(cache=True, nogil=True)
def assign_batch_pivot(X, X32, times, pivot, rho, dense_row, Sd, E, Hq, delta, delta32,
                       delta_q, err_h, C, n, last_seen, K0, cap, s_th, eps, window_ns,
                       out_cluster, out_conf, out_new, new_drift, slot, creator, touched):
    """Assign the batch's messages in order; returns (K, n_touched, n_exact).

    C, n, last_seen (capacity >= K0 + B rows) and the drift bounds (`record_drift`) are
    updated in place; `touched` receives the ids of
    pre-existing centroids that moved; centroids K0..K-1 are new. slot must be -1 for all rows
    on entry and is reset for the touched rows on exit.
    """
    B, d = X.shape
    K = K0
    n_touched = 0
    n_exact = 0
    cand, cand_est, cand_err, work = pass_buffers(K0 + B, d)
    # Blocks of 256, and sub-blocks of 32 in the few blocks that pass: the scalar loop over
    # a passing block of 128 cost as much as the vectorised maxima of all the others.
    block, sub = 256, 32
    pad = 1e-9
    scan_pad = 1e-6  # covers the float32 sums hrow[j] + delta32[j] in the scans
    for i in range(B):
        t = times[i]
        x = X[i]
        x32 = X32[i]
        nc = 0
        a = pivot[i]
        r = dense_row[i]
        # Every pre-existing centroid j, ruled out when its bound (screened value + delta[j])
        # is below the threshold. Pivot rows scan the int8 upper bounds Hq[a, j] / 127 plus
        # delta_q[j] / 127 as int16 sums; dense rows scan float32 sums against a lowered bar.
        if a >= 0:
            hrow = Hq[a]
            # Hq[a, j] / QSCALE + reach + delta[j] >= x . c_j
            reach = err_h + rho[i] * (1.0 + 1e-6) + pad
            qbar = np.int16(max(math.floor((s_th - reach) * QSCALE) - 1, -32000))
            for b0 in range(0, K0, block):
                b1 = min(b0 + block, K0)
                if _block_max_sum_q(hrow, delta_q, b0, b1) < qbar:
                    continue
                for s0 in range(b0, b1, sub):
                    s1 = min(s0 + sub, b1)
                    if _block_max_sum_q(hrow, delta_q, s0, s1) < qbar:
                        continue
                    for j in range(s0, s1):
                        if np.int16(np.int16(hrow[j]) + delta_q[j]) < qbar:
                            continue
                        if window_ns >= 0 and t - last_seen[j] > window_ns:
                            continue
                        if np.float64(hrow[j]) / QSCALE + reach + delta[j] < s_th:
                            continue
                        v = np.float64(dot32(x32, E[j]))
                        nc = _consider(j, v, eps + delta[j] + pad, s_th, cand, cand_est,
                                       cand_err, nc)
        else:
            row = Sd[r]
            bar = np.float32(s_th - eps - pad - scan_pad)
            for b0 in range(0, K0, block):
                b1 = min(b0 + block, K0)
                if _block_max_sum_f(row, delta32, b0, b1) < bar:
                    continue
                for s0 in range(b0, b1, sub):
                    s1 = min(s0 + sub, b1)
                    if _block_max_sum_f(row, delta32, s0, s1) < bar:
                        continue
                    for j in range(s0, s1):
                        if row[j] + delta32[j] < bar:
                            continue
                        if window_ns >= 0 and t - last_seen[j] > window_ns:
                            continue
                        nc = _consider(j, np.float64(row[j]), eps + delta[j] + pad, s_th, cand,
                                       cand_est, cand_err, nc)
        # Centroids created inside this batch: a float32 dot with the message that made them.
        for j in range(K0, K):
            if window_ns >= 0 and t - last_seen[j] > window_ns:
                continue
            v = np.float64(dot32(x32, X32[creator[j - K0]]))
            nc = _consider(j, v, eps + new_drift[j - K0] * (1.0 + pad) + pad, s_th, cand,
                           cand_est, cand_err, nc)
        best, best_s, checked = exact_winner(x, C, s_th, cand, cand_est, cand_err, nc)
        n_exact += checked
        if best >= 0 and best_s >= s_th:
            j = best
            if j < K0 and slot[j] < 0:
                slot[j] = n_touched
                touched[n_touched] = j
                n_touched += 1
            join(C, n, last_seen, j, x, t, cap, work, i, best_s, out_cluster, out_conf, out_new)
            if j < K0:
                record_drift(C, E, j, delta, delta32, delta_q)
            else:
                new_drift[j - K0] = distance(C[j], X[creator[j - K0]])
        else:
            start_cluster(C, n, last_seen, K, x, t, i, out_cluster, out_conf, out_new)
            creator[K - K0] = i
            new_drift[K - K0] = 0.0
            K += 1
    for q in range(n_touched):
        slot[touched[q]] = -1
    return K, n_touched, n_exact
