"""Leiden communities (modularity / RB-configuration objective) of an undirected weighted graph.

`leiden(backend, n_vertices, src, dst, weight, resolution=1.0, seed=0)` -> labels (n,), int32,
relabelled 0..C-1 by decreasing community size (ties: smallest first vertex), so label 0 is the
largest community. Every vertex gets a label, isolated ones included (each its own community).
Each undirected edge is given once (src, dst); weights are optional (None: all 1).

CPU: igraph's built-in `community_leiden(objective_function="modularity")` (default; the
benchmark shows it faster than leidenalg at the same modularity) or leidenalg's
`RBConfigurationVertexPartition` (`implementation="leidenalg"`). GPU: pylibcugraph's Leiden
with the full vertex list passed, so isolated vertices are kept.

`modularity(n, src, dst, weight, labels, resolution)` computes Newman's modularity with a
resolution factor: sum_c [ w_in(c) / m - resolution * (vol(c) / 2m)^2 ].
"""

from __future__ import annotations

import numpy as np

from engine.backend import Backend
from engine.errors import UserError

IMPLEMENTATIONS = ("igraph", "leidenalg")


def relabel_by_size(labels: np.ndarray) -> np.ndarray:
    """Map community ids to 0..C-1 by decreasing size, ties by smallest member vertex."""
    labels = np.asarray(labels)
    uniq, first, inverse, counts = np.unique(labels, return_index=True, return_inverse=True,
                                             return_counts=True)
    order = np.lexsort((first, -counts))  # primary: size desc; secondary: first vertex
    rank = np.empty(len(uniq), np.int32)
    rank[order] = np.arange(len(uniq), dtype=np.int32)
    return rank[inverse.reshape(-1)]


def _check(n_vertices: int, src, dst, weight) -> None:
    if len(src) != len(dst) or (weight is not None and len(weight) != len(src)):
        raise ValueError("src, dst and weight must have the same length")
    if n_vertices < 1:
        raise UserError("the graph has no vertices")


def edge_free(src, weight) -> bool:
    """True when the graph has no edge, or its edges weigh nothing in total."""
    if len(src) == 0:
        return True
    if weight is None:
        return False
    w = weight if hasattr(weight, "sum") else np.asarray(weight)  # NumPy or CuPy
    return float(w.sum()) == 0.0


def leiden(backend: Backend, n_vertices: int, src, dst, weight=None, resolution: float = 1.0,
           seed: int = 0, n_iterations: int = -1, implementation: str = "igraph") -> np.ndarray:
    """Community label of every vertex (host int32 array, 0 = largest community).

    n_iterations: Leiden passes on CPU (-1: until the partition is stable); on GPU it caps
    the number of levels."""
    _check(n_vertices, src, dst, weight)
    if edge_free(src, weight):
        # Nothing to optimise: every vertex is its own community. cuGraph's Leiden divides by
        # the total edge weight, so an edge-free graph must not reach it; igraph and
        # leidenalg return these singletons themselves, so all backends agree.
        return relabel_by_size(np.arange(n_vertices))
    if backend.gpu:
        from engine.ops import leiden_gpu

        labels = leiden_gpu.leiden(n_vertices, src, dst, weight, resolution, seed,
                                   n_iterations)
    elif implementation == "igraph":
        g = _igraph(n_vertices, src, dst)
        part = g.community_leiden(objective_function="modularity",
                                  weights=None if weight is None else np.asarray(weight, float),
                                  resolution=float(resolution), n_iterations=int(n_iterations),
                                  **_igraph_seeded(seed))
        labels = np.asarray(part.membership)
    elif implementation == "leidenalg":
        import leidenalg

        g = _igraph(n_vertices, src, dst)
        part = leidenalg.find_partition(
            g, leidenalg.RBConfigurationVertexPartition,
            weights=None if weight is None else np.asarray(weight, float).tolist(),
            resolution_parameter=float(resolution), n_iterations=int(n_iterations),
            seed=int(seed) % (2**31))
        labels = np.asarray(part.membership)
    else:
        raise UserError(f"job.leiden={implementation!r}: expected one of "
                        f"{', '.join(IMPLEMENTATIONS)}")
    return relabel_by_size(labels)


def _igraph(n_vertices: int, src, dst):
    """The undirected graph, without attributes: the weights go to Leiden as an array (an
    edge attribute would hold one Python float per edge, for the same labels)."""
    import igraph

    edges = np.column_stack([np.asarray(src, np.int64), np.asarray(dst, np.int64)])
    # add_edges of a NumPy edge list is python-igraph's fastest way in: for the 2.5M edges of
    # 200k x 15 lists (CPU s, same graph and edge order) it took 1.1-1.3 against 2.4-2.6 for
    # the constructor (ndarray or lists), 1.9 for Weighted_Adjacency of a CSR matrix, 1.7 for
    # Graph.DataFrame, 1.2 for a list of tuples built first, 1.5 for Read_Edgelist of a file
    # written by polars, 8.4 for Read_Ncol, 2.4 for a memoryview (converted through tolist).
    # The wheel is built on Python's limited API, so no buffer is read in place. Most of
    # add_edges is igraph's own radix sort of the edge index (a profile: about half), whose
    # speed depends on the vertex numbering: engine._communities.vertex_order. A list of
    # tuples with Python's garbage collector paused is no faster (1.1-1.3). Weights given as an
    # edge attribute, a list or an ndarray: same labels, 0.0-0.1 s apart
    # (bench/results/communities_leiden.md).
    g = igraph.Graph(n=int(n_vertices), directed=False)
    g.add_edges(edges)
    return g


def _igraph_seeded(seed: int) -> dict:
    """igraph draws from Python's `random` module: seed it so runs repeat exactly."""
    import random

    import igraph

    igraph.set_random_number_generator(random)
    random.seed(int(seed))
    return {}


def modularity(n_vertices: int, src, dst, weight, labels, resolution: float = 1.0,
               xp=np) -> float:
    """Modularity of `labels` on the undirected graph (each edge once); 0 for no edges."""
    src = xp.asarray(src)
    dst = xp.asarray(dst)
    labels = xp.asarray(labels)
    w = xp.ones(len(src), xp.float64) if weight is None else xp.asarray(weight, xp.float64)
    m = float(w.sum())
    if m == 0:
        return 0.0
    n_comm = int(labels.max()) + 1
    same = labels[src] == labels[dst]
    w_in = xp.bincount(labels[src][same], weights=w[same], minlength=n_comm)
    degree = xp.bincount(src, weights=w, minlength=n_vertices) + xp.bincount(
        dst, weights=w, minlength=n_vertices)
    vol = xp.bincount(labels, weights=degree, minlength=n_comm)
    return float((w_in / m).sum() - resolution * ((vol / (2 * m)) ** 2).sum())
