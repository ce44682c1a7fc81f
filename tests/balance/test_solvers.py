"""The Numba solvers against scipy's linear_sum_assignment on random and adversarial blocks."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import linear_sum_assignment

from engine._balance.solvers import auction_max, greedy_max, lsap_max


def scipy_total(S: np.ndarray) -> float:
    r, c = linear_sum_assignment(S, maximize=True)
    return float(S[r, c].sum())


def sorted_edge_greedy(S: np.ndarray) -> float:
    """Take edges by (value desc, row asc, column asc) while both ends are free."""
    n, m = S.shape
    order = sorted((-S[i, j], i, j) for i in range(n) for j in range(m))
    rows, cols, total = set(), set(), 0.0
    for neg, i, j in order:
        if i not in rows and j not in cols:
            rows.add(i)
            cols.add(j)
            total += -neg
    return total


def oriented(S: np.ndarray) -> np.ndarray:
    return S if S.shape[0] <= S.shape[1] else S.T


def cosine_block(rng, n, m, d=8, spread=1.0):
    A = rng.standard_normal((n, d))
    B = rng.standard_normal((m, d)) * spread + A[rng.integers(0, n, m)] * 0.5
    A /= np.linalg.norm(A, axis=1, keepdims=True)
    B /= np.linalg.norm(B, axis=1, keepdims=True)
    return A @ B.T


def adversarial_blocks():
    rng = np.random.default_rng(7)
    yield "ties", np.round(cosine_block(rng, 9, 12), 1)
    yield "all equal", np.full((6, 6), 0.5)
    yield "1 x n", cosine_block(rng, 1, 17)
    yield "n x 1", cosine_block(rng, 13, 1)
    yield "1 x 1", np.array([[0.3]])
    v = rng.standard_normal(8)
    same = np.tile(v / np.linalg.norm(v), (5, 1))
    yield "identical vectors", same @ same.T
    yield "negative", -np.abs(cosine_block(rng, 7, 10))
    yield "large", cosine_block(rng, 70, 90)
    yield "binary ties", rng.integers(0, 2, (20, 25)).astype(float)


@pytest.mark.parametrize("seed", range(30))
def test_exact_equals_scipy_on_random_rectangles(seed):
    rng = np.random.default_rng(seed)
    n, m = rng.integers(1, 30, 2)
    S = cosine_block(rng, n, m)
    total, bound, status = lsap_max(oriented(S))
    assert status == 0 and bound == 0
    assert total == pytest.approx(scipy_total(S), abs=1e-12)


@pytest.mark.parametrize("name,S", list(adversarial_blocks()))
def test_all_methods_on_adversarial_blocks(name, S):
    opt = scipy_total(S)
    k = min(S.shape)
    total, _, _ = lsap_max(oriented(S))
    assert total == pytest.approx(opt, abs=1e-12), name
    for eps in (1e-2, 1e-3):
        for scale in (False, True):
            total, bound, status = auction_max(oriented(S), eps, 10**6, scale)
            assert status == 0
            assert opt - total <= k * eps + 1e-12, name
            assert opt - total <= bound + 1e-12, name  # the certificate bounds the error
    total, bound, _ = greedy_max(oriented(S))
    assert total == pytest.approx(sorted_edge_greedy(oriented(S)), abs=1e-12), name
    assert opt - total <= bound + 1e-12


@pytest.mark.parametrize("seed", range(20))
def test_auction_error_within_eps_per_row(seed):
    rng = np.random.default_rng(100 + seed)
    n, m = sorted(rng.integers(2, 40, 2))
    S = cosine_block(rng, n, m, spread=0.3)
    opt = scipy_total(S)
    for eps in (0.05, 1e-3):
        total, bound, status = auction_max(S, eps, 10**7, True)
        assert status == 0
        assert -1e-12 <= opt - total <= n * eps + 1e-12
        assert opt - total <= bound + 1e-12
        assert bound <= n * eps + 1e-9  # the dual gap itself is within the eps guarantee


@pytest.mark.parametrize("seed", range(20))
def test_greedy_equals_sorted_edge_greedy(seed):
    rng = np.random.default_rng(200 + seed)
    n, m = rng.integers(1, 25, 2)
    S = np.round(cosine_block(rng, n, m), 2)  # rounding makes ties common
    total, bound, _ = greedy_max(oriented(S))
    assert total == pytest.approx(sorted_edge_greedy(oriented(S)), abs=1e-12)
    assert scipy_total(S) - total <= bound + 1e-12


def test_auction_bid_cap_reports_status():
    rng = np.random.default_rng(3)
    S = cosine_block(rng, 30, 30)
    total, bound, status = auction_max(S, 1e-6, 5, False)
    assert status == 1


@pytest.mark.parametrize("m", range(1, 11))
def test_best_two_of_a_row_minus_prices(m):
    from engine._balance.solvers import _best_two

    rng = np.random.default_rng(300 + m)
    for round_to in (None, 1):  # coarse values: the best value repeated in several columns
        row = rng.standard_normal(m)
        price = rng.random(m)
        if round_to is not None:
            row, price = np.round(row, round_to), np.round(price, round_to)
        values = row - price
        best, second, best_j = _best_two(row, price, np.empty(m))
        ranked = np.sort(values)[::-1]
        assert best == ranked[0]
        assert best_j == np.flatnonzero(values == ranked[0])[0]  # the first of equal bests
        assert second == (ranked[1] if m > 1 else -np.inf)


@pytest.mark.parametrize("seed", range(6))
def test_exact_equals_scipy_on_many_blocks_of_a_cluster(seed):
    """Blocks as the job sees them (users' messages around a shared centre, sides 1-60,
    either orientation), some rounded so that ties are everywhere."""
    rng = np.random.default_rng(400 + seed)
    centre = rng.standard_normal(24)
    for k in range(40):
        n, m = rng.integers(1, 61, 2)
        A = centre + rng.standard_normal(24) * 0.8 + rng.standard_normal((n, 24)) * 1.2
        B = centre + rng.standard_normal(24) * 0.8 + rng.standard_normal((m, 24)) * 1.2
        A /= np.linalg.norm(A, axis=1, keepdims=True)
        B /= np.linalg.norm(B, axis=1, keepdims=True)
        S = A @ B.T
        if k % 4 == 0:
            S = np.round(S, 2)
        total, bound, status = lsap_max(np.ascontiguousarray(oriented(S)))
        assert status == 0 and bound == 0
        assert total == pytest.approx(scipy_total(S), abs=1e-12)
