"""AUROC, Brier and log loss equal scikit-learn's; persistence baselines."""

import numpy as np
from sklearn.metrics import brier_score_loss, log_loss, roc_auc_score

from engine._basins import evaluate


def test_scores_equal_scikit_learn():
    rng = np.random.default_rng(0)
    y = rng.random(300) < 0.7
    p = np.round(np.clip(0.3 * y + rng.random(300) * 0.7, 0.01, 0.99), 2)  # ties included
    assert np.isclose(evaluate.auroc(y, p), roc_auc_score(y, p))
    assert np.isclose(evaluate.brier(y, p), brier_score_loss(y, p))
    assert np.isclose(evaluate.log_loss(y, p), log_loss(y, p))
    assert np.isnan(evaluate.auroc(np.ones(5, bool), p[:5]))


def test_continuation_metrics_and_baselines():
    bins = np.array([0, 0, 1, 1, 2, 2])
    size = np.array([10, 20, 15, 30, 5, 8.0])
    prev = np.array([0, 10, 10, 20, 15, 0.0])
    p = np.array([0.9, 0.8, 0.2, 0.7, 0.4, 0.6])
    cont = np.array([1, 1, 0, 1, 0, 1], bool)
    exp = np.array([12, 18, 3, 25, 2, 9.0])
    nxt = np.array([11, 25, 0, 28, 0, 10.0])
    m = evaluate.continuation_metrics(bins, size, prev, p, cont, exp, nxt)
    assert np.isclose(m["size_mae"], np.mean(np.abs(exp - nxt)))
    assert np.isclose(m["baseline_persistence_size_mae"], np.mean(np.abs(size - nxt)))
    assert np.isclose(m["size_mae_skill"], 1 - m["size_mae"] / m["baseline_persistence_size_mae"])
    grow = nxt > size
    assert np.isclose(m["direction_accuracy"], np.mean(grow == (exp > size)))
    # Climatology is forward-chained: bin 0 has no history (0.5), bin 1 sees bin 0 only.
    clim = evaluate.climatology(bins, cont.astype(float))
    np.testing.assert_allclose(clim, [0.5, 0.5, 1.0, 1.0, 0.75, 0.75])
    assert m["n_scored"] == 6
