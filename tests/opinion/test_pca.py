"""Sparsity-aware PCA against scikit-learn's PCA of the mean-filled dense matrix."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from sklearn.decomposition import PCA

from engine._opinion.model import scale_votes
from engine._opinion.pca import sparsity_aware_pca
from engine._opinion.votes import build_matrix


def random_votes(n=300, m=40, density=0.3, seed=0):
    rng = np.random.default_rng(seed)
    mask = rng.random((n, m)) < density
    mask[np.arange(n), rng.integers(0, m, n)] = True  # everyone votes at least once
    taste = rng.standard_normal((n, 2)) @ rng.standard_normal((2, m))
    votes = np.where(taste > 0.5, 1, np.where(taste < -0.5, -1, 0))
    rows, cols = np.nonzero(mask)
    return build_matrix(rows.astype(np.int32), cols.astype(np.int32),
                        votes[rows, cols].astype(np.int8), None, np.arange(n), np.arange(m))


def dense_reference(m, moderated):
    """Mean-fill missing votes per statement, zero moderated-out columns, sklearn PCA."""
    n, k = m.shape
    dense = np.full((n, k), np.nan)
    dense[m.voter, m.statement] = m.vote
    means = np.nanmean(dense, axis=0)
    filled = np.where(np.isnan(dense), means[None, :], dense)
    filled[:, moderated] = 0.0
    pca = PCA(2, svd_solver="full").fit(filled)
    n_cast = (~np.isnan(dense)).sum(1) - (~np.isnan(dense[:, moderated])).sum(1) + moderated.sum()
    return pca, pca.transform(filled) * np.sqrt(k / np.maximum(n_cast, 1))[:, None]


def test_matches_sklearn_pca_of_mean_filled_matrix():
    m = random_votes()
    moderated = np.zeros(m.shape[1], bool)
    moderated[[3, 17]] = True
    m.moderated_out = moderated
    ref, ref_proj = dense_reference(m, moderated)
    got = sparsity_aware_pca(m.values, moderated, scale_votes(m.values, moderated))
    # Same components up to sign, same projections up to the same signs.
    signs = np.sign((got.components * ref.components_).sum(1))
    np.testing.assert_allclose(got.components * signs[:, None], ref.components_, atol=1e-7)
    np.testing.assert_allclose(got.projection * signs[None, :], ref_proj, atol=1e-6)
    np.testing.assert_allclose(got.explained_variance_ratio, ref.explained_variance_ratio_,
                               rtol=1e-6)
    assert np.allclose(got.components[:, moderated], 0)


def test_sparse_voter_is_pushed_out_by_the_scaling():
    m = random_votes(seed=2)
    got = sparsity_aware_pca(m.values, m.moderated_out, np.diff(m.values.indptr))
    n_votes = np.diff(m.values.indptr)
    np.testing.assert_allclose(got.scale, np.sqrt(m.shape[1] / n_votes))


def test_never_densifies(monkeypatch):
    m = random_votes(seed=3)
    called = []
    monkeypatch.setattr(sp.csr_matrix, "toarray", lambda *a, **k: called.append(1))
    monkeypatch.setattr(sp.csr_matrix, "todense", lambda *a, **k: called.append(1))
    sparsity_aware_pca(m.values, m.moderated_out, np.diff(m.values.indptr))
    assert not called


def test_deterministic_and_sign_fixed():
    m = random_votes(seed=4)
    a = sparsity_aware_pca(m.values, m.moderated_out, np.diff(m.values.indptr))
    b = sparsity_aware_pca(m.values, m.moderated_out, np.diff(m.values.indptr))
    assert np.array_equal(a.projection, b.projection)
    for comp in a.components:
        assert comp[np.argmax(np.abs(comp))] > 0
    # With a reference, signs follow it.
    c = sparsity_aware_pca(m.values, m.moderated_out, np.diff(m.values.indptr),
                           reference=-a.components)
    np.testing.assert_allclose(c.components, -a.components)
