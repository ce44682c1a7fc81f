"""Early detection: logistic fit equals scikit-learn's; sustained labels; precision@k, lift."""

import numpy as np
from sklearn.linear_model import LogisticRegression

from engine._basins import early


def test_logistic_fit_equals_scikit_learn():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 4))
    y = (X @ [1.0, -2.0, 0.5, 0.0] + rng.normal(size=200) > 0).astype(float)
    coef, b = early.fit_logistic(X, y, C=1.0)
    ref = LogisticRegression(C=1.0, tol=1e-10, max_iter=1000).fit(X, y)
    np.testing.assert_allclose(coef, ref.coef_[0], rtol=1e-4, atol=1e-5)
    assert np.isclose(b, ref.intercept_[0], atol=1e-5)


def _table(basin, bins, size):
    n = len(size)
    return {"basin_id": np.asarray(basin), "bin": np.asarray(bins), "size": np.asarray(size),
            "cluster": np.zeros(n, int), "min_size": np.full(n, 5), "n_points": np.full(n, 100),
            "prev_size": np.zeros(n), "expected_next_size": np.zeros(n), "age": np.ones(n),
            "confidence": np.ones(n), "p_cont": np.ones(n), "spread": np.ones(n),
            "popularity": np.ones(n)}


def test_sustained_labels_by_hand():
    # Basin 0: sizes 5, 20, 20, 3 over bins 0-3; basin 1: 5, 20, 3, 20.
    t = _table([0, 0, 0, 0, 1, 1, 1, 1], [0, 1, 2, 3, 0, 1, 2, 3], [5, 20, 20, 3, 5, 20, 3, 20])
    label, known, start = early.sustained(t, n_bins=4, N=2, S=2, T=10)
    assert label.tolist()[:2] == [True, False] and label[4] == False  # noqa: E712
    assert known.tolist() == [True, True, False, False] * 2
    assert start[0] == 1
    label1, _, _ = early.sustained(t, n_bins=4, N=2, S=1, T=10)
    assert label1[4] and label1[5]


def _predictable(n_bins, seed):
    """Per bin, 10 new small clusters; those with odd size grow to 30 for two bins."""
    rng = np.random.default_rng(seed)
    rows = {"basin": [], "bin": [], "size": []}
    bid = 0
    for t in range(n_bins):
        for _ in range(10):
            s0 = int(rng.integers(5, 9))
            rows["basin"] += [bid]
            rows["bin"] += [t]
            rows["size"] += [s0]
            if s0 % 2 and t + 2 < n_bins:
                rows["basin"] += [bid, bid]
                rows["bin"] += [t + 1, t + 2]
                rows["size"] += [30, 30]
            bid += 1
    t = _table(rows["basin"], rows["bin"], rows["size"])
    t["popularity"] = (t["size"] % 2).astype(float)  # the feature that predicts growth
    return t


def test_precision_at_k_and_lift_on_a_predictable_signal():
    t = _predictable(12, 1)
    m, cands = early.evaluate_setting(t, 12, N=2, S=2, T=20, k_frac=0.2)
    assert m["precision_at_k"] == 1.0
    pi = m["prevalence"]
    assert 0 < pi < 1 and np.isclose(m["kappa_lift"], (1.0 - pi) / (1 - pi))
    assert m["mean_lead_bins"] == 1.0
    assert cands["flagged"].sum() == m["n_flagged"]


def test_test_part_scores_from_its_first_bin_with_train_history():
    train, test = _predictable(12, 1), _predictable(4, 2)
    alone, _ = early.evaluate_setting(test, 4, N=2, S=2, T=20, k_frac=0.2)
    assert alone["n_candidates"] == 0  # no test bin has N bins of labelled past of its own
    X, y = early.labelled_candidates(train, 12, N=2, S=2, T=20)
    assert len(y) > 20 and 0 < y.mean() < 1  # train's fledglings of bins 0-9
    m, cands = early.evaluate_setting(test, 4, N=2, S=2, T=20, k_frac=0.2, history=(X, y))
    known_now = early.fledglings(test) & (test["bin"] < 2)  # bins 0, 1: outcome known
    assert m["n_candidates"] == known_now.sum() > 0
    assert m["precision_at_k"] == 1.0 and m["kappa_lift"] == 1.0
