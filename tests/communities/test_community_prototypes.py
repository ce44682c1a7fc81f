"""Prototypes and top neurons against dense NumPy computations."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from engine._communities.prototypes import layer_prototypes, top_neurons
from engine.errors import UserError


def _data(seed=0):
    X = sp.random(120, 40, density=0.2, format="csr", random_state=seed)
    labels = np.random.default_rng(seed).integers(0, 5, 120)
    return X, labels


@pytest.mark.parametrize("zscore", [False, True])
def test_prototypes_equal_dense_means(zscore):
    X, labels = _data()
    D = X.toarray()
    if zscore:
        sd = D.std(0)
        D = np.where(sd > 0, (D - D.mean(0)) / np.where(sd > 0, sd, 1), 0)
    ref = np.stack([D[labels == c].mean(0) for c in range(5)])
    np.testing.assert_allclose(layer_prototypes(X, labels, zscore), ref, atol=1e-5)


@pytest.mark.parametrize("baseline", ["global", "others"])
def test_top_neurons_rank_by_score(baseline):
    X, labels = _data(1)
    proto = layer_prototypes(X, labels)
    idx, score = top_neurons(proto, 7, baseline)
    for c in range(5):
        others = np.delete(proto, c, 0).mean(0) if baseline == "others" else proto.mean(0)
        s = proto[c] - others
        np.testing.assert_allclose(score[c], np.sort(s)[::-1][:7], atol=1e-5)
        np.testing.assert_allclose(s[idx[c]], score[c], atol=1e-5)


def test_bad_baseline():
    with pytest.raises(UserError, match="baseline"):
        top_neurons(np.ones((2, 3), np.float32), 2, "median")
