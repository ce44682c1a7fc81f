"""Mutual / union kNN edges against a brute-force construction from Python sets."""

from __future__ import annotations

import numpy as np
import pytest

from engine._communities.graph import knn_edges
from engine.errors import UserError


def _lists(n=60, k=6, seed=0):
    rng = np.random.default_rng(seed)
    idx = np.stack([rng.choice(np.delete(np.arange(n), i), k, replace=False) for i in range(n)])
    idx[3, -2:] = -1  # missing neighbours
    scores = rng.random((n, k)).astype(np.float32)
    return idx, scores


def _brute(idx, scores, mode, exclude=()):
    directed = {}
    for i in range(idx.shape[0]):
        for j, s in zip(idx[i], scores[i], strict=True):
            if j >= 0 and j != i and i not in exclude and j not in exclude:
                directed.setdefault((i, int(j)), float(s))  # a repeat keeps the first
    out = {}
    for (i, j), s in directed.items():
        a, b = min(i, j), max(i, j)
        back = directed.get((j, i))
        if back is None and mode == "mutual":
            continue
        out[(a, b)] = s if back is None else (s + back) / 2
    return out


@pytest.mark.parametrize("mode", ["mutual", "union"])
def test_edges_equal_brute_force(mode):
    idx, scores = _lists()
    # Make some pairs mutual so both modes have work to do.
    idx[1, 0], idx[0, 0] = 0, 1
    src, dst, w = knn_edges(idx, scores, mode)
    ref = _brute(idx, scores, mode)
    got = {(int(a), int(b)): float(x) for a, b, x in zip(src, dst, w, strict=True)}
    assert got.keys() == ref.keys()
    assert all(abs(got[e] - ref[e]) < 1e-6 for e in ref)
    assert (src < dst).all() and len(got) == len(src)


@pytest.mark.parametrize("mode", ["mutual", "union"])
def test_repeated_neighbour_ids_count_once(mode):
    """CAGRA can list a neighbour twice in one row (raft #2234): that must not make a
    one-sided pair mutual, nor change the union's weights."""
    idx, scores = _lists(seed=2)
    i = 5
    j = int(idx[i, 0])
    idx[j] = np.where(idx[j] == i, (i + 1) % 60 if (i + 1) % 60 != j else (i + 2) % 60, idx[j])
    assert i not in idx[j]  # j does not list i: the pair is one-sided
    idx[i, 1] = j  # ... but i lists j twice
    src, dst, w = knn_edges(idx, scores, mode)
    got = {(int(a), int(b)): float(x) for a, b, x in zip(src, dst, w, strict=True)}
    ref = _brute(idx, scores, mode)
    assert got.keys() == ref.keys()
    assert all(abs(got[e] - ref[e]) < 1e-6 for e in ref)
    assert ((min(i, j), max(i, j)) in got) == (mode == "union")
    if mode == "union":
        assert got[(min(i, j), max(i, j))] == pytest.approx(float(scores[i, 0]))


def test_excluded_vertices_get_no_edges():
    idx, scores = _lists(seed=1)
    exclude = np.zeros(60, bool)
    exclude[[2, 5]] = True
    src, dst, _ = knn_edges(idx, scores, "union", exclude=exclude)
    assert not np.isin(np.r_[src, dst], [2, 5]).any()
    assert len(src) == len(_brute(idx, scores, "union", exclude={2, 5}))


def test_unknown_mode():
    idx, scores = _lists()
    with pytest.raises(UserError, match="job.graph"):
        knn_edges(idx, scores, "both")


@pytest.mark.parametrize("mode", ["mutual", "union"])
def test_hub_vertices_and_exact_weights(mode):
    """A vertex many rows list (a hub: its bucket is sorted by the long-bucket path) and
    rows listing each other: edges as brute force, each weight the mean of its directions
    rounded once to float32."""
    rng = np.random.default_rng(4)
    n, k = 500, 10
    idx = np.stack([rng.choice(np.delete(np.arange(n), i), k, replace=False) for i in range(n)])
    idx[1:300, 0] = 0  # 0 is listed ~300 times (a few rows twice: repeats count once)
    idx[0] = np.arange(1, k + 1)  # ... and lists a few back
    scores = rng.random((n, k)).astype(np.float32)
    assert len({i for i in range(n) if 0 in idx[i]}) > 64  # the hub's bucket is long
    src, dst, w = knn_edges(idx, scores, mode)
    ref = _brute(idx, scores, mode)
    got = {(int(a), int(b)): x for a, b, x in zip(src, dst, w, strict=True)}
    assert got.keys() == ref.keys()
    assert all(got[e] == np.float32(ref[e]) for e in ref)  # ref: float64 mean, rounded once
    assert (np.diff(src * n + dst) > 0).all()  # sorted by (src, dst), each edge once
