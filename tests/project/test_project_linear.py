"""OLS and ridge-CV against scikit-learn (same split, same folds, same alpha grid)."""

import numpy as np
import pytest
from sklearn.linear_model import LinearRegression, Ridge, RidgeCV
from sklearn.model_selection import GridSearchCV

from engine._project import linear, split
from engine._project.metrics import pearson_r, r2
from tests.project.vader import ALPHAS, vader, well_conditioned


def _close(a, b, tol=1e-6):
    np.testing.assert_allclose(a, b, rtol=tol, atol=tol * max(1.0, np.abs(b).max()))


def test_ols_equals_linear_regression_multi_target():
    x, y = well_conditioned()
    w, b = linear.fit_ols(x, y)
    ref = LinearRegression().fit(x, y)
    _close(w, ref.coef_.T)
    _close(b, ref.intercept_)


def test_ols_equals_linear_regression_on_real_tweets():
    # The MiniLM matrix is numerically rank-deficient (tests/data/real/README.md); both leave
    # out the directions below 1e-6 of the largest singular value.
    x, y = vader()
    train, test = split.train_test(len(y), 840, 0)
    w, b = linear.fit_ols(x[train], y[train])
    ref = LinearRegression().fit(x[train], y[train])
    _close(w[:, 0], ref.coef_)
    _close(b[0], ref.intercept_)
    _close(x[test] @ w[:, 0] + b[0], ref.predict(x[test]))
    assert pearson_r(y[test], ref.predict(x[test])) > 0.75


def test_ridge_cv_equals_sklearn_ridgecv_on_real_tweets():
    x, y = vader()
    train, test = split.train_test(len(y), 840, 0)
    folds = split.kfold(len(train), 5, 0)
    w, b, alpha, scores = linear.fit_ridge_cv(x[train], y[train], ALPHAS, folds)
    ref = RidgeCV(alphas=ALPHAS, cv=folds).fit(x[train], y[train])
    assert alpha[0] == ref.alpha_
    _close(w[:, 0], ref.coef_)
    _close(b[0], ref.intercept_)
    assert scores.max() == pytest.approx(ref.best_score_, abs=1e-9)
    r_ours = pearson_r(y[test], x[test] @ w[:, 0] + b[0])
    r_ref = pearson_r(y[test], ref.predict(x[test]))
    assert r_ours == pytest.approx(r_ref, abs=1e-9)
    assert r_ours > 0.8  # the README's ~0.83


def test_cv_scores_equal_grid_search_per_alpha():
    x, y = well_conditioned(300, 10, 1, seed=2)
    y = y[:, 0]
    folds = split.kfold(len(y), 4, 1)
    scores = linear.ridge_cv_scores(x, y, ALPHAS, folds)
    grid = GridSearchCV(Ridge(), {"alpha": ALPHAS}, cv=folds).fit(x, y)
    _close(scores[:, 0], grid.cv_results_["mean_test_score"], 1e-9)


def test_ridge_alpha_per_axis_matches_single_target_fits():
    x, y = well_conditioned(400, 12, 3, seed=3)
    y[:, 2] += np.random.default_rng(0).standard_normal(400) * 40  # a much noisier axis
    folds = split.kfold(len(y), 5, 0)
    w, b, alpha, _ = linear.fit_ridge_cv(x, y, ALPHAS, folds)
    for j in range(3):
        ref = RidgeCV(alphas=ALPHAS, cv=folds).fit(x, y[:, j])
        assert alpha[j] == ref.alpha_
        _close(w[:, j], ref.coef_)
        _close(b[j], ref.intercept_)
    assert alpha[2] > alpha[0]


def test_metrics_match_definitions():
    rng = np.random.default_rng(0)
    y, p = rng.standard_normal(50), rng.standard_normal(50)
    assert pearson_r(y, p) == pytest.approx(np.corrcoef(y, p)[0, 1])
    from sklearn.metrics import r2_score

    assert r2(y, p) == pytest.approx(r2_score(y, p))
    assert np.isnan(pearson_r(y, np.ones(50)))


def test_kfold_partitions_rows():
    folds = split.kfold(23, 5, 0)
    tests = np.concatenate([te for _, te in folds])
    assert sorted(tests.tolist()) == list(range(23))
    for tr, te in folds:
        assert not set(tr) & set(te) and len(tr) + len(te) == 23
    assert all(np.array_equal(a[1], b[1]) for a, b in zip(folds, split.kfold(23, 5, 0),
                                                           strict=True))


@pytest.mark.gpu
@pytest.mark.parametrize("method", ["ols", "ridge", "cca"])
def test_gpu_fit_equals_cpu_fit(gpu, method):
    from engine._project import fit

    x, y = well_conditioned(500, 12, 3, seed=7)
    rows = np.arange(400)
    settings = fit.FitSettings(ALPHAS)
    cpu_map = fit.fit_map(method, x, y, list("abc"), rows, settings)
    gpu_map = fit.fit_map(method, x, y, list("abc"), rows, settings, gpu.xp)
    _close(gpu_map.weights, cpu_map.weights, 1e-8)
    _close(gpu_map.intercept, cpu_map.intercept, 1e-8)


def test_constant_dimension_moves_into_the_intercept():
    from engine._project import fit

    x, y = well_conditioned(300, 6, 1, seed=8)
    x = np.column_stack([x, np.full(300, 0.25)])  # a constant embedding dimension
    rows = np.arange(300)
    for method in ("ols", "ridge", "cca"):
        lmap = fit.fit_map(method, x, y, ["a"], rows, fit.FitSettings(ALPHAS))
        assert lmap.weights[-1, 0] == 0.0
        ref = fit.fit_map(method, x[:, :-1], y, ["a"], rows, fit.FitSettings(ALPHAS))
        _close(lmap.predict(x), ref.predict(x[:, :-1]), 1e-8)
