"""The screening product: similarities of a micro-batch to the centroids in low precision,
with a proven bound on how far they can be from the exact (reference) similarities.

The sequential pass only re-computes exactly the few centroids whose screened similarity is
within that bound of the threshold or of the best one, so the low precision never changes a
decision.

Bound, for unit vectors x and c (|x| = |c| = 1 up to 1e-15) rounded to a format with unit
roundoff u_in and multiplied with accumulation of unit roundoff u_acc over d terms:
|x~.c~ - x.c| <= (2 u_in + u_in^2) sum|x_k c_k| <= 2 u_in + u_in^2, and the sum in any order
adds at most gamma_d = d u_acc / (1 - d u_acc) times sum|x~_k c~_k|; the exact float64 sum
adds gamma_d in float64. The result is padded by 1%.
"""

from __future__ import annotations

import numpy as np

F32_U = 2.0**-24
TF32_U = 2.0**-11  # the GPU bound allows TF32 tensor-core inputs, whatever CuPy's math mode
F64_U = 2.0**-53


def screening_error(dim: int, u_in: float, u_acc: float = F32_U) -> float:
    """Largest |screened - exact| similarity for unit vectors of dimension `dim`."""
    gamma = dim * u_acc / (1 - dim * u_acc)
    gamma64 = dim * F64_U / (1 - dim * F64_U)
    rounding = 2 * u_in + u_in * u_in
    return 1.01 * (rounding + gamma * (1 + rounding) + 2 * gamma64) + 1e-12


def error_bound(dim: int, gpu: bool) -> float:
    return screening_error(dim, TF32_U if gpu else F32_U)


def similarities(xp, X32, C32):
    """(B, K) float32 screened similarities X32 @ C32.T on the backend's device."""
    if C32.shape[0] == 0:
        return xp.zeros((X32.shape[0], 0), dtype=np.float32)
    return X32 @ C32.T
