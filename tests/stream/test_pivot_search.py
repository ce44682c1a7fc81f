"""The pivot search: it finds a near copy for every message that has one, whatever happened
to the copies since its lists were built; against brute force on planted data."""

from __future__ import annotations

import numpy as np
import pytest

from engine._stream.exact import normalise_rows
from engine._stream.pivot_search import PCA_MIN_ROWS, PivotSearch, _cut_for_top

RHO_MAX = 0.68  # the online default: s_th 0.78 - min_reach 0.1 (- err_h)


def unit(rows):
    out = np.empty(rows.shape)
    assert normalise_rows(rows, out) == -1
    return out


def planted(rng, k, d, n, noise):
    """k random unit copies and n messages near random ones (|x - e| ~ noise sqrt(d))."""
    E = unit(rng.standard_normal((k, d))).astype(np.float32)
    near = rng.integers(0, k, n)
    X = unit(E[near] + noise * rng.standard_normal((n, d)))
    return E, X, near


def brute_rho(X, E):
    d2 = (X**2).sum(1)[:, None] - 2 * X @ E.T.astype(np.float64) + (E.astype(np.float64) ** 2).sum(1)
    return np.sqrt(np.maximum(d2.min(axis=1), 0))


def rho_of(X, E, ids):
    return np.linalg.norm(X - E[ids].astype(np.float64), axis=1)


@pytest.mark.parametrize(("k", "d"), [(300, 32), (PCA_MIN_ROWS + 500, 128)])
def test_every_message_with_a_near_copy_gets_one(k, d):
    rng = np.random.default_rng(k)
    E, X, planted_near = planted(rng, k, d, 2000, 0.3 / np.sqrt(d))
    search = PivotSearch(d, pca_dim=24, list_size=24, rescue=12)
    search.rebuild(E)
    assert (search.axes is not None) == (k >= PCA_MIN_ROWS)
    ids, rho = search.search(X, X.astype(np.float32), E, RHO_MAX)
    assert ids.min() >= 0 and ids.max() < k
    true_rho, best = rho_of(X, E, ids), brute_rho(X, E)
    assert np.all(rho >= true_rho) and np.allclose(rho, true_rho, rtol=1e-8, atol=1e-8)
    reachable = best <= RHO_MAX
    assert reachable.mean() > 0.99
    assert np.all(true_rho[reachable] <= RHO_MAX)
    assert np.mean(ids == planted_near) > 0.95  # mostly the nearest itself


def test_far_messages_get_valid_ids():
    rng = np.random.default_rng(1)
    E, _, _ = planted(rng, PCA_MIN_ROWS, 64, 1, 0.0)
    search = PivotSearch(64, pca_dim=16)
    search.rebuild(E)
    X = unit(rng.standard_normal((500, 64)))  # nowhere near any copy
    ids, rho = search.search(X, X.astype(np.float32), E, RHO_MAX)
    assert ids.min() >= 0 and ids.max() < len(E)
    assert np.all(brute_rho(X, E) > RHO_MAX)


def test_added_and_retaken_copies_are_found():
    """Copies added after the lists were built join them; a retaken copy is found where it
    is now (its projection follows it)."""
    rng = np.random.default_rng(2)
    d = 96
    E, _, _ = planted(rng, 3 * PCA_MIN_ROWS, d, 1, 0.0)
    search = PivotSearch(d, pca_dim=32, list_size=24, rescue=12)
    search.rebuild(E[: 2 * PCA_MIN_ROWS])
    new = np.arange(2 * PCA_MIN_ROWS, len(E))
    search.place(E, new)
    moved = rng.choice(2 * PCA_MIN_ROWS, 300, replace=False)
    E[moved] = unit(rng.standard_normal((300, d))).astype(np.float32)
    search.place(E, moved)
    targets = np.r_[new[:700], moved]
    X = unit(E[targets] + 0.3 / np.sqrt(d) * rng.standard_normal((len(targets), d)))
    ids, rho = search.search(X, X.astype(np.float32), E, RHO_MAX)
    assert np.all(rho_of(X, E, ids) <= RHO_MAX)
    assert np.mean(ids == targets) > 0.95
    assert_lists_hold_their_copies(search, E)


def assert_lists_hold_their_copies(search, E):
    """Every copy is in exactly one list, at the slot recorded for it, with its current
    projection inline."""
    seen = []
    for li in range(len(search.fill)):
        ids = search.members[li, : search.fill[li]]
        seen.append(ids)
        assert np.all(search.list_of[ids] == li)
        assert np.array_equal(search.slot_of[ids], np.arange(len(ids)))
        P = search.project(E[ids])
        np.testing.assert_allclose(search.vectors[li, : len(ids)], P, rtol=0, atol=1e-6)
        np.testing.assert_allclose(search.half[li, : len(ids)], 0.5 * (P * P).sum(1),
                                   rtol=1e-5, atol=1e-6)
    assert np.array_equal(np.sort(np.concatenate(seen)), np.arange(len(E)))


def test_rescue_cut_takes_between_r_and_2r_of_the_best_lists():
    rng = np.random.default_rng(3)
    for nlist in (3, 50, 400):
        for r in (2, 12):
            if r > nlist:
                continue
            row = rng.standard_normal(nlist).astype(np.float32)
            cut = _cut_for_top(row, row.max(), r)
            taken = row >= cut
            assert r <= taken.sum() <= max(2 * r, r + 1)
            assert np.all(taken[np.argsort(-row)[:r]])  # the r best are among them
