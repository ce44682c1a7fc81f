"""Hungarian tracking equals scipy's linear_sum_assignment on the scaled costs; chains."""

import itertools

import numpy as np
from scipy.optimize import linear_sum_assignment

from engine._basins import tracking


def test_ungated_matching_equals_scipy_on_scaled_costs():
    rng = np.random.default_rng(0)
    for _ in range(20):
        ca, cb = rng.normal(size=(5, 2)), rng.normal(size=(6, 2))
        fa, fb = rng.uniform(0.1, 1, 5), rng.uniform(0.1, 1, 6)
        cost = tracking.scaled_cost(ca, fa, cb, fb)
        d = np.sqrt(((ca[:, None] - cb[None]) ** 2).sum(-1))
        np.testing.assert_allclose(cost, d / (fa[:, None] * fb[None]))
        r, c = tracking.gated_assignment(cost, np.inf)
        r0, c0 = linear_sum_assignment(cost)
        np.testing.assert_array_equal(r, r0)
        np.testing.assert_array_equal(c, c0)


def test_gated_matching_is_the_best_allowed_partial_matching():
    rng = np.random.default_rng(1)
    for _ in range(30):
        cost = rng.uniform(0, 2, (4, 4))
        gate = 1.0
        r, c = tracking.gated_assignment(cost, gate)
        assert np.all(cost[r, c] <= gate)
        # Brute force: most allowed pairs, then least total cost.
        best = (0, 0.0)
        for perm in itertools.permutations(range(4)):
            ok = [(i, j) for i, j in enumerate(perm) if cost[i, j] <= gate]
            key = (len(ok), -sum(cost[i, j] for i, j in ok))
            best = max(best, key)
        assert len(r) == best[0]
        assert np.isclose(cost[r, c].sum(), -best[1])


def test_chains_and_reappearance():
    a = np.array([[0.0, 0.0], [10.0, 0.0]])
    centres = [a, a + 0.1, a[:1] + 0.2, a + 0.3]  # cluster 1 misses bin 2
    conf = [np.ones(len(c)) for c in centres]
    tr = tracking.track(centres, conf, gate=1.0, max_gap=1)
    assert [b.tolist() for b in tr.basin] == [[0, 1], [0, 1], [0], [0, 1]]
    assert tr.reappeared[3].tolist() == [False, True]
    assert tr.next_match[1].tolist() == [0, -1]
    no_gap = tracking.track(centres, conf, gate=1.0, max_gap=0)
    assert no_gap.basin[3].tolist() == [0, 2]
