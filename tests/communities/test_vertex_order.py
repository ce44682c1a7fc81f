"""Vertex renumbering for locality: a permutation that brings kNN neighbours close, a graph that
maps back to the same edges, and `detect`'s partition equal to igraph's own on the renumbered
graph."""

from __future__ import annotations

import random

import igraph
import numpy as np
import pytest
from sklearn.metrics import adjusted_rand_score

from engine._communities.detect import detect
from engine._communities.graph import knn_edges
from engine._communities.vertex_order import locality_order, renumbered_lists, to_rows
from engine.ops.leiden import relabel_by_size


def _blobs(n=3000, groups=12, d=16, seed=0):
    """Unit rows around planted centres, in random order (as rows arrive)."""
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, groups, n)
    X = rng.standard_normal((groups, d))[truth] + 0.4 * rng.standard_normal((n, d))
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    return X.astype(np.float32), truth


def _exact_lists(F, k):
    S = F @ F.T
    np.fill_diagonal(S, -np.inf)
    idx = np.argsort(-S, axis=1, kind="stable")[:, :k]
    return idx, np.take_along_axis(S, idx, 1).astype(np.float32)


def test_order_is_a_permutation_that_brings_neighbours_close():
    F, _ = _blobs()
    idx, _ = _exact_lists(F, 10)
    order = locality_order(idx)
    n = len(F)
    assert np.array_equal(np.sort(order), np.arange(n))
    new = renumbered_lists(idx, order)
    rows = np.arange(n)[:, None]
    # Neighbours in random row order sit about n / 3 apart; breadth first, within a blob.
    assert np.abs(idx - rows).mean() > n / 4
    assert np.abs(new - rows).mean() < n / 40


@pytest.mark.parametrize("mode", ["mutual", "union"])
def test_renumbered_graph_maps_back_to_the_same_edges(mode):
    F, _ = _blobs(n=600)
    idx, scores = _exact_lists(F, 8)
    idx[5, -3:] = -1  # missing neighbours
    exclude = np.zeros(len(F), bool)
    exclude[[7, 300]] = True
    ref = knn_edges(idx, scores, mode, exclude=exclude)
    order = locality_order(idx)
    s, d, w = knn_edges(renumbered_lists(idx, order), scores[order], mode,
                        exclude=exclude[order])
    labels, s, d = to_rows(order, np.arange(len(F))[order], s, d)
    assert np.array_equal(labels, np.arange(len(F)))  # labels come back to their rows
    assert (s < d).all()
    got = dict(zip(zip(s.tolist(), d.tolist(), strict=True), w.tolist(), strict=True))
    want = dict(zip(zip(ref[0].tolist(), ref[1].tolist(), strict=True), ref[2].tolist(),
                    strict=True))
    assert got == want


def test_detect_equals_igraph_leiden_on_the_renumbered_graph(cpu):
    """Reference: the graph in row numbers, renumbered and sorted here, clustered by igraph
    directly with the same seed, mapped back to rows."""
    F, truth = _blobs()
    k, seed = 10, 3
    det = detect(cpu, F, k=k, knn="flat", graph="union", seed=seed, recall_sample=0)
    idx, scores = _exact_lists(F, k)
    src, dst, w = knn_edges(idx, scores, "union")
    order = locality_order(idx)
    rank = np.argsort(order)
    a, b = rank[src], rank[dst]
    lo, hi = np.minimum(a, b), np.maximum(a, b)
    by_pair = np.lexsort((hi, lo))
    g = igraph.Graph(n=len(F), edges=np.column_stack([lo, hi])[by_pair])
    igraph.set_random_number_generator(random)
    random.seed(seed)
    part = g.community_leiden(objective_function="modularity", n_iterations=-1,
                              weights=w[by_pair].astype(float).tolist())
    ref = relabel_by_size(np.asarray(part.membership)[rank])
    assert np.array_equal(det.labels, ref)
    assert adjusted_rand_score(truth, det.labels) >= 0.99
    # The returned graph is the row-numbered one, and the modularity is igraph's on it.
    key = det.src * len(F) + det.dst
    assert np.array_equal(np.sort(key), src * len(F) + dst)
    rows_g = igraph.Graph(n=len(F), edges=np.column_stack([det.src, det.dst]))
    q = rows_g.modularity(det.labels.tolist(), weights=det.weight.astype(float).tolist())
    assert det.modularity == pytest.approx(q, abs=1e-9)
