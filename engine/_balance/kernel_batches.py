"""Launch plan for `kernels/balance_match.cu`: pairs bucketed by size, one block per pair.

Written over an array namespace `xp` and a `launch(kernel, block, grid, args)` callable, so
the same orchestration drives the real kernels through CuPy (engine/_balance/batch_gpu.py)
and their host build in the tests (kernels/host_emulation.h through ctypes).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

BLOCK_SIZES = (32, 64, 128, 256)  # one warp for small pairs ... the kernels' BM_MAXT
WS_DOUBLES = 3  # scratch per pair: 3 doubles and 5 ints per row + column
WS_INTS = 5
CHUNK_PAIRS = 1 << 16  # pairs per launch group (bounds the scratch memory)

Launch = Callable[[str, int, int, tuple], None]


@dataclass
class LaunchPlan:
    order: np.ndarray  # pair indices, grouped by block size
    buckets: list[tuple[int, int, int]]  # (block size, start, stop) slices of `order`
    ws_off: np.ndarray  # per pair in `order`: exclusive prefix sum of a_n + b_n
    ws_len: int
    blk_off: np.ndarray  # per pair in `order`: exclusive prefix sum of a_n * b_n
    blk_len: int  # doubles of the blocks' transposed copies (at most G's size)


def block_size(n_cols: np.ndarray) -> np.ndarray:
    """Threads per pair: the smallest of BLOCK_SIZES covering its larger side (capped)."""
    out = np.full(len(n_cols), BLOCK_SIZES[-1], np.int64)
    for size in reversed(BLOCK_SIZES):
        out[n_cols <= size] = size
    return out


def plan_launch(a_n: np.ndarray, b_n: np.ndarray) -> LaunchPlan:
    blocks = block_size(np.maximum(a_n, b_n))
    order = np.argsort(blocks, kind="stable")
    sizes = (a_n + b_n)[order].astype(np.int64)
    ws_off = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
    areas = (a_n * b_n)[order].astype(np.int64)
    blk_off = np.concatenate([[0], np.cumsum(areas)[:-1]]).astype(np.int64)
    buckets = []
    sorted_blocks = blocks[order]
    for size in BLOCK_SIZES:
        lo, hi = np.searchsorted(sorted_blocks, [size, size + 1])
        if hi > lo:
            buckets.append((size, int(lo), int(hi)))
    return LaunchPlan(order, buckets, ws_off, int(sizes.sum()), blk_off, int(areas.sum()))


def solve_batched(xp, launch: Launch, G, a_off, a_n, b_off, b_n, method: str, eps: float,
                  bids_per_row: int, scale: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(total, bound, status) per pair, as `engine._balance.batch_cpu.solve_tile` returns them."""
    n = len(a_n)
    total = np.empty(n)
    bound = np.empty(n)
    status = np.zeros(n, np.int8)
    for lo in range(0, n, CHUNK_PAIRS):
        part = slice(lo, min(n, lo + CHUNK_PAIRS))
        t, b, s = _solve_chunk(xp, launch, G, a_off[part], a_n[part], b_off[part], b_n[part],
                               method, eps, bids_per_row, scale)
        total[part], bound[part], status[part] = t, b, s
    return total, bound, status


def _solve_chunk(xp, launch, G, a_off, a_n, b_off, b_n, method, eps, bids_per_row, scale):
    a_n = np.asarray(a_n, np.int64)
    b_n = np.asarray(b_n, np.int64)
    plan = plan_launch(a_n, b_n)
    o = plan.order
    dev = {
        "a_off": xp.asarray(np.asarray(a_off, np.int64)[o]),
        "a_n": xp.asarray(a_n[o].astype(np.int32)),
        "b_off": xp.asarray(np.asarray(b_off, np.int64)[o]),
        "b_n": xp.asarray(b_n[o].astype(np.int32)),
        "ws_off": xp.asarray(plan.ws_off),
        "blk_off": xp.asarray(plan.blk_off),
    }
    ws_d = xp.empty(WS_DOUBLES * max(plan.ws_len, 1), dtype=xp.float64)
    ws_i = xp.empty(WS_INTS * max(plan.ws_len, 1), dtype=xp.int32)
    ws_blk = xp.empty(max(plan.blk_len, 1), dtype=xp.float64)  # kernels stage blocks here
    n = len(a_n)
    out_total = xp.empty(n, dtype=xp.float64)
    out_bound = xp.empty(n, dtype=xp.float64)
    out_status = xp.zeros(n, dtype=xp.int32)
    ld = np.int64(G.shape[1])
    kernel = f"balance_{method}"
    for block, lo, hi in plan.buckets:
        s = slice(lo, hi)
        args = (G, ld, dev["a_off"][s], dev["a_n"][s], dev["b_off"][s], dev["b_n"][s],
                dev["ws_off"][s], ws_d, ws_i, dev["blk_off"][s], ws_blk, out_total[s],
                out_bound[s], out_status[s], np.int32(hi - lo))
        if method == "auction":
            args += (np.float64(eps), np.int32(bids_per_row), np.int32(bool(scale)))
        launch(kernel, block, hi - lo, args)
    total = _host(out_total)
    bound = _host(out_bound)
    status = _host(out_status).astype(np.int8)
    failed = np.flatnonzero(status)
    if len(failed):  # auction pairs at the bid cap: the exact kernel takes over
        ft, fb, _ = _solve_chunk(xp, launch, G, _host(dev["a_off"])[failed],
                                 a_n[o][failed], _host(dev["b_off"])[failed],
                                 b_n[o][failed], "exact", eps, bids_per_row, scale)
        total[failed], bound[failed] = ft, fb
    out = (np.empty(n), np.empty(n), np.empty(n, np.int8))
    for dst, src in zip(out, (total, bound, status), strict=True):
        dst[o] = src
    return out


def _host(a) -> np.ndarray:
    return a.get() if hasattr(a, "get") else np.asarray(a)

