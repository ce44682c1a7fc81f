"""Diagnostics: conductance, degrees and components against direct computations and igraph."""

from __future__ import annotations

import igraph
import numpy as np

from engine._communities.diagnostics import community_table, graph_summary


def _graph(n=50, m=120, seed=0):
    rng = np.random.default_rng(seed)
    pairs = {tuple(sorted(p)) for p in rng.integers(0, n - 5, (m, 2)).tolist() if p[0] != p[1]}
    src, dst = np.array(sorted(pairs)).T
    w = rng.uniform(0.1, 1.0, len(src))
    labels = rng.integers(0, 4, n)
    labels = np.searchsorted(np.unique(labels), labels)
    return n, src, dst, w, labels


def test_conductance_equals_direct_computation():
    n, src, dst, w, labels = _graph()
    table = community_table(n, src, dst, w, labels)
    total = 2 * w.sum()
    for c in range(labels.max() + 1):
        inside = labels == c
        cut = sum(x for a, b, x in zip(src, dst, w, strict=True) if inside[a] != inside[b])
        vol = sum(x for a, b, x in zip(src, dst, w, strict=True) for v in (a, b) if inside[v])
        expected = cut / min(vol, total - vol) if min(vol, total - vol) > 0 else 0.0
        assert np.isclose(table["conductance"][c], expected)
        assert np.isclose(table["volume"][c], vol)
        assert table["size"][c] == inside.sum()


def test_summary_matches_igraph():
    n, src, dst, _, labels = _graph(seed=1)
    s = graph_summary(n, src, dst, labels)
    g = igraph.Graph(n=n, edges=np.column_stack([src, dst]))
    deg = np.array(g.degree())
    assert s["degree_0"] == int((deg == 0).sum()) and s["degree_0"] >= 5
    assert s["degree_1"] == int((deg == 1).sum())
    assert s["n_components"] == len(g.connected_components())
    assert s["largest_component"] == max(g.connected_components().sizes())
    assert s["degree_q50"] == np.quantile(deg, 0.5)
    assert s["n_edges"] == g.ecount()
