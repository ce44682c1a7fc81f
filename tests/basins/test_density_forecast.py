"""The density forecast: KDE against scipy, mixture weights, forward-chained fitting."""

import numpy as np
from scipy.stats import gaussian_kde, multivariate_normal

from engine._basins import density_forecast as F


def test_kde_matches_scipy():
    rng = np.random.default_rng(0)
    ref = rng.normal(size=(F.MAX_REFERENCE - 100, 3)) * [1.0, 2.0, 0.5]
    x = rng.normal(size=(300, 3))
    got = F.kde_logpdf(ref, x, 0)
    want = np.maximum(gaussian_kde(ref.T).logpdf(x.T), F.FLOOR)
    np.testing.assert_allclose(got, want, atol=1e-9)
    assert F.kde_logpdf(ref[:3], x, 0) is None


def test_component_logpdf_matches_scipy_gaussians():
    rng = np.random.default_rng(1)
    X = np.concatenate([rng.normal(0, 1, (200, 2)), rng.normal(5, 0.5, (100, 2))])
    labels = np.repeat([0, 1], [200, 100])
    x = rng.normal(2, 2, (50, 2))
    got = F.component_logpdf(X, labels, 2, x)
    for k in range(2):
        m = X[labels == k]
        cov = np.cov(m.T) + (1e-4 * np.mean(np.var(X, axis=0)) + 1e-12) * np.eye(2)
        np.testing.assert_allclose(got[:, k], multivariate_normal(m.mean(0), cov).logpdf(x))


def test_step_mixture_is_a_density_and_nests_the_background():
    rng = np.random.default_rng(2)
    comp = rng.normal(-2, 1, (40, 3))
    bg = rng.normal(-3, 0.5, 40)
    step = F.make_step(comp, np.array([0.2, 0.1, 0.3]), np.array([0, 2, 2]), bg, 0.0)
    np.testing.assert_allclose(step.loglik((0, 0, 0)), np.maximum(bg, F.FLOOR))
    rho = (1.0, 0.5, 0.5)
    w = np.array([0.2, 0.05, 0.15])
    want = np.log(np.exp(comp) @ w + (1 - w.sum()) * np.exp(bg))
    np.testing.assert_allclose(step.loglik(rho), want)


def test_fit_rho_prefers_carry_over_when_basins_persist():
    """Arrivals land in the old cluster: rho for old basins rises; for new clusters, whose
    arrivals land in the background, it falls."""
    rng = np.random.default_rng(3)
    history = []
    for _ in range(6):
        n = 300
        in_old = rng.uniform(size=n) < 0.4
        comp = np.stack([np.where(in_old, 0.0, -8.0), np.full(n, -8.0)], 1)  # old, new
        bg = np.full(n, -2.0)
        history.append(F.make_step(comp, np.array([0.3, 0.3]), np.array([2, 0]), bg, 0.0))
    rho = F.fit_rho(history)
    assert rho[2] >= 1.0 and rho[0] == 0.0


def test_run_forecast_uses_only_known_history():
    step = F.make_step(np.zeros((5, 1)), np.array([0.5]), np.array([0]), np.zeros(5), 10.0)
    history = [F.Step(step.log_f, step.s, step.background, known_at=100.0)]
    sums, rhos = F.run_forecast([step], np.array([7.0]), history, 0)
    assert rhos[0] == F.RHO_DEFAULT  # the history step is not known by day 7


def test_stacked_loglik_equals_the_steps_own():
    rng = np.random.default_rng(4)
    steps = [F.make_step(rng.normal(-2, 1, (30, 2)), rng.uniform(0.1, 0.6, 2),
                         np.array([0, 2]), rng.normal(-3, 1, 30), 0.0) for _ in range(3)]
    log_f = np.concatenate([h.log_f for h in steps])
    bg = np.concatenate([h.background for h in steps])
    s = np.concatenate([np.repeat(h.s[None], 30, 0) for h in steps])
    for rho in [(0.5, 0.5, 0.5), (2.0, 0.0, 2.0), (0.0, 0.0, 0.0)]:
        np.testing.assert_allclose(F._stacked_loglik(log_f, bg, s, rho),
                                   np.concatenate([h.loglik(rho) for h in steps]))


def test_targets_are_the_arrivals_within_the_horizon_and_subsample_on_request():
    rng = np.random.default_rng(5)
    days = rng.uniform(0, 70, 4000)
    coords = rng.normal(size=(4000, 2))
    ends = np.array([7.0, 14.0, 63.0, 70.0])
    members = [np.flatnonzero((days >= e - 7) & (days < e)) for e in ends]
    full = F.targets(coords, days, ends, members, 70.0, 7.0, 0, 0)
    for t, e in enumerate(ends[:3]):
        want = np.flatnonzero((days >= e) & (days < e + 7))
        np.testing.assert_array_equal(np.sort(full.arriving[t]), want)
    assert full.arriving[3] is None  # the window runs past the part's end
    few = F.targets(coords, days, ends, members, 70.0, 7.0, 0, 0, max_arrivals=100)
    assert len(few.arriving[0]) == 100 and set(few.arriving[0]) <= set(full.arriving[0])
