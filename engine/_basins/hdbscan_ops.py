"""HDBSCAN labels of one sample for several min_cluster_size values at once.

`min_samples` means the same on both backends: the number of neighbours, *excluding* the
point itself, whose distance is the core distance (the convention of hdbscan, fast_hdbscan
and current cuML; scikit-learn's HDBSCAN counts the point itself, so its k is ours + 1).
It is always passed explicitly: leaving it to default to min_cluster_size makes each run
20-60x slower for large minimum sizes.

CPU: fast_hdbscan (measured faster than hdbscan on these low-dimensional samples; see
bench/basins.py). The minimum spanning tree of the mutual-reachability graph depends on
min_samples only, so it is built once per sample and only the condensed tree is recomputed
per min_cluster_size (the tuning grid's four min_cluster_frac values share it). Samples below
`SERIAL_BELOW` points build it on one Numba thread: fast_hdbscan's parallel Boruvka costs
~0.15 s of thread start-up per call on a busy 2-core machine, 300x the serial time at n=100.
GPU: one cuML HDBSCAN fit per sample gives the same spanning tree (kNN graph and Boruvka on
the device); the condensed trees and EOM selection per min_cluster_size are the CPU path's own
(`labels_from_spanning_tree`), so both backends label a tree the same way.
"""

from __future__ import annotations

import numpy as np

from engine.backend import Backend

SERIAL_BELOW = 50_000


def _degenerate(X: np.ndarray, min_samples: int) -> bool:
    """Too few points, or all at one position (zero distances give no density hierarchy)."""
    return len(X) <= max(min_samples, 2) or not np.any(np.ptp(X, axis=0) > 0)


def labels_cpu(X: np.ndarray, min_samples: int, sizes: list[int]) -> list[np.ndarray]:
    from fast_hdbscan.hdbscan import compute_minimum_spanning_tree

    X = np.ascontiguousarray(X, dtype=np.float64)
    if _degenerate(X, min_samples):
        return [np.full(len(X), -1, np.int64) for _ in sizes]
    mst = _mst(X, int(min_samples), compute_minimum_spanning_tree)
    return labels_from_spanning_tree(mst, sizes)


def labels_cpu_samples(X: np.ndarray, samples: np.ndarray, min_samples: int,
                       sizes: list[int]) -> list[list[np.ndarray]]:
    """`labels_cpu(X[idx], min_samples, sizes)` for each row idx of `samples` (sorted row
    indices of X), with one kNN query of X shared by all the samples' spanning trees
    (engine._basins.spanning_tree; the same trees as fast_hdbscan builds per sample)."""
    from engine._basins.spanning_tree import BIN_K, bin_neighbours, sample_spanning_tree

    X = np.ascontiguousarray(X, dtype=np.float64)
    ms = int(min_samples)
    out: list[list[np.ndarray]] = []
    with _numba_threads(1 if len(X) < SERIAL_BELOW else None):
        shared = None
        for idx in samples:
            if _degenerate(X[idx], ms):
                out.append([np.full(len(idx), -1, np.int64) for _ in sizes])
                continue
            if shared is None:
                shared = bin_neighbours(X, max(BIN_K, 2 * (ms + 1)))
            mst = sample_spanning_tree(X, shared[0], shared[1], np.asarray(idx), ms)
            out.append(labels_from_spanning_tree(mst, sizes))
    return out


def compile_cpu_kernels(min_samples: int) -> None:
    """Compile (or load from Numba's cache) the kernels of `labels_cpu_samples` here, before
    worker processes start: on a cold cache each worker would otherwise compile the same
    kernels at the same time (a minute each on a laptop), and silently."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(max(200, 8 * (min_samples + 1)), 3))
    samples = np.sort(rng.permuted(np.tile(np.arange(len(X)), (2, 1)), axis=1)[:, :len(X) // 2],
                      axis=1)
    labels_cpu_samples(X, samples, min_samples, [5, 10])


def labels_from_spanning_tree(mst: np.ndarray, sizes: list[int]) -> list[np.ndarray]:
    """fast_hdbscan's `clusters_from_spanning_tree` labels (EOM selection, defaults) for
    several min_cluster_size values: the sorted tree and its single-linkage hierarchy are
    built once, not once per size, and membership strengths (unused) are skipped; together
    ~half of that function's time."""
    from fast_hdbscan.cluster_trees import (
        cluster_tree_from_condensed_tree,
        condense_tree,
        extract_eom_clusters,
        get_cluster_label_vector,
        mst_to_linkage_tree,
    )

    n_points = mst.shape[0] + 1
    linkage = mst_to_linkage_tree(mst[np.lexsort((mst.T[1], mst.T[0], mst.T[2]))])
    out = []
    for size in sizes:
        condensed = condense_tree(linkage, min_cluster_size=int(max(size, 2)))
        selected = extract_eom_clusters(condensed, cluster_tree_from_condensed_tree(condensed))
        labels = get_cluster_label_vector(condensed, selected, 0.0, n_samples=n_points)
        out.append(np.asarray(labels, np.int64))
    return out


class _numba_threads:
    """Run a block on `n` Numba threads (None: leave as is), then restore the count."""

    def __init__(self, n: int | None):
        self.n = n

    def __enter__(self):
        import numba

        self.before = numba.get_num_threads()
        if self.n is not None:
            numba.set_num_threads(self.n)

    def __exit__(self, *exc):
        import numba

        numba.set_num_threads(self.before)


def _mst(X: np.ndarray, min_samples: int, compute) -> np.ndarray:
    with _numba_threads(1 if len(X) < SERIAL_BELOW else None):
        return compute(X, min_samples=min_samples)[0]


def spanning_tree_gpu(X, min_samples: int) -> np.ndarray:
    """The minimum spanning tree of X's mutual-reachability graph from one cuML HDBSCAN fit:
    (n - 1, 3) float64 rows (point, point, distance), the layout of fast_hdbscan's tree."""
    import cupy as cp
    from cuml.cluster import HDBSCAN

    # cuML 26.10, python/cuml/cuml/cluster/hdbscan/hdbscan.pyx: with gen_min_span_tree=True
    # (l. 557, 796) `_HDBSCANState.init_and_fit` stacks the tree's sources, destinations and
    # float32 weights (Euclidean mutual-reachability distances, as fast_hdbscan's) into a host
    # float64 (n - 1, 3) array (l. 365-373) that `fit` stores as `_min_spanning_tree`
    # (l. 1051); the public `minimum_spanning_tree_` (l. 852) only wraps that array in the
    # hdbscan package's plotting class. min_samples excludes the point itself, as ours:
    # cpp/src/hdbscan/runner.h l. 68-79 queries min_samples + 1 neighbours. The tree depends on
    # min_samples only; min_cluster_size steers cuML's own condensing, whose labels are unused.
    model = HDBSCAN(min_cluster_size=2, min_samples=int(min_samples), gen_min_span_tree=True,
                    output_type="cupy")
    model.fit(cp.asarray(X, dtype=cp.float32))
    return np.asarray(model._min_spanning_tree, dtype=np.float64)


def labels_gpu(X, min_samples: int, sizes: list[int]) -> list[np.ndarray]:
    import cupy as cp

    X_host = cp.asnumpy(X) if not isinstance(X, np.ndarray) else X
    if _degenerate(X_host, min_samples):
        return [np.full(len(X_host), -1, np.int64) for _ in sizes]
    return labels_from_spanning_tree(spanning_tree_gpu(X, min_samples), sizes)


def hdbscan_labels(backend: Backend, X: np.ndarray, min_samples: int,
                   sizes: list[int]) -> list[np.ndarray]:
    """Labels (-1: noise) of the rows of X, one array per min_cluster_size in `sizes`."""
    if backend.gpu:
        return labels_gpu(X, min_samples, sizes)
    return labels_cpu(X, min_samples, sizes)
