"""Reduced-width kNN search: PCA projection against scikit-learn, exact re-ranking against
brute force, and the recall of the whole path on wide rows."""

from __future__ import annotations

import numpy as np
from sklearn.decomposition import PCA

from engine._communities.detect import detect
from engine._communities.reduce import pca_rows, rerank
from engine.ops.knn import drop_self, recall_at_k, sample_recall


def _wide_blobs(n=4000, d=256, centres=30, seed=0, rank=24):
    # Blobs in a rank-`rank` subspace of R^d plus faint full-width noise: the structure the
    # reduction relies on (a few leading axes carry the neighbour order), like the layers'
    # sketches of a few dozen prompt groups.
    rng = np.random.default_rng(seed)
    c = rng.standard_normal((centres, rank))
    truth = rng.integers(0, centres, n)
    basis = np.linalg.qr(rng.standard_normal((d, rank)))[0]
    X = (c[truth] + 0.8 * rng.standard_normal((n, rank))) @ basis.T
    X += 0.02 * rng.standard_normal((n, d))
    return (X / np.linalg.norm(X, axis=1, keepdims=True)).astype(np.float32), truth


def test_pca_rows_spans_sklearn_pca_subspace():
    X, _ = _wide_blobs(1000, 64, rank=64)
    Y = pca_rows(X, 8)
    ref = PCA(8, svd_solver="full").fit_transform(X)
    ref /= np.linalg.norm(ref, axis=1, keepdims=True)
    # Same axes up to sign: each column matches one reference column in absolute value.
    np.testing.assert_allclose(np.abs(Y), np.abs(ref), atol=2e-3)
    np.testing.assert_allclose(np.linalg.norm(Y, axis=1), 1.0, atol=1e-5)


def test_rerank_orders_candidates_by_exact_inner_product():
    X, _ = _wide_blobs(300, 32, rank=32)
    rng = np.random.default_rng(1)
    cand = np.stack([rng.choice(300, 10, replace=False) for _ in range(300)])
    cand[:5, 7:] = -1  # missing candidates stay at the end
    s, i = rerank(X, cand, 8, batch_rows=64)
    S = X.astype(np.float64) @ X.T.astype(np.float64)
    for r in range(300):
        valid = cand[r][cand[r] >= 0]
        best = valid[np.argsort(-S[r, valid], kind="stable")][:8]
        assert set(i[r][i[r] >= 0]) == set(best)
        np.testing.assert_allclose(s[r][: len(best)], np.sort(S[r, best])[::-1], atol=1e-5)
    assert (i[:5, 7] == -1).all() and np.isnan(s[:5, 7]).all()


def test_reduced_search_keeps_recall_and_communities(cpu):
    from sklearn.metrics import adjusted_rand_score

    X, truth = _wide_blobs()
    det = detect(cpu, X, k=15, knn="hnsw", graph="union", reduce_dim=32, candidates=2,
                 knn_params={"ef_search": 64}, keep_knn=True, recall_sample=500)
    assert det.recall >= 0.95
    assert det.recall == sample_recall(cpu, X, det.extra["knn_idx"], 500, 0)
    assert adjusted_rand_score(truth, det.labels) > 0.95
    # Scores are exact inner products on the full rows.
    idx = det.extra["knn_idx"]
    S = det.extra["knn_scores"]
    np.testing.assert_allclose(S[:, 0], (X * X[idx[:, 0]]).sum(1), atol=1e-5)
    _, ref = drop_self(*_exact(X, 16), 15)
    assert recall_at_k(idx, ref) >= 0.95


def _exact(X, k):
    S = X @ X.T
    idx = np.argsort(-S, axis=1)[:, :k]
    return np.take_along_axis(S, idx, 1), idx
