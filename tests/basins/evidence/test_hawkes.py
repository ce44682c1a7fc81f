"""Hawkes EM recovers the parameters of simulated Hawkes data. (Not tested on planted
basins: measured there it does not separate them yet, see engine._basins.evidence.hawkes.)"""

import numpy as np
import pytest

from engine._basins.evidence import hawkes


def simulate(mu, alpha, beta, T, rng):
    """A multivariate Hawkes process by its branching structure: immigrants, then each
    event's Poisson(alpha[k, l]) children in k after Exp(beta) delays."""
    K = len(mu)
    gen = [(t, k) for k in range(K) for t in rng.uniform(0, T, rng.poisson(mu[k] * T))]
    events = []
    while gen:
        events += gen
        new = []
        for t, parent in gen:
            for k in range(K):
                for s in t + rng.exponential(1 / beta, rng.poisson(alpha[k, parent])):
                    if s < T:
                        new.append((s, k))
        gen = new
    events.sort()
    return np.array([e[0] for e in events]), np.array([e[1] for e in events])


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_em_recovers_simulated_parameters(seed):
    mu, alpha, beta = np.array([0.5, 0.3]), np.array([[0.5, 0.1], [0.0, 0.3]]), 2.0
    t, m = simulate(mu, alpha, beta, 3000.0, np.random.default_rng(seed))
    mu_hat, alpha_hat = hawkes.fit_em(t, m, 2, 0.0, 3000.0, beta)
    assert np.allclose(mu_hat, mu, rtol=0.15)
    assert np.allclose(alpha_hat, alpha, atol=0.06)


def test_pairs_are_every_earlier_event_within_the_horizon():
    t = np.sort(np.random.default_rng(0).uniform(0, 20, 60))
    i, j, k = hawkes.pairs(t, 1.0)
    brute = {(a, b) for a in range(60) for b in range(a) if t[a] - t[b] <= hawkes.HORIZON}
    assert set(zip(i.tolist(), j.tolist(), strict=True)) == brute
    assert np.allclose(k, np.exp(-(t[i] - t[j])))
