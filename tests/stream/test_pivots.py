"""Pivot bounds: they never rule out a centroid that could take the message, and they rule out
almost every other one on topic-shaped data."""

from __future__ import annotations

import numpy as np
import pytest

from engine._stream.exact import normalise_rows
from engine._stream.online import OnlineClustering
from engine._stream.pivot_pass import QSCALE, distances_to_rows, quantise_up
from engine._stream.pivots import PivotIndex, gram_error
from engine.backend import cpu_backend
from tests.stream.reference import ref_sum
from tests.stream.test_online import run_both, topic_stream


def unit(rng, n, d):
    X = rng.standard_normal((n, d))
    out = np.empty(X.shape)
    assert normalise_rows(X, out) == -1
    return out


def test_pivot_bound_holds_for_every_centroid_after_drift():
    rng = np.random.default_rng(0)
    d, K = 48, 300
    C = unit(rng, K, d)
    C[1:60] = C[0] + 0.3 * C[1:60]  # a tight group: large H[a, j], the bound's hard case
    C[1:60] /= np.linalg.norm(C[1:60], axis=1, keepdims=True)
    index = PivotIndex(d, max_drift=0.25)
    index.refresh(C, np.arange(K), K)
    # The centroids drift after their copies were taken; delta must follow.
    moved = C + 0.05 * rng.standard_normal(C.shape)
    moved /= np.linalg.norm(moved, axis=1, keepdims=True)
    delta = distances_to_rows(moved, index.E, np.arange(K))
    X = np.vstack([C[:60] + 0.2 * unit(rng, 60, d), unit(rng, 40, d)])
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    X32 = X.astype(np.float32)
    ids, rho = index.search(X, X32, -10.0, 0.78)
    assert np.array_equal(rho, index.rho(X, ids))
    exact = ref_sum(X[:, None, :] * moved[None, :, :])  # x . c_j, fixed order
    bound = index.Hq[ids][:, :K] / QSCALE + index.err_h + rho[:, None] * (1 + 1e-6) + delta
    assert np.all(exact <= bound)
    # Tight where it matters: for messages near a centroid most of the others are ruled out.
    near = rho[:60] < 0.5
    assert near.sum() > 40 and np.mean(bound[:60][near] < 0.78) > 0.6


def test_gram_error_bounds_float32_products():
    rng = np.random.default_rng(1)
    for d in (8, 384):
        E = unit(rng, 200, d).astype(np.float32)
        got = E @ E.T
        exact = E.astype(np.float64) @ E.T.astype(np.float64)
        err = np.abs(got - exact).max()
        assert err <= gram_error(d) and err > gram_error(d) / 1e4


@pytest.mark.parametrize("threads", [1, 2])
def test_refreshed_gram_rows_and_columns_bound_the_copies_products(threads):
    """After refreshes (new and retaken copies, the columns split over two threads or
    not), Hq bounds every product of two current copies from above, within one step."""
    from concurrent.futures import ThreadPoolExecutor

    rng = np.random.default_rng(4)
    d, K = 48, 2600  # past 2048 copies the products are split too
    C = unit(rng, K, d)
    index = PivotIndex(d)
    with ThreadPoolExecutor(1) as worker:
        pool = worker if threads == 2 else None
        index.refresh(C, np.arange(2000), 2000, pool)
        C[rng.choice(2000, 300, replace=False)] = unit(rng, 300, d)
        retaken = np.r_[rng.choice(2000, 300, replace=False), np.arange(2000, K)]
        index.refresh(C, np.sort(retaken), K, pool)
    E = index.E[:K].astype(np.float64)
    gram = E @ E.T  # float64: its error is far below a step of Hq
    H = index.Hq[:K, :K] / QSCALE
    assert np.all(H + index.err_h >= gram)
    assert np.all(H - 1 / QSCALE - index.err_h <= gram)


@pytest.mark.parametrize("threads", [1, 2])
def test_new_copies_gram_rows_given_by_their_far_rows_keep_the_bounds(threads):
    """New copies whose products with the old copies are known (their creators' far rows)
    are multiplied only with the copies retaken in the same refresh: Hq still bounds every
    product of two current copies, within one step, retaken ones included."""
    from concurrent.futures import ThreadPoolExecutor

    rng = np.random.default_rng(7)
    d, K0, K = 48, 2000, 2600
    C = unit(rng, K, d)
    index = PivotIndex(d)
    with ThreadPoolExecutor(1) as worker:
        pool = worker if threads == 2 else None
        index.refresh(C, np.arange(K0), K0, pool)
        new = np.arange(K0, K)
        ids = new[::2]
        known = ids, C[ids].astype(np.float32) @ index.E[:K0].T  # before any copy changes
        retaken = rng.choice(K0, 300, replace=False)
        C[retaken] = unit(rng, 300, d)
        index.refresh(C, np.sort(np.r_[retaken, new]), K, pool, known=known)
    E = index.E[:K].astype(np.float64)
    gram = E @ E.T
    H = index.Hq[:K, :K] / QSCALE
    assert np.all(H + index.err_h >= gram)
    assert np.all(H - 1 / QSCALE - index.err_h <= gram)


def test_copies_of_a_shifted_stream_crowding_one_list_trigger_a_rebuild():
    """New copies orthogonal to the principal axes the lists were built on all project near
    the origin, so they would all join one list (slow to search, and wide storage for every
    list); the index rebuilds its lists instead, and still finds them."""
    from engine._stream.pivot_search import CROWDED_FILL, PCA_MIN_ROWS

    rng = np.random.default_rng(9)
    d, K0, new = 96, PCA_MIN_ROWS + 100, 700  # K0 + new < 2 K0: no rebuild for doubling
    C = unit(rng, K0 + new, d)
    index = PivotIndex(d, pca_dim=16)
    index.refresh(C, np.arange(K0), K0)
    f = index.finder
    axes = f.axes.astype(np.float64)
    C[K0:] -= (C[K0:] @ axes) @ axes.T  # nothing along the trained axes
    C[K0:] /= np.linalg.norm(C[K0:], axis=1, keepdims=True)
    index.refresh(C, np.arange(K0, K0 + new), K0 + new)
    assert f.trained_at == K0 + new  # rebuilt over all copies
    assert f.fill.max() <= CROWDED_FILL * f.list_size
    assert f.vectors.shape[1] <= CROWDED_FILL * f.list_size  # no list storage widened for them
    X = C[K0:] + 0.2 / np.sqrt(d) * rng.standard_normal((new, d))
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    ids, rho = index.search(X, X.astype(np.float32), 0.1, 0.78)
    assert np.mean(ids == np.arange(K0, K0 + new)) > 0.95


def test_quantised_bounds_round_up():
    for v in (0.0, 1e-12, 0.1, 1 / QSCALE, 0.2499, 1.0, 2.0):
        q = quantise_up(v)
        assert q / QSCALE >= v and (q - 1) / QSCALE < v + 1e-8


def test_pivot_screen_prunes_and_equals_the_dense_screen():
    rng = np.random.default_rng(2)
    emb, times, _ = topic_stream(rng, 6000, 64, 400, 0.05)
    dense = OnlineClustering(cpu_backend(), 64, batch_size=256, screen_kind="float32")
    pivot = OnlineClustering(cpu_backend(), 64, batch_size=256, screen_kind="pivot",
                             pivot_min_clusters=50)
    a, b = dense.assign(emb, times), pivot.assign(emb, times)
    np.testing.assert_array_equal(a.cluster, b.cluster)
    np.testing.assert_array_equal(a.confidence, b.confidence)
    assert np.array_equal(dense.centroids.vectors, pivot.centroids.vectors)
    assert pivot.pivots is not None and pivot.pivots.size == pivot.centroids.size
    assert pivot.exact_checks < 1.2 * len(emb)  # about one exact check per message


def test_falls_back_to_dense_screening_past_the_cluster_limit(cpu):
    rng = np.random.default_rng(3)
    emb = rng.standard_normal((900, 24)).astype(np.float32)  # nearly all new clusters
    got, oc = run_both(cpu, emb, np.zeros(900, np.int64), 64, screen="pivot")
    assert oc.pivots is not None
    limited = OnlineClustering(cpu, 24, batch_size=64, screen_kind="pivot",
                               pivot_min_clusters=10, pivot_max_clusters=300)
    again = limited.assign(emb, np.zeros(900, np.int64))
    np.testing.assert_array_equal(again.cluster, got.cluster)
    assert limited.pivots is None and limited.screen.kind == "float32"


def test_pivots_found_through_the_pca_projection_keep_the_result():
    """Past PCA_MIN_ROWS copies the pivot search runs on a PCA projection; any pivot is
    valid, so the assignments stay those of the dense screen."""
    from engine._stream.pivot_search import PCA_MIN_ROWS

    rng = np.random.default_rng(4)
    emb, times, _ = topic_stream(rng, 5000, 128, PCA_MIN_ROWS + 300, 0.03)
    dense = OnlineClustering(cpu_backend(), 128, batch_size=512, screen_kind="float32")
    pivot = OnlineClustering(cpu_backend(), 128, batch_size=512, screen_kind="pivot",
                             pivot_min_clusters=PCA_MIN_ROWS)
    a, b = dense.assign(emb, times), pivot.assign(emb, times)
    np.testing.assert_array_equal(a.cluster, b.cluster)
    np.testing.assert_array_equal(a.confidence, b.confidence)
    index = pivot.pivots
    assert index is not None and index.finder.axes is not None  # the projected search
    assert pivot.exact_checks < 1.2 * len(emb)


def test_zero_vector_in_a_batch_prepared_ahead_names_its_row():
    """Batches after the first are prepared on the worker thread: the error still names the
    first bad row of the stream."""
    from engine._stream.online import ZeroVectorError

    rng = np.random.default_rng(5)
    emb, times, _ = topic_stream(rng, 3000, 32, 200, 0.05)
    emb[2345] = 0.0
    emb[2900] = np.nan
    oc = OnlineClustering(cpu_backend(), 32, batch_size=256, screen_kind="pivot",
                          pivot_min_clusters=50)
    with pytest.raises(ZeroVectorError, match="row 2345"):
        oc.assign(emb, times)
    assert oc.pivots is not None  # the pivot screen (and its worker) was running


def test_retaken_pivots_and_late_far_rows_keep_the_result():
    """max_drift 0 retakes every moved centroid's copy after each batch, so the rho of many
    prepared rows is re-measured and some turn far only then (their dense rows are added
    late); min_reach puts many rows near that boundary. Still the dense screen's result."""
    rng = np.random.default_rng(6)
    emb, times, _ = topic_stream(rng, 4000, 48, 300, 0.09)
    dense = OnlineClustering(cpu_backend(), 48, batch_size=200, screen_kind="float32")
    pivot = OnlineClustering(cpu_backend(), 48, batch_size=200, screen_kind="pivot",
                             pivot_min_clusters=100, pivot_max_drift=0.0, pivot_min_reach=0.2)
    a, b = dense.assign(emb, times), pivot.assign(emb, times)
    np.testing.assert_array_equal(a.cluster, b.cluster)
    np.testing.assert_array_equal(a.confidence, b.confidence)
    assert np.array_equal(dense.centroids.vectors, pivot.centroids.vectors)
    assert pivot.late_far_rows > 0
    assert pivot.known_gram_rows > 0  # new clusters' Gram rows from their far rows
