"""Top-k lists filled block by block: against brute force in float64, in any block order."""

from __future__ import annotations

import numpy as np
import pytest

from engine.ops.knn_topk import TopK, exact_top, merge_cols, merge_rows


def _rows(n, d, seed):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, d)).astype(np.float32)


def _brute(Q, X, k, metric):
    """Best k by float64 value, ties by index (the lists' order)."""
    Q64, X64 = Q.astype(np.float64), X.astype(np.float64)
    if metric == "ip":
        v = Q64 @ X64.T
    else:
        v = -((Q64[:, None, :] - X64[None, :, :]) ** 2).sum(-1)
    order = np.lexsort((np.broadcast_to(np.arange(len(X)), v.shape), -v), axis=1)[:, :k]
    return order, np.take_along_axis(v, order, 1)


@pytest.mark.parametrize("metric", ["ip", "l2"])
def test_exact_top_equals_brute_force(metric, monkeypatch):
    import engine.ops.knn_topk as topk

    monkeypatch.setattr(topk, "COL_BLOCK", 300)  # several column blocks per row block
    monkeypatch.setattr(topk, "ROW_BLOCK", 64)
    Q, X = _rows(150, 24, 0), _rows(1000, 24, 1)
    s, i = exact_top(Q, X, 12, metric, threads=2)
    ref_i, ref_v = _brute(Q, X, 12, metric)
    np.testing.assert_array_equal(i, ref_i)
    ref_s = ref_v if metric == "ip" else -ref_v
    np.testing.assert_allclose(s, ref_s, rtol=1e-5, atol=1e-4)


def test_ties_go_to_the_smaller_index_whatever_the_block_order():
    # Duplicated rows score equal: the list keeps the smaller indices, best first.
    X = np.repeat(_rows(40, 8, 2), 3, axis=0)  # rows 3m, 3m + 1, 3m + 2 are equal
    Q = X[:5]
    ref_i, _ = _brute(Q, X, 7, "ip")
    k = 7
    results = []
    for perm_seed in range(3):
        top = TopK(len(Q), k, X)
        cols = np.random.default_rng(perm_seed).permutation(len(X))
        for c in np.array_split(cols, 6):  # blocks in a shuffled order
            S = Q @ X[c].T
            merge_rows(S, 0, len(c), np.arange(len(Q)), c, top.bias[c], top.scores, top.idx,
                       np.full(len(Q), -np.inf, np.float32))
        results.append(top.result()[1])
    for r in results:
        np.testing.assert_array_equal(r, ref_i)


def test_transposed_merge_equals_the_direct_one():
    """A block fed to its columns' lists (merge_cols) fills them as the transposed block fed
    row by row (merge_rows) does."""
    A, B = _rows(70, 16, 3), _rows(90, 16, 4)
    X = np.concatenate([A, B])
    a, b = np.arange(70), np.arange(70, 160)
    S = A @ B.T
    via_cols = TopK(160, 9, X)
    merge_cols(S, 0, 90, a, b, via_cols.bias[a], via_cols.scores, via_cols.idx)
    direct = TopK(160, 9, X)
    St = np.ascontiguousarray(S.T)
    merge_rows(St, 0, 70, b, a, direct.bias[a], direct.scores, direct.idx,
               np.full(90, -np.inf, np.float32))
    np.testing.assert_array_equal(via_cols.idx, direct.idx)
    np.testing.assert_array_equal(via_cols.scores, direct.scores)
    ref_i, _ = _brute(B, A, 9, "ip")
    np.testing.assert_array_equal(via_cols.result()[1][b], ref_i)
    assert (via_cols.result()[1][a] == -1).all()  # rows never fed stay empty


def test_fewer_rows_than_k_are_padded():
    s, i = exact_top(_rows(3, 4, 5), _rows(4, 4, 6), 6)
    assert (i[:, 4:] == -1).all() and (i[:, :4] >= 0).all()
    assert np.isneginf(s[:, 4:]).all()


@pytest.mark.parametrize("metric", ["ip", "l2"])
def test_a_block_floor_changes_nothing(metric):
    """merge_rows with the block's own k-th best as floor fills the lists as without it,
    ties at the floor included (duplicated rows)."""
    from engine.ops.knn_topk import block_floor

    X = np.repeat(_rows(100, 8, 7), 2, axis=0)
    Q = X[::3]
    rows = np.arange(len(Q))
    S = Q @ X.T
    cols = np.arange(len(X))
    lists = []
    for with_floor in (False, True):
        top = TopK(len(Q), 9, X, metric)
        floor = (block_floor(S, top.bias, 9) if with_floor
                 else np.full(len(Q), -np.inf, np.float32))
        merge_rows(S, 0, len(X), rows, cols, top.bias, top.scores, top.idx, floor)
        lists.append(top.result(np.einsum("ij,ij->i", Q, Q))[1])
    np.testing.assert_array_equal(lists[0], lists[1])
    np.testing.assert_array_equal(lists[0], _brute(Q, X, 9, metric)[0])
