"""Row kernels for the CPU backend: one pass over the embeddings each.

NumPy spends a pass and a temporary per step (a float64 copy, the squares, their sums, the
quotient); these read each row once and write the result, in float64 whatever the input.
"""

from __future__ import annotations

import numpy as np
from numba import njit

# Reassociation lets the compiler vectorise the sums; no assumption about NaN or infinity, so
# a row holding one still gives a non-finite sum.
_SUMS = {"reassoc", "contract"}


def fast_rows(X) -> bool:
    """Whether these kernels take X: a 2-d float32 or float64 NumPy array."""
    return isinstance(X, np.ndarray) and X.ndim == 2 and X.dtype in (np.float32, np.float64)


@njit(cache=True, nogil=True, fastmath=_SUMS)
def square_sums(X):
    """(n,) float64: the sum of squares of each row of X (float32 or float64)."""
    n, d = X.shape
    out = np.empty(n)
    for i in range(n):
        s = 0.0
        for k in range(d):
            x = np.float64(X[i, k])
            s += x * x
        out[i] = s
    return out


@njit(cache=True, nogil=True, fastmath=_SUMS)
def unit_rows(X):
    """X's rows divided by their L2 norms, in float64 (rows must be finite and nonzero)."""
    n, d = X.shape
    out = np.empty((n, d))
    for i in range(n):
        s = 0.0
        for k in range(d):
            x = np.float64(X[i, k])
            s += x * x
        norm = np.sqrt(s)
        for k in range(d):
            out[i, k] = np.float64(X[i, k]) / norm
    return out
