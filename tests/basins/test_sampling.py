"""Weighted sampling without replacement: no duplicates, inclusion follows the weights."""

import numpy as np

from engine._basins import sampling


def test_weights_formula():
    rt, fav, dt = np.array([0, 3]), np.array([0, 10]), np.array([0.0, 2.0])
    w = sampling.sample_weights(rt, fav, dt, alpha=0.5, lam=0.3)
    want = (1 + np.log(1 + rt + 0.5 * fav)) * np.exp(-0.3 * dt)
    np.testing.assert_allclose(w, want)


def test_without_replacement_and_deterministic():
    w = np.linspace(0.5, 3, 40)
    u = sampling.uniforms(0, 5, 20, 40)
    s = sampling.weighted_samples(u, w, 30)
    assert s.shape == (20, 30)
    assert all(len(np.unique(r)) == 30 for r in s)
    np.testing.assert_array_equal(s, sampling.weighted_samples(sampling.uniforms(0, 5, 20, 40),
                                                               w, 30))


def test_inclusion_matches_successive_weighted_draws():
    # Reference: numpy's choice without replacement with p ∝ w (successive weighted draws).
    w = np.array([1.0, 1.0, 2.0, 4.0, 8.0, 0.5])
    m, runs = 3, 40000
    u = sampling.uniforms(1, 0, runs, len(w))
    ours = np.bincount(sampling.weighted_samples(u, w, m).ravel(), minlength=len(w)) / runs
    rng = np.random.default_rng(9)
    ref = np.zeros(len(w))
    for _ in range(runs):
        ref[rng.choice(len(w), m, replace=False, p=w / w.sum())] += 1
    ref /= runs
    np.testing.assert_allclose(ours, ref, atol=0.015)
    assert np.all(np.diff(ours[[5, 0, 2, 3, 4]]) > 0)  # larger weight, more often included
