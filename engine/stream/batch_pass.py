"""The sequential pass over one micro-batch (Numba).

Inputs are the batch's exact unit vectors X, their screened similarities S to the centroids
of a snapshot, and the screened Gram matrix G of the batch against the messages since the
snapshot. The snapshot is taken when the *previous* batch started: its screening product
runs on another thread while the previous batch's pass runs (`ahead`), so centroids may have
been created or moved by two batches since. Messages are then taken strictly in order. For
centroid j the screened value est (S[i, j], or G[i, m] for a centroid created by message m)
is within `eps + drift[j]` of the exact similarity, where drift[j] bounds how far the
centroid moved since the value was screened (|c_now - c_then|, since |x| = 1). Only
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

from engine.stream.exact import distance, dot, update_centroid

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


@njit(cache=True)
def _consider(j, v, err, s_th, cand, cand_est, cand_err, nc) -> int:
    if v + err >= s_th:
        cand[nc] = j
        cand_est[nc] = v
        cand_err[nc] = err
        nc += 1
    return nc


class Ledger:
    """What changed since the screening snapshot, for `assign_batch`: drift bounds per
    centroid, first messages of the centroids created since, and two generations (the
    previous batch, this batch) of moved snapshot centroids with their values before."""

    def __init__(self, batch_size: int, dim: int):
        self.drift = np.zeros(0)
        self.slot_prev = np.zeros(0, np.int64)
        self.slot_cur = np.zeros(0, np.int64)
        self.creator = np.empty(2 * batch_size, np.int64)
        self.snap_prev = np.empty((batch_size, dim))
        self.snap_cur = np.empty((batch_size, dim))
        self.touched_prev = np.empty(batch_size, np.int64)
        self.touched_cur = np.empty(batch_size, np.int64)
        self.n_prev = 0

    def reserve(self, capacity: int) -> None:
        """Per-centroid arrays for `capacity` centroids (kept: they carry across batches)."""
        old = self.drift.shape[0]
        if capacity <= old:
            return
        self.drift = np.r_[self.drift, np.zeros(capacity - old)]
        self.slot_prev = np.r_[self.slot_prev, np.full(capacity - old, -1, np.int64)]
        self.slot_cur = np.r_[self.slot_cur, np.full(capacity - old, -1, np.int64)]

    def pass_args(self) -> tuple:
        return (self.drift, self.creator, self.snap_prev, self.slot_prev, self.touched_prev,
                self.n_prev, self.snap_cur, self.slot_cur, self.touched_cur)

    def advance(self, n_cur: int) -> None:
        """After `assign_batch`: this batch's generation becomes the previous one."""
        self.snap_prev, self.snap_cur = self.snap_cur, self.snap_prev
        self.touched_prev, self.touched_cur = self.touched_cur, self.touched_prev
        self.n_prev = n_cur

    def moved(self) -> np.ndarray:
        """Snapshot centroids the last batch moved."""
        return self.touched_prev[: self.n_prev].copy()


@njit(cache=True, nogil=True)
def assign_batch(X, X_prev, times, S, G, lut, clean_bar, C, n, last_seen, K_snap, K_start, cap,
                 s_th, eps, window_ns, out_cluster, out_conf, out_new, drift, creator,
                 snap_prev, slot_prev, touched_prev, n_prev, snap_cur, slot_cur, touched_cur):
    """Assign the batch's messages in order; returns (K, n_cur, n_exact).

    The screening snapshot may be one batch older than the batch (see `Ledger`): S holds the
    similarities to the K_snap centroids of the snapshot, G those to the messages of the
    previous batch (X_prev) and of this one (X), in that order; centroids K_snap..K_start-1
    were created by the previous batch. C, n, last_seen (capacity >= K_start + B rows) are
    updated in place. nogil: the next batch is screened on another thread meanwhile.

    Ledger arrays: drift[j] bounds |C[j] - its snapshot value| (for centroids created since
    the snapshot: |C[j] - its first message|); creator[j - K_snap] indexes that first message
    in [X_prev; X]; the *_prev generation lists the snapshot centroids moved by the previous
    batch, with their values at the snapshot (snap_prev[slot_prev[j]]); the *_cur generation
    lists those this batch moves (ids < K_start), with their values when it started. On exit
    the ledger describes the next snapshot (this batch's start): see `_advance`.
    """
    B, d = X.shape
    B_prev = X_prev.shape[0]
    K = K_start
    n_cur = 0
    n_exact = 0
    max_drift = 0.0
    for q in range(n_prev):
        max_drift = max(max_drift, drift[touched_prev[q]])
    cand = np.empty(K_start + B, np.int64)
    cand_est = np.empty(K_start + B, np.float64)
    cand_err = np.empty(K_start + B, np.float64)
    work = np.empty(d, np.float64)
    block = 64
    for i in range(B):
        t = times[i]
        x = X[i]
        nc = 0
        row = S[i]
        # Centroids unchanged since the snapshot: their screened value is within eps.
        for b0 in range(0, K_snap, block):
            b1 = min(b0 + block, K_snap)
            if _block_max(row, b0, b1) < clean_bar:
                continue
            for j in range(b0, b1):
                if row[j] < clean_bar or slot_prev[j] >= 0 or slot_cur[j] >= 0:
                    continue
                if window_ns >= 0 and t - last_seen[j] > window_ns:
                    continue
                v = screened(row, j, lut)
                nc = _consider(j, v, eps, s_th, cand, cand_est, cand_err, nc)
        # Snapshot centroids moved since: add how far they moved (at most max_drift). Each
        # is taken once: from the previous batch's list, else from this batch's.
        touched_bar = key_below(s_th - eps - max_drift * (1.0 + DRIFT_SLACK) - 1e-12, row)
        for q in range(n_prev + n_cur):
            if q < n_prev:
                j = touched_prev[q]
            else:
                j = touched_cur[q - n_prev]
                if j >= K_snap or slot_prev[j] >= 0:
                    continue
            if row[j] < touched_bar:
                continue
            if window_ns >= 0 and t - last_seen[j] > window_ns:
                continue
            err = eps + drift[j] * (1.0 + DRIFT_SLACK) + 1e-12
            nc = _consider(j, screened(row, j, lut), err, s_th, cand, cand_est, cand_err, nc)
        g = G[i]
        # Centroids created since the snapshot: screened through their first message.
        for j in range(K_snap, K):
            if window_ns >= 0 and t - last_seen[j] > window_ns:
                continue
            err = eps + drift[j] * (1.0 + DRIFT_SLACK) + 1e-12
            v = screened(g, creator[j - K_snap], lut)
            nc = _consider(j, v, err, s_th, cand, cand_est, cand_err, nc)
        # The best exact similarity is at least the largest est - err among the candidates.
        bar = s_th
        for q in range(nc):
            lb = cand_est[q] - cand_err[q]
            if lb > bar:
                bar = lb
        best = -1
        best_s = -np.inf
        for q in range(nc):
            if cand_est[q] + cand_err[q] < bar:
                continue
            j = cand[q]
            s = dot(x, C[j])
            n_exact += 1
            if s > best_s or (s == best_s and j < best):  # ties: the lowest id
                best_s = s
                best = j
        if best >= 0 and best_s >= s_th:
            j = best
            if j < K_start and slot_cur[j] < 0:
                slot_cur[j] = n_cur
                snap_cur[n_cur, :] = C[j]
                touched_cur[n_cur] = j
                n_cur += 1
            update_centroid(C[j], x, min(n[j], cap), work)
            n[j] += 1
            last_seen[j] = t
            if j < K_snap:
                if slot_prev[j] >= 0:
                    drift[j] = distance(C[j], snap_prev[slot_prev[j]])
                else:  # unmoved by the previous batch: its value then is the snapshot's
                    drift[j] = distance(C[j], snap_cur[slot_cur[j]])
                max_drift = max(max_drift, drift[j])
            else:
                m = creator[j - K_snap]
                first = X_prev[m] if m < B_prev else X[m - B_prev]
                drift[j] = distance(C[j], first)
            out_cluster[i] = j
            out_conf[i] = best_s
            out_new[i] = False
        else:
            j = K
            C[j, :] = x
            n[j] = 1
            last_seen[j] = t
            creator[j - K_snap] = B_prev + i
            drift[j] = 0.0
            K += 1
            out_cluster[i] = j
            out_conf[i] = 1.0
            out_new[i] = True
    _advance(C, K_snap, K_start, K, B_prev, drift, creator, slot_prev, touched_prev, n_prev,
             snap_cur, slot_cur, touched_cur, n_cur)
    return K, n_cur, n_exact


@njit(cache=True, nogil=True)
def _advance(C, K_snap, K_start, K, B_prev, drift, creator, slot_prev, touched_prev, n_prev,
             snap_cur, slot_cur, touched_cur, n_cur):
    """Re-base the ledger on the next snapshot, taken when this batch started (K_start
    centroids): the previous batch's generation is dropped, this batch's becomes the previous
    one (the caller swaps the snap/touched arrays), and creators index the batch just done."""
    for q in range(n_prev):
        j = touched_prev[q]
        slot_prev[j] = -1
        drift[j] = 0.0
    for j in range(K_snap, K_start):  # created by the previous batch: now in the snapshot
        drift[j] = 0.0
    for q in range(n_cur):
        j = touched_cur[q]
        drift[j] = distance(C[j], snap_cur[q])
        slot_prev[j] = q
        slot_cur[j] = -1
    for m in range(K - K_start):
        creator[m] = creator[m + K_start - K_snap] - B_prev
