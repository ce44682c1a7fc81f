"""CPU IVF searched list by list: recall at the defaults, the calibration's prediction, seeds."""

from __future__ import annotations

import numpy as np
import pytest

from engine.ops.knn import drop_self, recall_at_k, self_knn
from engine.ops.knn_ivf import ivf_self_knn


def _blobs(n, d, seed=0, centres=30, noise=0.5):
    rng = np.random.default_rng(seed)
    c = rng.standard_normal((centres, d))
    X = c[rng.integers(0, centres, n)] + noise * rng.standard_normal((n, d))
    return (X / np.linalg.norm(X, axis=1, keepdims=True)).astype(np.float32)


@pytest.fixture(scope="module")
def blobs():
    X = _blobs(8000, 32, seed=5)
    # Exact reference by brute force in float64 (independent of FAISS).
    S = X.astype(np.float64) @ X.T.astype(np.float64)
    np.fill_diagonal(S, -np.inf)
    return X, np.argsort(-S, axis=1, kind="stable")[:, :15]


def test_recall_at_defaults_reaches_the_target(cpu, blobs):
    X, ref = blobs
    info = {}
    scores, idx = self_knn(cpu, X, 15, method="ivf", info=info)
    assert recall_at_k(idx, ref) >= 0.95
    assert info["calibrated_recall"] >= 0.96 and info["nprobe"] < info["nlist"]
    assert not (idx == np.arange(len(X))[:, None]).any() and (idx >= 0).all()
    # Scores are the true inner products of the returned rows.
    np.testing.assert_allclose(scores, np.einsum("id,ikd->ik", X, X[idx]), atol=1e-5)


def test_calibration_predicts_the_recall_of_the_sampled_rows(blobs):
    X, ref = blobs
    s, i, info = ivf_self_knn(X, 15, seed=3, target_recall=0.9)
    rows = np.sort(np.random.default_rng([3, 13]).choice(len(X), 1000, replace=False))
    _, idx = drop_self(s[rows], i[rows], 15, row_ids=rows)
    assert recall_at_k(idx, ref[rows]) == pytest.approx(info["calibrated_recall"], abs=2e-3)
    # One probe fewer would have missed the target on those rows.
    if info["nprobe"] > 1:
        s2, i2, _ = ivf_self_knn(X, 15, seed=3, nprobe=info["nprobe"] - 1)
        _, idx2 = drop_self(s2[rows], i2[rows], 15, row_ids=rows)
        assert recall_at_k(idx2, ref[rows]) < 0.9


def test_same_seed_same_result_and_every_row_gets_k(blobs):
    X, _ = blobs
    a = ivf_self_knn(X, 15, seed=1)
    b = ivf_self_knn(X, 15, seed=1)
    np.testing.assert_array_equal(a[1], b[1])
    assert a[2] == b[2]
    # Tiny lists: the probe set grows until it holds k + 1 rows, so nobody is short.
    Y = _blobs(300, 8, seed=2)
    _, idx, info = ivf_self_knn(Y, 15, nlist=100, nprobe=1)
    assert info["nprobe"] == 1 and (idx >= 0).all()


def test_l2_metric_matches_brute_force_when_all_lists_are_probed(cpu):
    X = _blobs(1500, 16, seed=4) * 3.0
    D = ((X[:, None, :].astype(np.float64) - X[None, :, :]) ** 2).sum(-1)
    np.fill_diagonal(D, np.inf)
    ref = np.argsort(D, axis=1, kind="stable")[:, :10]
    _, idx = self_knn(cpu, X, 10, method="ivf", metric="l2", nlist=20, nprobe=20)
    assert recall_at_k(idx, ref) > 0.999


def test_wide_rows_partitioned_on_principal_axes_keep_the_recall(cpu):
    # 256-wide rows: k-means runs on the leading TRAIN_DIM axes and the lists are searched
    # with BLAS products in full width; recall is still calibrated on exact neighbours.
    X = _blobs(6000, 256, seed=6, centres=40, noise=1.2)
    S = X.astype(np.float64) @ X.T.astype(np.float64)
    np.fill_diagonal(S, -np.inf)
    ref = np.argsort(-S, axis=1, kind="stable")[:, :15]
    info = {}
    scores, idx = self_knn(cpu, X, 15, method="ivf", info=info)
    assert recall_at_k(idx, ref) >= 0.95 and info["nprobe"] < info["nlist"]
    np.testing.assert_allclose(scores, np.einsum("id,ikd->ik", X, X[idx]), atol=1e-5)
    assert (np.diff(scores, axis=1) <= 0).all()  # best first
    # Every list probed: the exact answer, as by brute force.
    _, full = self_knn(cpu, X, 15, method="ivf", nprobe=10**6)
    assert recall_at_k(full, ref) > 0.999


def _probed_reference(X, k, info, metric, seed):
    """For every row, its k + 1 best rows by float64 brute force among the rows of the lists
    its list probes (the lists rebuilt with the same seed): what a search of each list on
    its own, in each direction, returns. Also FAISS's search of each list (faiss.knn)."""
    import faiss

    from engine.ops.knn_ivf import probe_order, train_lists

    C, assign = train_lists(X, info["nlist"], metric, seed)
    near = probe_order(C, info["nlist"])
    counts = np.bincount(assign, minlength=info["nlist"])
    enough = (np.cumsum(counts[near], axis=1) >= k + 1).argmax(axis=1) + 1
    X64 = X.astype(np.float64)
    ref_v = np.empty((len(X), k + 1))
    ref_i = np.empty((len(X), k + 1), np.int64)
    faiss_i = np.empty((len(X), k + 1), np.int64)
    for a in np.flatnonzero(counts):
        rows = np.flatnonzero(assign == a)
        cand = np.flatnonzero(np.isin(assign, near[a, : max(info["nprobe"], enough[a])]))
        if metric == "ip":
            v = X64[rows] @ X64[cand].T
        else:
            v = -((X64[rows, None, :] - X64[None, cand, :]) ** 2).sum(-1)
        top = np.argsort(-v, axis=1, kind="stable")[:, : k + 1]
        ref_i[rows], ref_v[rows] = cand[top], np.take_along_axis(v, top, 1)
        metric_id = faiss.METRIC_INNER_PRODUCT if metric == "ip" else faiss.METRIC_L2
        faiss_i[rows] = cand[faiss.knn(X[rows], X[cand], k + 1, metric=metric_id)[1]]
    return ref_i, ref_v, faiss_i


def _same_up_to_ties(idx, ref_i, ref_v, X, metric):
    """Rows whose neighbour sets differ only by rows scoring within float32 rounding of the
    k-th best (ties) count as equal; returns the share of rows with exactly equal sets."""
    X64 = X.astype(np.float64)
    equal = (np.sort(idx, 1) == np.sort(ref_i, 1)).all(1)
    for r in np.flatnonzero(~equal):
        extra = np.setdiff1d(idx[r], ref_i[r])
        v = X64[extra] @ X64[r] if metric == "ip" else -((X64[extra] - X64[r]) ** 2).sum(1)
        assert (v >= ref_v[r, -1] - 1e-5 * max(1.0, abs(ref_v[r, -1]))).all(), r
    return equal.mean()


@pytest.mark.parametrize("metric", ["ip", "l2"])
def test_shared_products_return_each_lists_own_search(blobs, metric):
    """Each pair of lists probing each other is multiplied once and used both ways: every
    row still gets exactly the best rows of its probed lists (float64 brute force), as a
    search of each list on its own (FAISS) does, up to ties."""
    X = blobs[0] if metric == "ip" else blobs[0] * 3.0
    s, i, info = ivf_self_knn(X, 15, seed=2, metric=metric, nprobe=6)
    ref_i, ref_v, faiss_i = _probed_reference(X, 15, info, metric, seed=2)
    assert _same_up_to_ties(i, ref_i, ref_v, X, metric) > 0.999
    assert _same_up_to_ties(faiss_i, ref_i, ref_v, X, metric) > 0.999
    # Scores are the rows' own inner products / squared distances, best first.
    X64 = X.astype(np.float64)
    true = (np.einsum("id,ikd->ik", X64, X64[i]) if metric == "ip"
            else ((X64[:, None, :] - X64[i]) ** 2).sum(-1))
    np.testing.assert_allclose(s, true, atol=1e-4)
    assert (np.diff(s, axis=1) <= 0).all() if metric == "ip" else (np.diff(s, axis=1) >= 0).all()
