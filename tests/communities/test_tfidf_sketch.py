"""TF-IDF + CountSketch features against a dense reference written from the formulas."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from engine._communities.features import l2_normalize, make_features, sketch_hashes, tfidf_sketch
from engine.errors import UserError


def _layer(P=200, N=300, density=0.05, seed=0):
    X = sp.random(P, N, density=density, format="csr", random_state=seed, dtype=np.float32)
    X = X.tolil()
    X[7, :] = 0  # an all-zero prompt
    return X.tocsr()


def _dense_reference(layers, rp, seed, weights=None):
    parts = []
    for i, X in enumerate(layers):
        D = X.toarray().astype(np.float64)
        P, N = D.shape
        idf = np.log((P + 1) / ((D != 0).sum(0) + 1)) + 1
        T = D * idf
        nrm = np.linalg.norm(T, axis=1, keepdims=True)
        T = np.where(nrm > 0, T / np.where(nrm > 0, nrm, 1), 0)
        buckets, signs = sketch_hashes(N, rp, seed, i)
        S = np.zeros((N, rp))
        S[np.arange(N), buckets] = signs
        F = T @ S
        nrm = np.linalg.norm(F, axis=1, keepdims=True)
        F = np.where(nrm > 0, F / np.where(nrm > 0, nrm, 1), 0)
        if weights:
            F = F * np.sqrt(weights[i])
        parts.append(F)
    F = np.concatenate(parts, 1)
    nrm = np.linalg.norm(F, axis=1, keepdims=True)
    return np.where(nrm > 0, F / np.where(nrm > 0, nrm, 1), 0)


@pytest.mark.parametrize("weights", [None, [1.0, 4.0]])
def test_tfidf_sketch_matches_dense_reference(weights):
    layers = [_layer(seed=0), _layer(N=150, seed=1)]
    F = tfidf_sketch(layers, rp_dim=16, seed=3, layer_weights=weights, batch_rows=64)
    np.testing.assert_allclose(F, _dense_reference(layers, 16, 3, weights), atol=1e-5)
    assert F.dtype == np.float32 and np.isfinite(F).all()
    assert (F[7] == 0).all()  # all-zero prompt: zero features, no NaN


def test_layer_weights_change_the_features():
    layers = [_layer(seed=0), _layer(seed=1)]
    a = tfidf_sketch(layers, 16, seed=0)
    b = tfidf_sketch(layers, 16, seed=0, layer_weights=[1.0, 9.0])
    assert not np.allclose(a, b)
    # With weight w on layer 2, its block carries w times the squared mass of layer 1's.
    ratio = (b[:, 16:] ** 2).sum(1) / np.maximum((b[:, :16] ** 2).sum(1), 1e-12)
    assert np.median(ratio[(b[:, :16] ** 2).sum(1) > 0]) == pytest.approx(9.0, rel=1e-3)


def test_seeded_hashes():
    layers = [_layer()]
    assert np.array_equal(tfidf_sketch(layers, 8, seed=1), tfidf_sketch(layers, 8, seed=1))
    assert not np.allclose(tfidf_sketch(layers, 8, seed=1), tfidf_sketch(layers, 8, seed=2))


def test_l2_normalize_zero_rows_no_nan():
    X = np.array([[3.0, 4.0], [0.0, 0.0]], np.float32)
    F, norms = l2_normalize(X)
    np.testing.assert_allclose(F, [[0.6, 0.8], [0.0, 0.0]], rtol=1e-6)
    assert norms.tolist() == [5.0, 0.0]


def test_bad_feature_requests():
    with pytest.raises(UserError, match="job.features"):
        make_features("pca", embeddings=np.ones((3, 2)))
    with pytest.raises(UserError, match="activation layers"):
        make_features("tfidf_sketch", embeddings=np.ones((3, 2)))
    with pytest.raises(UserError, match="layer_weights"):
        tfidf_sketch([_layer(), _layer()], 8, layer_weights=[1.0])
