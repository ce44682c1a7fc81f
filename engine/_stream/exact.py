"""The reference arithmetic of the stream clustering, as Numba kernels.

Every decision (nearest centroid, threshold, ties) and every centroid update is defined by
these float64 operations in this order, so any implementation that performs them in the same
order gets the same bits:

- dot(a, b): products a[k] * b[k] rounded to float64; LANES = 8 running sums, lane r taking
  k = r, r + 8, r + 16, ... left to right (the d mod 8 trailing products go to lane 0, after
  its share of the rest); then ((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7)). No fused
  multiply-add, no other reordering;
- normalise(v): v / sqrt(dot(v, v));
- x_hat = normalise(float64(x));
- update: v = (n_eff * c + x_hat) / (n_eff + 1), c <- normalise(v).

Eight lanes rather than one left-to-right sum: one sum is a chain of d dependent additions
(~4 cycles each), eight independent ones let the CPU overlap them, and the exact dot products
sit on the sequential pass's critical path. NumPy reproduces the order with elementwise
products, `np.cumsum` down each lane and the same final tree (tests/stream/reference.py),
which is how the tests check it independently. Numba compiles without fastmath, so LLVM
neither reorders the sums nor contracts them into FMAs.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit


@njit(cache=True, nogil=True)
def dot(a, b) -> float:
    """sum_k a[k] b[k] in float64, in the order documented above (any real dtypes)."""
    d = a.shape[0]
    m = d - d % 8
    s0 = s1 = s2 = s3 = s4 = s5 = s6 = s7 = 0.0
    for k in range(0, m, 8):
        s0 += np.float64(a[k]) * np.float64(b[k])
        s1 += np.float64(a[k + 1]) * np.float64(b[k + 1])
        s2 += np.float64(a[k + 2]) * np.float64(b[k + 2])
        s3 += np.float64(a[k + 3]) * np.float64(b[k + 3])
        s4 += np.float64(a[k + 4]) * np.float64(b[k + 4])
        s5 += np.float64(a[k + 5]) * np.float64(b[k + 5])
        s6 += np.float64(a[k + 6]) * np.float64(b[k + 6])
        s7 += np.float64(a[k + 7]) * np.float64(b[k + 7])
    for k in range(m, d):
        s0 += np.float64(a[k]) * np.float64(b[k])
    return ((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7))


@njit(cache=True, nogil=True)
def normalise_rows(X, out) -> int:
    """out[i] = X[i] / |X[i]| in float64; returns the first row with zero or non-finite norm,
    or -1 when every row is fine."""
    for i in range(X.shape[0]):
        s = dot(X[i], X[i])
        if not (s > 0.0 and s < np.inf):
            return i
        nrm = math.sqrt(s)
        for k in range(X.shape[1]):
            out[i, k] = np.float64(X[i, k]) / nrm
    return -1


@njit(cache=True)
def update_centroid(c, x, n_eff, work) -> None:
    """c <- normalise((n_eff * c + x) / (n_eff + 1)), in place (`work` is scratch)."""
    ne = np.float64(n_eff)
    for k in range(c.shape[0]):
        work[k] = (ne * c[k] + x[k]) / (ne + 1.0)
    nrm = math.sqrt(dot(work, work))
    for k in range(c.shape[0]):
        c[k] = work[k] / nrm


@njit(cache=True, fastmath=True)
def distance(a, b) -> float:
    """Euclidean |a - b| in float64, summed in any order (fastmath lets LLVM vectorise it):
    only ever used as an upper bound, whose rounding (under d * 2^-53 relative in any order,
    with or without fused multiply-adds) the callers' slack covers."""
    s = 0.0
    for k in range(a.shape[0]):
        t = np.float64(a[k]) - np.float64(b[k])
        s += t * t
    return math.sqrt(s)
