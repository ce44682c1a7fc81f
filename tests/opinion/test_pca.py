"""Sparsity-aware PCA against scikit-learn's PCA of the mean-filled dense matrix."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.decomposition import PCA

from engine._opinion.model import scale_votes
from engine._opinion.pca import (
    centred,
    orient,
    power_components,
    sparsity_aware_pca,
    top_components,
)
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


@pytest.mark.parametrize("missing", ["mean", "zero"])
@pytest.mark.parametrize("power_iters", [0, 100])
def test_never_densifies(monkeypatch, missing, power_iters):
    m = random_votes(seed=3)
    called = []
    monkeypatch.setattr(sp.csr_matrix, "toarray", lambda *a, **k: called.append(1))
    monkeypatch.setattr(sp.csr_matrix, "todense", lambda *a, **k: called.append(1))
    sparsity_aware_pca(m.values, m.moderated_out, np.diff(m.values.indptr), missing=missing,
                       power_iters=power_iters)
    assert not called


def zero_filled_reference(m, moderated):
    """Polis before October 2017: missing votes as 0 over the voters with a vote, moderated-out
    columns zeroed, sklearn PCA; the projection sums over cast votes only, as Polis's does."""
    dense = np.zeros(m.shape)
    dense[m.voter, m.statement] = m.vote
    dense[:, moderated] = 0.0
    rows = np.diff(m.values.indptr) > 0
    pca = PCA(2, svd_solver="full").fit(dense[rows])
    cast = np.zeros(m.shape, bool)
    cast[m.voter, m.statement] = True
    centred_cast = np.where(cast, dense - pca.mean_[None, :], 0.0)
    n_cast = cast.sum(1) - cast[:, moderated].sum(1) + moderated.sum()
    proj = centred_cast @ pca.components_.T * np.sqrt(m.shape[1] / np.maximum(n_cast, 1))[:, None]
    return pca, proj


@pytest.mark.parametrize("power_iters", [0, 300])
def test_zero_fill_matches_sklearn_pca_of_the_zero_filled_matrix(power_iters):
    m = random_votes(n=200, m=30, seed=5)
    # Voters without a vote yet (a replay's later voters) are no rows of Polis's matrix.
    m = build_matrix(m.voter, m.statement, m.vote, None, np.arange(230), m.statement_ids)
    moderated = np.zeros(m.shape[1], bool)
    moderated[[4, 11]] = True
    m.moderated_out = moderated
    ref, ref_proj = zero_filled_reference(m, moderated)
    got = sparsity_aware_pca(m.values, moderated, scale_votes(m.values, moderated),
                             missing="zero", power_iters=power_iters)
    np.testing.assert_allclose(got.center, ref.mean_, atol=1e-12)
    signs = np.sign((got.components * ref.components_).sum(1))
    np.testing.assert_allclose(got.components * signs[:, None], ref.components_, atol=1e-6)
    np.testing.assert_allclose(got.projection * signs[None, :], ref_proj, atol=1e-5)
    np.testing.assert_allclose(got.explained_variance_ratio, ref.explained_variance_ratio_,
                               rtol=1e-5)
    assert (got.projection[200:] == 0).all()


def test_zero_fill_separates_voters_by_the_statements_they_saw():
    """Two camps, each half early (statements 0-9) and half late (also 10-14, added later,
    which every late voter agrees with). Mean-filled, the late statements have no spread and
    the map shows the camps only; zero-filled (Polis before October 2017), not having voted
    is a position, and an axis of the map is the voters' arrival."""
    rng = np.random.default_rng(0)
    n = 80
    camp = np.arange(n) % 2
    late = np.arange(n) >= n // 2
    rows, cols, vals = [], [], []
    for v in range(n):
        for s in range(10):
            if rng.random() < 0.9:
                rows.append(v), cols.append(s)
                vals.append(1 if (s < 5) == (camp[v] == 0) else -1)
        for s in range(10, 15) if late[v] else ():
            rows.append(v), cols.append(s), vals.append(1)
    m = build_matrix(np.array(rows, np.int32), np.array(cols, np.int32),
                     np.array(vals, np.int8), None, np.arange(n), np.arange(15))
    n_scale = np.diff(m.values.indptr)

    def best_corr(missing, labels):
        proj = sparsity_aware_pca(m.values, m.moderated_out, n_scale, missing=missing).projection
        return max(abs(np.corrcoef(proj[:, a], labels)[0, 1]) for a in (0, 1))

    assert best_corr("mean", camp) > 0.95 and best_corr("mean", late) < 0.2
    assert best_corr("zero", late) > 0.9


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


def matrix_with_spectrum(singular, m=30, seed=0):
    """A dense matrix (as CSR) with the given singular values and random singular vectors."""
    rng = np.random.default_rng(seed)
    u, _ = np.linalg.qr(rng.standard_normal((60, len(singular))))
    v, _ = np.linalg.qr(rng.standard_normal((m, len(singular))))
    return sp.csr_matrix(u @ np.diag(singular) @ v.T), v.T


def aligned(a, b) -> float:
    return abs(float(np.dot(a, b)) / np.linalg.norm(a) / np.linalg.norm(b))


def test_power_iteration_converges_to_the_svd_when_the_gap_is_wide():
    a, v = matrix_with_spectrum([5.0, 3.0, 1.0])
    comps = power_components(a, 2, iters=100)
    assert aligned(comps[0], v[0]) > 1 - 1e-12 and aligned(comps[1], v[1]) > 1 - 1e-9


def test_power_iteration_depends_on_its_start_when_the_gap_is_small():
    # sigma1 / sigma2 = 1.001: 100 steps shrink the second direction by only 0.82, so the
    # result keeps much of the start; started from the exact components it stays there.
    a, v = matrix_with_spectrum([1.001, 1.0, 0.2])
    from_ones = power_components(a, 2, iters=100)
    assert aligned(from_ones[0], v[0]) < 0.99
    warm = power_components(a, 2, iters=100, start=v[:2])
    assert aligned(warm[0], v[0]) > 1 - 1e-9 and aligned(warm[1], v[1]) > 1 - 1e-9
    # The converged PCA does not depend on where it starts.
    converged, _ = top_components(a, 2)
    assert aligned(converged[0], v[0]) > 1 - 1e-6


def test_new_statements_start_at_one_in_a_warm_power_iteration():
    m = random_votes(seed=5)
    ref = sparsity_aware_pca(m.values, m.moderated_out, np.diff(m.values.indptr),
                             power_iters=100)
    new = np.zeros(m.shape[1], bool)
    new[[2, 9]] = True
    warm = sparsity_aware_pca(m.values, m.moderated_out, np.diff(m.values.indptr),
                              reference=ref.components, power_iters=3, new_statements=new)
    start = ref.components.copy()
    start[:, new] = 1.0
    a, _ = centred(m.values, m.moderated_out)
    expected = orient(power_components(a, 2, iters=3, start=start), ref.components)
    np.testing.assert_allclose(warm.components, expected, atol=1e-12)


def test_statement_projection_is_an_agree_only_voter_as_red_dwarf_and_polis_define_it():
    # red-dwarf's projected_statements: a virtual voter who agrees with one statement and
    # did not vote on the rest, mean-imputed, projected by the fitted PCA and scaled by
    # sqrt(n_statements / 1). Rebuilt here with scikit-learn alone.
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import make_pipeline

    m = random_votes(seed=6)
    n, k = m.shape
    dense = np.full((n, k), np.nan)
    dense[m.voter, m.statement] = m.vote
    pipe = make_pipeline(SimpleImputer(strategy="mean"), PCA(2, svd_solver="full")).fit(dense)
    virtual = np.where(np.eye(k) == 1, 1.0, np.nan)
    expected = pipe.transform(virtual) * np.sqrt(k)
    got = sparsity_aware_pca(m.values, m.moderated_out, np.diff(m.values.indptr))
    signs = np.sign((got.components * pipe[-1].components_).sum(1))
    np.testing.assert_allclose(got.statement_projection() * signs[None, :], expected,
                               atol=1e-6)


def test_projection_is_polis_own_on_the_held_out_conversation():
    # Clojure Polis's base clusters of the held-out conversation are single participants
    # (68 < 100), so their centres are Polis's own projection of each participant: the job's
    # defaults (100 power-iteration steps, sparsity scaling) reproduce it up to each axis's
    # sign, computed once on all votes.
    import json
    from pathlib import Path

    from engine._opinion import model, readers

    folder = Path(__file__).resolve().parents[1] / "data" / "opinion" / "r6vbnhffkxbd7ifmfbdrd-vw"
    blob = json.loads((folder / "math_blob_clusters.json").read_text())
    bc = blob["base-clusters"]
    assert all(len(m) == 1 for m in bc["members"])
    polis = np.c_[bc["x"], bc["y"]]
    m = readers.read_polis_export(folder).matrix
    row = {int(v): i for i, v in enumerate(m.voter_ids)}
    fit, _ = model.fit(m, model.Options())
    ours = fit.pca.projection[[row[p[0]] for p in bc["members"]]]
    sign = np.sign((ours * polis).sum(0))
    np.testing.assert_allclose(ours * sign, polis, atol=1e-6)


def test_an_all_zero_component_is_no_start_polis_starts_it_afresh():
    # Polis's wrapped-pca replaces an all-zero start vector (a component of a run where
    # everyone voted alike) by a fresh start; carried as is, zero would stay zero for good.
    m = random_votes(seed=7)
    fresh = sparsity_aware_pca(m.values, m.moderated_out, np.diff(m.values.indptr),
                               power_iters=100)
    zero = sparsity_aware_pca(m.values, m.moderated_out, np.diff(m.values.indptr),
                              reference=np.zeros((2, m.shape[1])), power_iters=100)
    assert np.abs(zero.components).sum(1).min() > 0
    np.testing.assert_allclose(zero.components, fresh.components, atol=1e-12)
