"""Polis k-means: deterministic starts, tolerance stop, Hamerly kernel, silhouette, k range."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.cluster import KMeans
from sklearn.metrics import silhouette_score

from engine._opinion import kmeans


def blobs(n=3000, seed=0):
    rng = np.random.default_rng(seed)
    centres = np.array([[0, 0], [5, 0], [0, 5], [5, 5]], float)
    return centres[rng.integers(0, 4, n)] + rng.standard_normal((n, 2))


def plain_lloyd(x, c, w, tol, max_iter):
    """Reference: textbook weighted Lloyd, brute-force distances."""
    c = c.copy()
    for _ in range(max_iter):
        d = ((x[:, None] - c[None]) ** 2).sum(-1)
        lab = d.argmin(1)
        new = np.array([np.average(x[lab == j], axis=0, weights=w[lab == j]) for j in range(len(c))])
        moved = np.sqrt(((new - c) ** 2).sum(1)).max()
        c = new
        if moved < tol:
            break
    return ((x[:, None] - c[None]) ** 2).sum(-1).argmin(1), c


def test_first_distinct_rows_keeps_data_order():
    x = np.array([[1, 1], [0, 0], [1, 1], [2, 2], [0, 0], [3, 3]], float)
    assert kmeans.first_distinct_rows(x, 3).tolist() == [[1, 1], [0, 0], [2, 2]]
    assert len(kmeans.first_distinct_rows(x, 10)) == 4


def test_weighted_lloyd_matches_reference():
    x = blobs(400)
    w = np.random.default_rng(1).integers(1, 10, len(x)).astype(float)
    start = kmeans.first_distinct_rows(x, 4)
    labels, centres, _, _ = kmeans.lloyd(x, start, w, tol=1e-9, max_iter=500)
    ref_labels, ref_centres = plain_lloyd(x, start, w, 1e-9, 500)
    np.testing.assert_allclose(centres, ref_centres, atol=1e-8)
    assert np.array_equal(labels, ref_labels)


def test_hamerly_kernel_equals_plain_lloyd_and_sklearn():
    x = blobs(kmeans.SMALL + 1000, seed=2)  # above the size where the numba kernel runs
    start = kmeans.first_distinct_rows(x, 30)
    labels, centres, n_iter, _ = kmeans.lloyd(x, start, None, tol=0.01, max_iter=300)
    ref_labels, ref_centres = plain_lloyd(x, start, np.ones(len(x)), 0.01, 300)
    np.testing.assert_allclose(centres, ref_centres, atol=1e-9)
    assert np.array_equal(labels, ref_labels)
    # scikit-learn from the same start, run to convergence, lands on the same partition.
    sk = KMeans(30, init=start, n_init=1, tol=0, max_iter=1000, algorithm="lloyd").fit(x)
    tight, _, _, _ = kmeans.lloyd(x, start, None, tol=1e-12, max_iter=1000)
    assert np.array_equal(sk.labels_, tight)


def test_base_clusters_k_is_min_100_voters_and_deterministic():
    x = blobs(60)
    small = kmeans.base_clusters(x, 100)
    # 60 distinct points from 60 starts: each point is its own cluster, none emptied.
    assert len(small.centres) == 60 and small.sizes.sum() == 60
    np.testing.assert_array_equal(np.sort(small.centres, axis=0), np.sort(x, axis=0))
    big = kmeans.base_clusters(blobs(kmeans.SMALL + 500), 100)
    again = kmeans.base_clusters(blobs(kmeans.SMALL + 500), 100)
    assert len(big.centres) == 100 and (big.sizes > 0).all()
    assert np.array_equal(big.labels, again.labels)


def test_silhouette_matches_sklearn():
    rng = np.random.default_rng(5)
    pts = rng.standard_normal((100, 2))
    for k in (2, 3, 5):
        labels = rng.integers(0, k, 100)
        labels[:k] = np.arange(k)
        assert abs(kmeans.silhouette(pts, labels) - silhouette_score(pts, labels)) < 1e-12
    singletons = np.array([0, 0, 1, 2, 2])
    assert abs(kmeans.silhouette(pts[:5], singletons) - silhouette_score(pts[:5], singletons)) < 1e-12


def test_k_range_follows_polis():
    assert list(kmeans.k_range(100)) == [2, 3, 4, 5]
    assert list(kmeans.k_range(20)) == [2, 3]  # 2 + 20 // 12 = 3
    assert list(kmeans.k_range(11)) == [2]
    assert list(kmeans.k_range(2)) == []


def test_groups_pick_best_silhouette_on_planted_blobs():
    x = blobs(4000, seed=7)
    base = kmeans.base_clusters(x, 100)
    cands = kmeans.group_candidates(base.centres, base.sizes.astype(float))
    k = kmeans.best_k(cands)
    assert k == 4
    sils = {kk: s for kk, (_, s) in cands.items()}
    assert sils[4] == max(sils.values())


def test_group_level_reproduces_polis_on_its_own_base_clusters():
    # Clojure Polis's base clusters of the held-out conversation (tests/data/opinion): its
    # group k-means on their centres, started from the first k distinct centres in base-id
    # order, with k by silhouette, is exactly Polis's exported grouping.
    import json
    from pathlib import Path

    from sklearn.metrics import adjusted_rand_score

    folder = Path(__file__).resolve().parents[1] / "data" / "opinion" / "r6vbnhffkxbd7ifmfbdrd-vw"
    blob = json.loads((folder / "math_blob_clusters.json").read_text())
    bc = blob["base-clusters"]
    centres, ids = np.c_[bc["x"], bc["y"]], np.array(bc["id"])
    group_of = {b: g["id"] for g in blob["group-clusters"] for b in g["members"]}
    polis = np.array([group_of[b] for b in ids])
    cands = kmeans.group_candidates(centres, np.array(bc["count"], float), 5, 0.01, 20, ids)
    k = kmeans.best_k(cands)
    assert k == len(blob["group-clusters"]) == 4
    assert adjusted_rand_score(polis, cands[k][0].labels) == 1.0
    polis_centres = np.array([g["center"] for g in blob["group-clusters"]])
    ours = cands[k][0].centres
    order = [np.argmin(((ours - c) ** 2).sum(1)) for c in polis_centres]
    np.testing.assert_allclose(ours[order], polis_centres, atol=1e-9)
    # The silhouette Polis maximised: scikit-learn's on the same labels.
    assert cands[k][1] == pytest.approx(silhouette_score(centres, polis), abs=1e-12)
