"""kNN -> graph -> Leiden on feature rows: the shared core of the `communities` job.

`detect(backend, F, k=15, ...)` takes L2-normalised rows (cosine = inner product) and returns a
`Detection`: labels (0 = largest community), the undirected edges, the modularity and the
recall@k of the kNN index on a sample. Rows that are all zero get no edges (their
similarities are meaningless) and end up as singleton communities.

On the CPU the graph is built and clustered with the vertices renumbered so that neighbours
are close (engine._communities.vertex_order: a quarter less CPU time in graph + Leiden), then
mapped back to row numbers; the edges come back grouped by that numbering, each src < dst.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from engine._communities.graph import knn_edges
from engine._communities.reduce import pca_rows, rerank
from engine._communities.vertex_order import locality_order, renumbered_lists, to_rows
from engine.backend import Backend
from engine.ops.knn import sample_recall, self_knn
from engine.ops.leiden import leiden, modularity, relabel_by_size


@dataclass
class Detection:
    labels: np.ndarray  # (n,) int32
    src: np.ndarray  # (m,) int64, src < dst
    dst: np.ndarray
    weight: np.ndarray  # (m,) float32
    modularity: float  # at resolution 1
    quality: float  # modularity at the run's resolution (Leiden's objective)
    recall: float  # recall@k of the kNN index against exact search on a sample
    extra: dict = field(default_factory=dict)


def _no_stage(name: str):
    return contextlib.nullcontext()


def detect(backend: Backend, F, k: int = 15, knn: str = "hnsw", graph: str = "mutual",
           resolution: float = 1.0, seed: int = 0, knn_params: dict | None = None,
           leiden_impl: str = "igraph", n_iterations: int = -1, recall_sample: int = 1000,
           exclude: np.ndarray | None = None, keep_knn: bool = False, progress=None,
           reduce_dim: int = 0, candidates: int = 2,
           stage: Callable[[str], contextlib.AbstractContextManager] = _no_stage) -> Detection:
    """`reduce_dim` > 0: search on that many principal axes for `candidates` x k neighbours,
    then keep the k best by exact inner product on the full rows (engine._communities.reduce)."""
    n = F.shape[0]
    with stage("knn"):
        if reduce_dim and reduce_dim < F.shape[1]:
            xp = backend.xp
            Y = pca_rows(F, reduce_dim, xp=xp)
            kk = min(max(int(candidates), 1) * k, n - 1)
            _, cand = self_knn(backend, Y, kk, method=knn, metric="ip", progress=progress,
                               **(knn_params or {}))
            del Y
            scores, idx = rerank(F, cand, k, xp=xp)
        else:
            scores, idx = self_knn(backend, F, k, method=knn, metric="ip", progress=progress,
                                   **(knn_params or {}))
    with stage("recall"):
        exact = knn == "flat" and not reduce_dim
        recall = 1.0 if exact or recall_sample <= 0 else sample_recall(
            backend, F, idx, recall_sample, seed)
    with stage("graph"):
        # cuGraph's Leiden is not renumbered: its speed on the device was not measured so.
        order = None if backend.gpu else locality_order(idx)
        if order is None:
            src, dst, weight = knn_edges(idx, scores, graph, exclude=exclude)
        else:
            src, dst, weight = knn_edges(renumbered_lists(idx, order), scores[order], graph,
                                         exclude=None if exclude is None else exclude[order])
    with stage("leiden"):
        labels = leiden(backend, n, src, dst, weight, resolution=resolution, seed=seed,
                        n_iterations=n_iterations, implementation=leiden_impl)
        if order is not None:
            labels, src, dst = to_rows(order, labels, src, dst)
            labels = relabel_by_size(labels)  # ties broken by the first row, as documented
    q1 = modularity(n, src, dst, weight, labels, 1.0)
    q = q1 if resolution == 1.0 else modularity(n, src, dst, weight, labels, resolution)
    extra = {"knn_scores": scores, "knn_idx": idx} if keep_knn else {}
    return Detection(labels, src, dst, weight, q1, q, recall, extra)
