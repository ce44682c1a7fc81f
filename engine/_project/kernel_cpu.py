"""Numba kernels of the CPU apply stage: float32 products with a fixed order per row.

Every row goes through the same arithmetic whatever batch it sits in and wherever it sits in
the batch: the row is widened to float32 (float16 bits through a lookup table, exact), then each
axis accumulates 16 float32 lanes over the zero-padded dimensions (lane l holds dimensions
l, l+16, ...) and adds the lanes in order. The lanes let LLVM use SIMD without reordering
anything, so streamed and in-memory projections are bit-identical.
"""

from __future__ import annotations

import numpy as np
from numba import njit

LANES = 16
# float16 bit pattern -> float32 value (exact: every float16 is a float32)
HALF_TO_FLOAT = np.arange(1 << 16, dtype=np.uint32).astype(np.uint16).view(np.float16) \
    .astype(np.float32)


@njit(nogil=True, cache=True)
def _dot_row(row, w, b, acc, out, i):
    k, padded = w.shape
    acc[:, :] = 0
    for j0 in range(0, padded, LANES):
        for a in range(k):
            for lane in range(LANES):
                acc[a, lane] += row[j0 + lane] * w[a, j0 + lane]
    for a in range(k):
        total = np.float32(0)
        for lane in range(LANES):
            total += acc[a, lane]
        out[i, a] = total + b[a]


@njit(nogil=True, cache=True)
def project_half(bits, lut, w, b, out):
    """bits: (n, d) uint16 view of float16 rows; w: (k, padded) float32; out: (n, k)."""
    n, d = bits.shape
    row = np.zeros(w.shape[1], np.float32)
    acc = np.zeros((w.shape[0], LANES), np.float32)
    for i in range(n):
        for j in range(d):
            row[j] = lut[bits[i, j]]
        _dot_row(row, w, b, acc, out, i)


@njit(nogil=True, cache=True)
def project_float(x, w, b, out):
    """x: (n, d) float32 rows; w: (k, padded) float32; out: (n, k)."""
    n, d = x.shape
    row = np.zeros(w.shape[1], np.float32)
    acc = np.zeros((w.shape[0], LANES), np.float32)
    for i in range(n):
        for j in range(d):
            row[j] = x[i, j]
        _dot_row(row, w, b, acc, out, i)
