"""kNN: flat equals NumPy brute force, HNSW recall at the job's defaults, recall and errors."""

from __future__ import annotations

import numpy as np
import pytest

from engine._communities.knn_plan import auto_ef_search
from engine.errors import UserError
from engine.jobs.communities import Params
from engine.ops.knn import drop_self, recall_at_k, sample_recall, self_knn


def _unit_rows(n, d, seed=0, centres=20):
    rng = np.random.default_rng(seed)
    c = rng.standard_normal((centres, d))
    X = c[rng.integers(0, centres, n)] + 0.6 * rng.standard_normal((n, d))
    return (X / np.linalg.norm(X, axis=1, keepdims=True)).astype(np.float32)


def _brute(X, k):
    S = X.astype(np.float64) @ X.T.astype(np.float64)
    np.fill_diagonal(S, -np.inf)
    idx = np.argsort(-S, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(S, idx, 1), idx


def test_flat_equals_numpy_brute_force(cpu):
    X = _unit_rows(600, 16)
    scores, idx = self_knn(cpu, X, 10, method="flat")
    ref_s, ref_i = _brute(X, 10)
    np.testing.assert_allclose(scores, ref_s, atol=1e-5)
    # Indices agree except where two neighbours tie in score.
    same = idx == ref_i
    assert same.mean() > 0.999
    assert np.allclose(np.take_along_axis(X @ X.T, idx, 1), ref_s, atol=1e-5)
    assert not (idx == np.arange(600)[:, None]).any()


def test_flat_l2_metric(cpu):
    X = _unit_rows(300, 8, seed=1) * 3.0
    scores, idx = self_knn(cpu, X, 5, method="flat", metric="l2")
    D = ((X[:, None, :].astype(np.float64) - X[None, :, :]) ** 2).sum(-1)
    np.fill_diagonal(D, np.inf)
    np.testing.assert_allclose(scores, np.sort(D, axis=1)[:, :5], rtol=1e-4, atol=1e-4)


def test_hnsw_recall_at_job_defaults(cpu):
    p = Params()
    X = _unit_rows(20000, 32, seed=2, centres=50)
    _, idx = self_knn(cpu, X, p.k, method="hnsw", hnsw_m=p.hnsw_m,
                      ef_construction=p.ef_construction,
                      ef_search=p.ef_search or auto_ef_search(len(X), p.k))
    assert sample_recall(cpu, X, idx, n_sample=500) >= 0.95


def test_recall_at_k_counts_hits():
    approx = np.array([[1, 2, 3], [0, -1, -1]])
    exact = np.array([[1, 3, 4], [2, 3, -1]])
    assert recall_at_k(approx, exact) == pytest.approx(2 / 5)
    assert recall_at_k(exact, exact) == 1.0


def test_drop_self_packs_and_marks_missing():
    idx = np.array([[0, 2, -1], [0, 1, 2]])
    scores = np.array([[1.0, 0.5, -3e38], [0.9, 1.0, 0.1]], np.float32)
    s, i = drop_self(scores, idx, 2)
    assert i.tolist() == [[2, -1], [0, 2]]
    assert s[0, 0] == 0.5 and np.isnan(s[0, 1])


def test_drop_self_drops_repeated_ids():
    """A repeated neighbour (CAGRA can return one twice in a row) is kept once, at its first
    rank, and the next distinct neighbour moves up."""
    idx = np.array([[3, 3, 1, 2], [1, 2, 2, 2]])
    scores = np.array([[0.9, 0.9, 0.5, 0.4], [0.8, 0.7, 0.7, 0.7]], np.float32)
    s, i = drop_self(scores, idx, 3)
    assert i.tolist() == [[3, 1, 2], [2, -1, -1]]
    assert s[0].tolist() == pytest.approx([0.9, 0.5, 0.4]) and np.isnan(s[1, 1:]).all()
    assert recall_at_k(np.array([[3, 3]]), np.array([[3, 4]])) == 0.5  # a repeat is no hit


def test_k_not_below_n_is_a_user_error(cpu):
    X = _unit_rows(10, 4)
    with pytest.raises(UserError, match="k=10"):
        self_knn(cpu, X, 10)


def test_gpu_only_methods_refused_on_cpu(cpu):
    with pytest.raises(UserError, match="cagra"):
        self_knn(cpu, _unit_rows(50, 4), 3, method="cagra")


def test_cpu_ivf_recall_grows_with_nprobe_and_is_exact_at_all_lists(cpu):
    X = _unit_rows(6000, 48, seed=4, centres=40)
    _, ref = self_knn(cpu, X, 15, method="flat")
    recalls = [recall_at_k(self_knn(cpu, X, 15, method="ivf", nlist=64, nprobe=p)[1], ref)
               for p in (1, 8, 64)]
    assert recalls[0] < recalls[1] <= recalls[2]
    assert recalls[1] >= 0.9 and recalls[2] > 0.999  # every list probed: brute force


@pytest.mark.gpu
@pytest.mark.parametrize("method", ["flat", "ivf", "cagra"])
def test_gpu_methods_match_exact(gpu, cpu, method):
    X = _unit_rows(5000, 32, seed=3)
    _, ref = self_knn(cpu, X, 15, method="flat")
    _, idx = self_knn(gpu, X, 15, method=method)
    assert recall_at_k(idx, ref) >= (0.999 if method == "flat" else 0.9)
