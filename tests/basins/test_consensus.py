"""Sparse co-assignment over kNN edges equals a dense brute force; consensus components."""

import numpy as np
import pytest
from scipy.sparse.csgraph import connected_components

from engine._basins.consensus import (
    coassignment,
    consensus,
    count_coassignment,
    knn_edges,
)


def _runs(n, n_runs, m, rng, n_labels=3):
    samples, labels = [], []
    for _ in range(n_runs):
        idx = np.sort(rng.choice(n, m, replace=False))
        samples.append(idx)
        labels.append(rng.integers(-1, n_labels, m))
    return samples, labels


def dense_coassignment(n, samples, labels):
    """Brute force: n x n together and co-sampled counts."""
    together = np.zeros((n, n))
    cosampled = np.zeros((n, n))
    for idx, lab in zip(samples, labels, strict=True):
        s = np.zeros(n, bool)
        s[idx] = True
        full = np.full(n, -2)
        full[idx] = lab
        cosampled += np.outer(s, s)
        together += (full[:, None] == full[None, :]) & (full[:, None] >= 0) & np.outer(s, s)
    return together, cosampled


def test_knn_edges_are_the_undirected_knn_pairs():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 2))
    src, dst = knn_edges(X, 4)
    d = ((X[:, None] - X[None]) ** 2).sum(-1)
    np.fill_diagonal(d, np.inf)
    nn = np.argsort(d, 1)[:, :4]
    want = {(min(i, j), max(i, j)) for i in range(60) for j in nn[i]}
    assert set(zip(src.tolist(), dst.tolist(), strict=True)) == want
    assert np.all(src < dst)


def test_sparse_counts_equal_dense_brute_force():
    rng = np.random.default_rng(1)
    n = 50
    X = rng.normal(size=(n, 2))
    src, dst = knn_edges(X, 6)
    samples, labels = _runs(n, 12, 35, rng)
    counts = count_coassignment(n, src, dst, samples, labels)
    together, cosampled = dense_coassignment(n, samples, labels)
    np.testing.assert_array_equal(counts.together, together[src, dst])
    np.testing.assert_array_equal(counts.cosampled, cosampled[src, dst])
    np.testing.assert_array_equal(counts.times_sampled, np.diag(cosampled))
    w, reliable = coassignment(counts, min_cosampled=4)
    dense = np.divide(together, cosampled, out=np.zeros_like(together), where=cosampled > 0)
    ok = cosampled[src, dst] >= 4
    np.testing.assert_array_equal(reliable, ok)
    np.testing.assert_allclose(w[ok], dense[src, dst][ok])
    assert np.isnan(w[~ok]).all()  # "drop": left out
    shrunk, _ = coassignment(counts, 4, prior_strength=2.0, low_cosample="shrink",
                             shrink_prior=0.1)
    want = (together[src, dst] + 0.2) / (cosampled[src, dst] + 2.0)
    np.testing.assert_allclose(shrunk[~ok], want[~ok])


def test_coassignment_divides_by_cosampled_not_runs():
    # Two points always together when both sampled, but co-sampled in only half the runs.
    src, dst = np.array([0]), np.array([1])
    samples = [np.array([0, 1]), np.array([0]), np.array([0, 1]), np.array([1])]
    labels = [np.array([0, 0]), np.array([0]), np.array([1, 1]), np.array([0])]
    counts = count_coassignment(2, src, dst, samples, labels)
    w, _ = coassignment(counts, min_cosampled=1)
    assert w[0] == 1.0


def test_consensus_components_match_dense_threshold_and_report_unsampled():
    rng = np.random.default_rng(2)
    centres = np.array([[0, 0], [5, 5], [10, 0]])
    X = np.concatenate([c + 0.3 * rng.normal(size=(40, 2)) for c in centres])
    n = len(X)
    truth = np.repeat(np.arange(3), 40)
    src, dst = knn_edges(X, 8)
    samples, labels = [], []
    for _ in range(10):
        idx = np.sort(rng.choice(n - 1, 90, replace=False))  # the last point is never sampled
        lab = truth[idx].copy()
        lab[rng.random(len(idx)) < 0.05] = -1  # some noise
        samples.append(idx)
        labels.append(lab)
    counts = count_coassignment(n, src, dst, samples, labels)
    res = consensus(n, counts, threshold=0.5, min_size=5, max_clusters=10, min_cosampled=3)
    assert res.n_never_sampled == 1
    assert res.labels[-1] == -1 and res.point_conf[-1] == 0
    # Brute force: dense co-assignment restricted to the kNN edges, thresholded, components.
    together, cosampled = dense_coassignment(n, samples, labels)
    adj = np.zeros((n, n), bool)
    ok = cosampled[src, dst] >= 3
    keep = ok & (together[src, dst] / np.maximum(cosampled[src, dst], 1) >= 0.5)
    adj[src[keep], dst[keep]] = True
    _, comp = connected_components(adj, directed=False)
    for c in np.unique(res.labels[res.labels >= 0]):
        members = np.flatnonzero(res.labels == c)
        assert len(np.unique(comp[members])) == 1
        assert (comp == comp[members[0]]).sum() == len(members)
    assert res.n_clusters == 3
    assert np.all(res.sizes >= 38)
    assert 0 < res.coverage <= 1


def brute_force_knn(X, k):
    d = ((X[:, None] - X[None]) ** 2).sum(-1)
    np.fill_diagonal(d, np.inf)
    return np.argsort(d, 1, kind="stable")[:, :k]


def dense_consensus(n, X, k, samples, labels, threshold, min_size, min_cosampled):
    """Brute force of `consensus`: dense co-assignment on the symmetrised kNN graph, edges
    >= threshold, components of >= min_size (largest first, ties by first point), then each
    point's mean co-assignment over its kNN neighbours in its own cluster."""
    together, cosampled = dense_coassignment(n, samples, labels)
    nn = brute_force_knn(X, k)
    knn = np.zeros((n, n), bool)
    knn[np.repeat(np.arange(n), k), nn.ravel()] = True
    knn |= knn.T
    reliable = knn & (cosampled >= min_cosampled)
    w = np.divide(together, cosampled, out=np.zeros((n, n)), where=cosampled > 0)
    _, comp = connected_components(reliable & (w >= threshold), directed=False)
    sizes = np.bincount(comp)
    first = np.array([np.flatnonzero(comp == c)[0] for c in range(len(sizes))])
    big = [c for c in np.lexsort((first, -sizes)) if sizes[c] >= min_size]
    want = np.full(n, -1)
    for new, c in enumerate(big):
        want[comp == c] = new
    point = np.zeros(n)
    for i in np.flatnonzero(want >= 0):
        mine = reliable[i] & (want == want[i])
        point[i] = w[i, mine].mean() if mine.any() else 0.0
    cluster = np.array([point[want == c].mean() for c in range(len(big))])
    return want, point, cluster


def test_confidences_equal_brute_force_means_on_overlapping_blobs():
    # Overlapping blobs, each run labelling points by the nearest of jittered centres: points
    # between blobs change cluster from run to run, so co-assignment is spread over (0, 1]
    # and counting edges to other clusters would move their confidence.
    rng = np.random.default_rng(5)
    centres = np.array([[0.0, 0.0], [4.0, 0.0], [2.0, 3.5]])
    X = np.concatenate([c + 0.8 * rng.normal(size=(60, 2)) for c in centres])
    n, k = len(X), 7
    samples, labels = [], []
    for _ in range(25):
        idx = np.sort(rng.choice(n, 150, replace=False))
        jitter = centres + 0.6 * rng.normal(size=centres.shape)
        lab = ((X[idx, None] - jitter[None]) ** 2).sum(-1).argmin(1)
        lab[rng.random(len(idx)) < 0.03] = -1
        samples.append(idx)
        labels.append(lab)
    src, dst = knn_edges(X, k)
    counts = count_coassignment(n, src, dst, samples, labels)
    res = consensus(n, counts, threshold=0.7, min_size=5, max_clusters=10, min_cosampled=4)
    want, point, cluster = dense_consensus(n, X, k, samples, labels, 0.7, 5, 4)
    np.testing.assert_array_equal(res.labels, want)
    np.testing.assert_allclose(res.point_conf, point, rtol=0, atol=1e-12)
    np.testing.assert_allclose(res.cluster_conf, cluster, rtol=0, atol=1e-12)
    np.testing.assert_array_equal(res.sizes, np.bincount(want[want >= 0]))
    # The data is ambiguous enough to tell the definitions apart: averaging over all of a
    # point's reliable edges, other clusters included, would move some confidence by > 0.1.
    w, reliable = coassignment(counts, 4)
    ws = np.where(reliable, w, 0.0)
    all_edges = ((np.bincount(src, ws, n) + np.bincount(dst, ws, n))
                 / np.maximum(np.bincount(src, reliable, n) + np.bincount(dst, reliable, n), 1))
    assert res.n_clusters == 3 and point[want >= 0].min() < 0.75
    assert np.abs(all_edges - point)[want >= 0].max() > 0.1


@pytest.mark.parametrize(("threshold", "n_clusters"), [(0.5, 1), (np.nextafter(0.5, 1), 2)])
def test_edge_exactly_at_the_threshold_joins(threshold, n_clusters):
    # Points on a line; two runs split it in two, two keep it whole: every bridging kNN edge has
    # co-assignment exactly 2/4 = 0.5, every other edge 1. ">= threshold" keeps the bridge.
    gaps = np.random.default_rng(6).uniform(0.5, 1.5, 30)  # no ties among distances
    X = np.c_[np.cumsum(gaps), np.zeros(30)]
    n, k = len(X), 3
    halves = (np.arange(n) >= 15).astype(int)
    idx = np.arange(n)
    samples, labels = [idx] * 4, [halves, np.zeros(n, int), halves, np.zeros(n, int)]
    src, dst = knn_edges(X, k)
    counts = count_coassignment(n, src, dst, samples, labels)
    bridge = halves[src] != halves[dst]
    assert bridge.any() and (counts.together[bridge] * 2 == counts.cosampled[bridge]).all()
    res = consensus(n, counts, threshold=threshold, min_size=5, max_clusters=10, min_cosampled=4)
    want, point, cluster = dense_consensus(n, X, k, samples, labels, threshold, 5, 4)
    assert res.n_clusters == n_clusters
    np.testing.assert_array_equal(res.labels, want)
    np.testing.assert_allclose(res.point_conf, point, rtol=0, atol=1e-12)
    np.testing.assert_allclose(res.cluster_conf, cluster, rtol=0, atol=1e-12)


def test_max_clusters_keeps_the_largest():
    rng = np.random.default_rng(3)
    X = np.concatenate([c + 0.2 * rng.normal(size=(s, 2)) for c, s in
                        (((0, 0), 50), ((5, 0), 30), ((10, 0), 20))])
    n = len(X)
    truth = np.repeat(np.arange(3), [50, 30, 20])
    src, dst = knn_edges(X, 6)
    idx = np.arange(n)
    counts = count_coassignment(n, src, dst, [idx] * 4, [truth] * 4)
    res = consensus(n, counts, 0.5, 5, max_clusters=2, min_cosampled=1)
    assert sorted(res.sizes.tolist()) == [30, 50]
    assert (res.labels[truth == 2] == -1).all()


@pytest.mark.gpu
def test_counts_on_gpu_equal_cpu(gpu):
    rng = np.random.default_rng(4)
    n = 80
    src, dst = knn_edges(rng.normal(size=(n, 2)), 5)
    samples, labels = _runs(n, 6, 60, rng)
    a = count_coassignment(n, src, dst, samples, labels)
    b = count_coassignment(n, src, dst, samples, labels, gpu.xp)
    np.testing.assert_array_equal(a.together, b.together)
    np.testing.assert_array_equal(a.cosampled, b.cosampled)
