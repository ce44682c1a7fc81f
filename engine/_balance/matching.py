"""Matched similarity of every pair of users of every cluster, in batches.

Per cluster: normalise its rows once, then one symmetric product (CPU, when it fits) or one
matrix product per tile for all its pairs' S blocks, then every pair's matching in one
batched call (Numba on CPU, CUDA kernels on GPU).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np

from engine._balance.groups import Groups
from engine._balance.tiles import gram, normalise, plan_tiles, similarity_block, tile_pairs

METHODS = ("exact", "auction", "greedy")


@dataclass
class MatchOptions:
    method: str = "exact"
    eps: float = 1e-3  # auction: guaranteed bound on the error in mean similarity
    max_bids_per_row: int = 2000  # auction: bid cap per pair = this x min(n1, n2)
    eps_scaling: bool = True  # auction: scale eps on square blocks (rectangular: one eps)
    tile_elements: int = 32 * 1024 * 1024  # largest similarity block (float64 entries)
    # Rows per tile: thin tiles skip the unused lower triangle on CPU; the GPU wants large
    # batches of pairs per launch more than it minds the extra products.
    tile_rows_cpu: int = 512
    tile_rows_gpu: int = 8192
    # A cluster whose unit rows fit this many float64 entries is normalised once and cut into
    # thinner tiles (less of the unused lower triangle is computed); larger clusters normalise
    # the rows each tile needs.
    cluster_elements: int = 8 * 1024 * 1024
    tile_rows_small: int = 128


@dataclass
class PairMatches:
    """One entry per pair: global user indices (into Groups.user_ids), cluster index, result."""

    cluster: np.ndarray
    user1: np.ndarray
    user2: np.ndarray
    sim: np.ndarray  # mean matched similarity
    bound: np.ndarray  # upper bound on (optimal mean similarity - sim); 0 when exact
    fallback: np.ndarray  # bool: auction hit its bid cap, solved exactly

    def __len__(self) -> int:
        return len(self.sim)


def match_pairs(groups: Groups, backend, options: MatchOptions,
                progress: Callable[[Iterable, int, str], Iterable] | None = None) -> PairMatches:
    """Matched similarity for every unordered pair of distinct users inside each cluster.

    CPU: tiles run concurrently on a pool of threads, one BLAS thread each, each solving its
    pairs in Numba without the GIL: the products and the matchings of different tiles overlap
    and no thread waits at a fork-join barrier (with only a few tiles, one tile at a time,
    parallel over its pairs). GPU: one tile at a time, all its pairs in one batch of kernels.
    """
    if options.method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}")
    jobs = list(_tile_jobs(groups, options, backend.gpu))
    n_workers = 1 if backend.gpu else _cpu_workers()
    concurrent = n_workers > 1 and len(jobs) >= 2 * n_workers
    run = functools.partial(_run_tiles, groups=groups, backend=backend, options=options,
                            parallel=not concurrent)
    if concurrent:
        from concurrent.futures import ThreadPoolExecutor

        from threadpoolctl import threadpool_limits

        with threadpool_limits(limits=1, user_api="blas"), \
                ThreadPoolExecutor(n_workers) as pool:
            parts = _collect(pool.map(run, jobs), len(jobs), progress)
    else:
        parts = _collect(map(run, jobs), len(jobs), progress)
    if not parts:
        empty = np.zeros(0, np.int64)
        return PairMatches(empty, empty, empty, np.zeros(0), np.zeros(0), np.zeros(0, bool))
    cols = [np.concatenate(col) for col in zip(*parts, strict=True)]
    return PairMatches(*cols)


def _tile_jobs(groups: Groups, options: MatchOptions, gpu: bool):
    """Units of work: (cluster, first user, end user, [(tile's first local user, end)], whole).

    On the CPU a cluster whose Gram matrix fits the tile budget is one unit and one symmetric
    product (`whole`: its single tile covers every pair). Otherwise a small cluster is one
    unit (normalised once, thin tiles); a large one gives one unit per tile, so its tiles can
    run concurrently and each normalises only the rows it needs.
    """
    dim = groups.embeddings.shape[1] if groups.embeddings.ndim == 2 else 1
    for c in range(groups.n_clusters):
        lo, hi = groups.users_of(c)
        if hi - lo < 2:
            continue
        row_start = groups.user_start[lo:hi + 1] - groups.user_start[lo]
        n_rows = int(row_start[-1])
        if not gpu and n_rows * n_rows <= options.tile_elements:
            yield c, lo, hi, [(0, hi - lo - 1)], True
            continue
        small = not gpu and n_rows * dim <= options.cluster_elements
        max_rows = (options.tile_rows_small if small else
                    options.tile_rows_gpu if gpu else options.tile_rows_cpu)
        tiles = plan_tiles(row_start, options.tile_elements, max_rows)
        if small:
            yield c, lo, hi, tiles, False
        else:
            for tile in tiles:
                yield c, lo, hi, [tile], False


def _run_tiles(job, groups: Groups, backend, options: MatchOptions, parallel: bool):
    c, lo, hi, tiles, whole = job
    if backend.gpu:
        from engine._balance.batch_gpu import solve_tile_gpu as solve
    else:
        from engine._balance.batch_cpu import solve_tile

        solve = functools.partial(solve_tile, parallel=parallel)
    row_start = groups.user_start[lo:hi + 1] - groups.user_start[lo]
    first = int(groups.user_start[lo])
    base = int(row_start[tiles[0][0]])
    # Rows from the first tile's on: every tile's own rows and every later user's.
    Xn = normalise(backend.xp, groups.embeddings[first + base:first + int(row_start[-1])])
    parts = []
    for u0, u1 in tiles:
        r0 = int(row_start[u0]) - base
        G = gram(Xn) if whole else similarity_block(backend.xp, Xn, r0,
                                                     int(row_start[u1]) - base)
        tp = tile_pairs(row_start, u0, u1)
        total, bound, status = solve(G, tp.a_off, tp.a_n, tp.b_off, tp.b_n, options.method,
                                     options.eps, options.max_bids_per_row,
                                     options.eps_scaling)
        k = np.minimum(tp.a_n, tp.b_n).astype(np.float64)
        parts.append((np.full(len(k), c, np.int64), lo + tp.user_i, lo + tp.user_j,
                      total / k, bound / k, status != 0))
    return tuple(np.concatenate(col) for col in zip(*parts, strict=True))


def _collect(results: Iterable, total: int, progress) -> list:
    if progress is not None:
        results = progress(results, total, "balance: tiles")
    return list(results)


def _cpu_workers() -> int:
    import numba

    return int(numba.get_num_threads())
