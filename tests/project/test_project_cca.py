"""CCA against scikit-learn's CCA."""

import numpy as np
import pytest
from sklearn.cross_decomposition import CCA

from engine._project import split
from engine._project.cca import fit_cca
from engine._project.linear import fit_ols
from engine._project.metrics import pearson_r
from tests.project.vader import vader, well_conditioned


def test_single_target_cca_equals_sklearn():
    x, y = well_conditioned(500, 10, 1, seed=4)
    w, b = fit_cca(x, y[:, 0], 1)
    ref = CCA(1).fit(x, y[:, 0])
    np.testing.assert_allclose(w[:, 0], ref.coef_[0], rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(x @ w[:, 0] + b[0], ref.predict(x), rtol=1e-6, atol=1e-9)


def test_single_target_cca_equals_sklearn_on_real_tweets():
    x, y = vader()
    train, test = split.train_test(len(y), 840, 0)
    w, b = fit_cca(x[train], y[train], 1)
    ref = CCA(1).fit(x[train], y[train])
    pred = x[test] @ w[:, 0] + b[0]
    np.testing.assert_allclose(pred, ref.predict(x[test]), rtol=1e-6, atol=1e-6)
    assert pearson_r(y[test], pred) > 0.8


def test_single_target_cca_has_the_ols_direction():
    # The seed's "1-d CCA matched linear regression": same scores up to scale, same r.
    x, y = well_conditioned(500, 10, 1, seed=6)
    w, b = fit_cca(x[:400], y[:400, 0], 1)
    wo, bo = fit_ols(x[:400], y[:400, 0])
    p_cca, p_ols = x[400:] @ w[:, 0], x[400:] @ wo[:, 0]
    assert pearson_r(p_cca, p_ols) == pytest.approx(1.0, abs=1e-12)
    assert pearson_r(y[400:, 0], p_cca) == pytest.approx(pearson_r(y[400:, 0], p_ols), abs=1e-9)


@pytest.mark.parametrize("k", [1, 2, 3])
def test_joint_cca_equals_sklearn(k):
    x, y = well_conditioned(600, 12, 3, seed=5)
    w, b = fit_cca(x, y, k)
    # scikit-learn iterates to a tolerance; tighten it to compare with the exact solution.
    ref = CCA(k, max_iter=20000, tol=1e-15).fit(x, y)
    np.testing.assert_allclose(w, ref.coef_.T, rtol=1e-5, atol=1e-7 * np.abs(w).max())
    np.testing.assert_allclose(x @ w + b, ref.predict(x), rtol=1e-5, atol=1e-6)


def test_too_many_components_is_an_error():
    x, y = well_conditioned(100, 5, 2)
    with pytest.raises(ValueError, match="n_components"):
        fit_cca(x, y, 3)
