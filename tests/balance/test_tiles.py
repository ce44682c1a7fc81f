"""Tiles cover every pair once with the right similarity blocks; grouping and z-scores."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.preprocessing import StandardScaler

from engine._balance.groups import build_groups
from engine._balance.matching import MatchOptions, match_pairs
from engine._balance.scores import zscore
from engine._balance.tiles import gram, normalise, plan_tiles, similarity_block, tile_pairs
from engine.backend import cpu_backend


@pytest.mark.parametrize("max_elements,max_rows", [(10**9, None), (300, None), (1, None),
                                                   (10**9, 7)])
def test_tiles_cover_every_pair_once_with_its_block(max_elements, max_rows):
    rng = np.random.default_rng(0)
    counts = rng.integers(1, 6, 11)
    row_start = np.concatenate([[0], np.cumsum(counts)])
    X = normalise(np, rng.standard_normal((row_start[-1], 5)))
    seen = []
    for u0, u1 in plan_tiles(row_start, max_elements, max_rows):
        G = similarity_block(np, X, int(row_start[u0]), int(row_start[u1]))
        if u1 - u0 > 1:  # a tile of one user may exceed the budget; larger ones may not
            assert G.size <= max_elements
            assert max_rows is None or G.shape[0] <= max_rows
        tp = tile_pairs(row_start, u0, u1)
        for k in range(len(tp.user_i)):
            i, j = tp.user_i[k], tp.user_j[k]
            block = G[tp.a_off[k]:tp.a_off[k] + tp.a_n[k], tp.b_off[k]:tp.b_off[k] + tp.b_n[k]]
            want = X[row_start[i]:row_start[i + 1]] @ X[row_start[j]:row_start[j + 1]].T
            np.testing.assert_allclose(block, want, atol=1e-12)
            seen.append((i, j))
    n = len(counts)
    assert sorted(seen) == [(i, j) for i in range(n) for j in range(i + 1, n)]


def test_whole_cluster_gram_holds_every_pair_block_above_its_diagonal():
    rng = np.random.default_rng(4)
    counts = rng.integers(1, 7, 9)
    row_start = np.concatenate([[0], np.cumsum(counts)])
    X = normalise(np, rng.standard_normal((row_start[-1], 16)))
    G = gram(X)
    tp = tile_pairs(row_start, 0, len(counts) - 1)
    assert len(tp.user_i) == len(counts) * (len(counts) - 1) // 2
    for k in range(len(tp.user_i)):
        rows = slice(tp.a_off[k], tp.a_off[k] + tp.a_n[k])
        cols = slice(tp.b_off[k], tp.b_off[k] + tp.b_n[k])
        want = X[rows] @ X[cols].T
        np.testing.assert_allclose(G[rows, cols], want, atol=1e-14)
    iu = np.triu_indices(len(X))
    np.testing.assert_allclose(G[iu], (X @ X.T)[iu], atol=1e-14)
    assert G.flags.c_contiguous


def test_cpu_takes_one_symmetric_product_per_cluster_when_it_fits():
    from engine._balance.matching import _tile_jobs

    rng = np.random.default_rng(5)
    n = 300
    groups = build_groups(rng.integers(0, 2, n), rng.integers(0, 20, n),
                          rng.standard_normal((n, 4)).astype(np.float32))
    jobs = list(_tile_jobs(groups, MatchOptions(), gpu=False))
    assert len(jobs) == 2 and all(job[4] for job in jobs)
    assert all(job[3] == [(0, job[2] - job[1] - 1)] for job in jobs)
    # Over the budget: thin tiles of the upper triangle, as on the GPU.
    assert not any(job[4] for job in _tile_jobs(groups, MatchOptions(tile_elements=500),
                                                gpu=False))
    assert not any(job[4] for job in _tile_jobs(groups, MatchOptions(), gpu=True))


def test_tile_size_does_not_change_results():
    rng = np.random.default_rng(1)
    n = 600
    groups = build_groups(rng.integers(0, 3, n), rng.integers(0, 25, n),
                          rng.standard_normal((n, 8)).astype(np.float32))
    one = match_pairs(groups, cpu_backend(), MatchOptions(tile_rows_cpu=10**6))
    many = match_pairs(groups, cpu_backend(), MatchOptions(tile_elements=500, tile_rows_cpu=9))
    np.testing.assert_array_equal(one.user1, many.user1)
    np.testing.assert_array_equal(one.user2, many.user2)
    np.testing.assert_allclose(one.sim, many.sim, atol=1e-12)


def test_groups_sort_once_and_cut_offsets():
    cluster = np.array(["b", "a", "b", "a", "b", "b"], dtype=object)
    user = np.array([2, 1, 1, 1, 2, 3])
    emb = np.arange(12, dtype=np.float32).reshape(6, 2) + 1
    g = build_groups(cluster, user, emb, np.array(["x", "y", "x", "y", "z", "x"], object))
    assert list(g.cluster_ids) == ["a", "b"]
    assert list(g.cluster_start) == [0, 1, 4]
    assert list(g.user_ids) == [1, 1, 2, 3]
    assert list(g.counts()) == [2, 1, 2, 1]
    assert g.cluster_category == ["y", "x"]  # the most common category of each cluster
    np.testing.assert_array_equal(g.embeddings[g.user_start[2]:g.user_start[3]], emb[[0, 4]])


def test_zscore_matches_standard_scaler_and_zero_variance_gives_zero():
    x = np.random.default_rng(2).standard_normal(50)
    np.testing.assert_allclose(zscore(x), StandardScaler().fit_transform(x[:, None])[:, 0],
                               atol=1e-12)
    assert not zscore(np.full(7, 0.3)).any()
    assert len(zscore(np.zeros(0))) == 0


def test_score_pairs_with_only_single_user_clusters_gives_an_empty_table():
    from engine._balance.table import score_pairs

    emb = np.random.default_rng(3).standard_normal((4, 3)).astype(np.float32)
    table, groups, matches = score_pairs(np.array([0, 0, 1, 2]), np.array([5, 5, 6, 7]), emb,
                                         cpu_backend())
    assert table.num_rows == 0 and len(matches) == 0 and groups.n_clusters == 3
    assert table.column_names[:3] == ["cluster_id", "user1", "user2"]
    assert "balance_score" in table.column_names
