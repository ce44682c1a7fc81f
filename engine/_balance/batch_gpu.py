"""All pairs of one similarity tile on the GPU: the CUDA kernels of kernels/balance_match.cu.

The tile G stays on the device (a CuPy array from the cluster's matrix product); the pairs are
bucketed by size and launched one block per pair (engine/_balance/kernel_batches.py).
"""

from __future__ import annotations

import numpy as np

from engine._balance.kernel_batches import solve_batched


def _launch(kernel: str, block: int, grid: int, args: tuple) -> None:
    from engine import kernels

    kernels.module("balance_match").get_function(kernel)((grid,), (block,), args)


def solve_tile_gpu(G, a_off: np.ndarray, a_n: np.ndarray, b_off: np.ndarray, b_n: np.ndarray,
                   method: str, eps: float, max_bids_per_row: int, scale: bool
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Same contract as engine._balance.batch_cpu.solve_tile, with G a CuPy array."""
    import cupy

    G = cupy.ascontiguousarray(G, dtype=cupy.float64)
    return solve_batched(cupy, _launch, G, a_off, a_n, b_off, b_n, method, eps,
                         max_bids_per_row, scale)
