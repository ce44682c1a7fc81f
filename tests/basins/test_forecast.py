"""Soft next-bin matching: probabilities with the null option sum to 1; formula."""

import numpy as np

from engine._basins import forecast


def test_probabilities_sum_to_one_and_match_formula():
    rng = np.random.default_rng(0)
    ca, cb = rng.normal(size=(5, 3)), rng.normal(size=(7, 3))
    conf_a, conf_b = rng.uniform(0.2, 1, 5), rng.uniform(0.2, 1, 7)
    sizes = rng.integers(5, 100, 7)
    p, p_null = forecast.soft_match(ca, conf_a, cb, conf_b, sizes, gamma=1.0)
    np.testing.assert_allclose(p.sum(1) + p_null, 1.0)
    d = np.sqrt(((ca[:, None] - cb[None]) ** 2).sum(-1))
    tau = np.median(d)
    s = np.exp(-d / tau) * conf_a[:, None] * conf_b[None] * (sizes / sizes.mean())[None]
    np.testing.assert_allclose(p, s / (np.exp(-1) + s.sum(1, keepdims=True)))
    np.testing.assert_allclose(forecast.expected_next_size(p, sizes), p @ sizes)
    p2, n2 = forecast.soft_match(ca, conf_a, cb, conf_b, sizes, tau=0.5, gamma=2.0,
                                 use_prior=False)
    np.testing.assert_allclose(p2.sum(1) + n2, 1.0)


def test_no_next_clusters_means_certain_death():
    p, p_null = forecast.soft_match(np.zeros((2, 2)), np.ones(2), np.zeros((0, 2)),
                                    np.zeros(0), np.zeros(0))
    assert p.shape == (2, 0) and np.all(p_null == 1)


def test_fitted_softmatch_uses_only_the_past_and_fits_it():
    rng = np.random.default_rng(1)
    history, outcomes = [], []
    for _ in range(6):
        ca = rng.normal(size=(6, 2)) * 3
        keep = rng.random(6) < 0.6
        cb = np.concatenate([ca[keep] + 0.05 * rng.normal(size=(keep.sum(), 2)),
                             rng.normal(size=(2, 2)) * 3])
        history.append((ca, np.ones(6), cb, np.ones(len(cb)), np.full(len(cb), 10)))
        outcomes.append(keep.astype(float))
    default = (1.0, 1.0)
    assert forecast.fit_softmatch([], [], True, default) == default
    scale, gamma = forecast.fit_softmatch(history, outcomes, True, default)
    y = np.concatenate(outcomes)

    def loss(sc, g):
        p = np.concatenate([forecast.p_cont_of(h, sc, g, True) for h in history])
        return -np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))

    # The fit is the grid's best, and sharper than the default median temperature here.
    assert all(loss(scale, gamma) <= loss(s, g) + 1e-12
               for s in forecast.TAU_SCALES for g in forecast.GAMMAS)
    assert scale < 1.0 and loss(scale, gamma) < loss(*default)
