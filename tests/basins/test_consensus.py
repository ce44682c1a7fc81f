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
    assert 0.9 < res.cluster_conf.min() <= 1.0
    assert 0 < res.coverage <= 1


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
