"""Leiden on the GPU with pylibcugraph (no cuDF needed); imported only on the GPU backend.

`pylibcugraph.SGGraph(handle, GraphProperties(is_symmetric=True, is_multigraph=False), src, dst,
weight_array=..., store_transposed=False, renumber=False, do_expensive_check=False,
vertices_array=...)` then `pylibcugraph.leiden(handle, random_state, graph, max_level,
resolution, theta, do_expensive_check)` -> (vertices, clusters, modularity). A symmetric graph
must hold both directions of each edge; `vertices_array` lists every vertex so that isolated
ones are part of the graph and get a community of their own.
"""

from __future__ import annotations

import numpy as np


def leiden(n_vertices: int, src, dst, weight, resolution: float, seed: int,
           n_iterations: int) -> np.ndarray:
    import cupy as cp
    import pylibcugraph as plc

    src = cp.asarray(src, dtype=cp.int32)
    dst = cp.asarray(dst, dtype=cp.int32)
    w = (cp.ones(len(src), cp.float32) if weight is None
         else cp.asarray(weight, dtype=cp.float32))
    handle = plc.ResourceHandle()
    graph = plc.SGGraph(
        handle,
        plc.GraphProperties(is_symmetric=True, is_multigraph=False),
        cp.concatenate([src, dst]),
        cp.concatenate([dst, src]),
        weight_array=cp.concatenate([w, w]),
        store_transposed=False,
        renumber=False,
        do_expensive_check=False,
        vertices_array=cp.arange(n_vertices, dtype=cp.int32),
    )
    max_level = 100 if n_iterations is None or n_iterations < 0 else int(n_iterations)
    vertices, clusters, _ = plc.leiden(handle, int(seed), graph, max_level, float(resolution),
                                       1.0, False)
    # Results come in the graph's internal vertex order: scatter them back by vertex id.
    labels = cp.full(n_vertices, -1, dtype=cp.int64)
    labels[cp.asarray(vertices, dtype=cp.int64)] = cp.asarray(clusters, dtype=cp.int64)
    labels = labels.get()
    missing = labels < 0  # defensive: any vertex not reported is a singleton
    if missing.any():
        labels[missing] = labels.max() + 1 + np.arange(int(missing.sum()))
    return labels
