"""Leiden: planted partitions, modularity against igraph, labels, isolated vertices, seeds."""

from __future__ import annotations

import igraph
import numpy as np
import pytest
from sklearn.metrics import adjusted_rand_score

from engine.backend import Backend
from engine.ops.leiden import leiden, modularity, relabel_by_size


def _planted(n_groups=6, size=80, p_in=0.2, p_out=0.005, seed=0):
    rng = np.random.default_rng(seed)
    truth = np.repeat(np.arange(n_groups), size)
    n = len(truth)
    iu = np.triu_indices(n, 1)
    same = truth[iu[0]] == truth[iu[1]]
    keep = rng.random(len(same)) < np.where(same, p_in, p_out)
    src, dst = iu[0][keep], iu[1][keep]
    w = rng.uniform(0.5, 1.0, len(src)).astype(np.float32)
    return n, src, dst, w, truth


@pytest.mark.parametrize("impl", ["igraph", "leidenalg"])
def test_recovers_planted_groups(cpu, impl):
    n, src, dst, w, truth = _planted()
    labels = leiden(cpu, n, src, dst, w, seed=1, implementation=impl)
    assert adjusted_rand_score(truth, labels) >= 0.9


def test_modularity_equals_igraph(cpu):
    n, src, dst, w, _ = _planted(seed=2)
    labels = leiden(cpu, n, src, dst, w, seed=0)
    g = igraph.Graph(n=n, edges=np.column_stack([src, dst]))
    for res in (1.0, 0.5, 2.0):
        ref = g.modularity(labels.tolist(), weights=w.astype(float).tolist(), resolution=res)
        assert modularity(n, src, dst, w, labels, res) == pytest.approx(ref, abs=1e-9)
    ref = g.modularity(labels.tolist())
    assert modularity(n, src, dst, None, labels) == pytest.approx(ref, abs=1e-9)


def test_isolated_vertices_kept_and_labels_sorted_by_size(cpu):
    n, src, dst, w, _ = _planted(n_groups=3, size=40)
    labels = leiden(cpu, n + 5, src, dst, w, seed=0)  # 5 extra vertices without edges
    assert len(labels) == n + 5
    sizes = np.bincount(labels)
    assert (np.diff(sizes) <= 0).all()
    assert len(set(labels[n:].tolist())) == 5  # each isolated vertex alone
    assert set(labels.tolist()) == set(range(labels.max() + 1))


def test_same_seed_same_labels(cpu):
    n, src, dst, w, _ = _planted(p_in=0.08, p_out=0.02, seed=4)
    a = leiden(cpu, n, src, dst, w, seed=7)
    b = leiden(cpu, n, src, dst, w, seed=7)
    assert (a == b).all()


@pytest.mark.parametrize("impl", ["igraph", "leidenalg"])
def test_edge_free_graph_is_all_singletons(cpu, impl):
    empty = np.array([], np.int64)
    labels = leiden(cpu, 7, empty, empty, np.array([], np.float32), implementation=impl)
    assert labels.tolist() == list(range(7))
    # Edges that weigh nothing in total are no graph either.
    labels = leiden(cpu, 4, np.array([0, 1]), np.array([1, 2]), np.zeros(2, np.float32),
                    implementation=impl)
    assert labels.tolist() == [0, 1, 2, 3]


def test_edge_free_graph_never_reaches_the_gpu_library():
    """The guard sits before the backend dispatch: cuGraph's Leiden divides by the total edge
    weight. Here no CuPy or pylibcugraph is installed, so reaching leiden_gpu would raise."""
    gpu_flag = Backend("gpu", np, "guard test: no device used")
    empty = np.array([], np.int64)
    assert leiden(gpu_flag, 3, empty, empty, None).tolist() == [0, 1, 2]


@pytest.mark.parametrize("impl", ["igraph", "leidenalg"])
def test_labels_equal_the_libraries_run_with_a_weight_attribute(cpu, impl):
    """The weights go to Leiden as an array: the partition is the one each library finds
    with the weights as an edge attribute, seeded alike, on overlapping groups where the
    order of moves matters."""
    import random

    import leidenalg

    n, src, dst, w, _ = _planted(p_in=0.06, p_out=0.02, seed=5)
    g = igraph.Graph(n=n, edges=np.column_stack([src, dst]))
    g.es["weight"] = w.astype(float).tolist()
    if impl == "igraph":
        igraph.set_random_number_generator(random)
        random.seed(3)
        ref = g.community_leiden(objective_function="modularity", weights="weight",
                                 n_iterations=-1).membership
    else:
        ref = leidenalg.find_partition(g, leidenalg.RBConfigurationVertexPartition,
                                       weights="weight", n_iterations=-1, seed=3).membership
    labels = leiden(cpu, n, src, dst, w, seed=3, implementation=impl)
    assert np.array_equal(labels, relabel_by_size(np.asarray(ref)))
    assert labels.max() + 1 > 1


def test_relabel_by_size():
    assert relabel_by_size(np.array([5, 5, 9, 9, 9, 1])).tolist() == [1, 1, 0, 0, 0, 2]


@pytest.mark.gpu
def test_gpu_leiden_recovers_planted_groups(gpu):
    n, src, dst, w, truth = _planted()
    labels = leiden(gpu, n + 3, src, dst, w, seed=1)
    assert len(labels) == n + 3
    assert adjusted_rand_score(truth, labels[:n]) >= 0.9
    empty = np.array([], np.int64)
    assert leiden(gpu, 4, empty, empty, None).tolist() == [0, 1, 2, 3]
