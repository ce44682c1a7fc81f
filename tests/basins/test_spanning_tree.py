"""Spanning trees from one bin-level kNN query equal fast_hdbscan's per-sample trees."""

import numpy as np
import pytest

from engine._basins import sampling
from engine._basins.spanning_tree import bin_neighbours, sample_neighbours, sample_spanning_tree


@pytest.fixture(scope="module")
def bin_points():
    rng = np.random.default_rng(5)
    centres = rng.uniform(-5, 5, (6, 3))
    X = np.concatenate([c + rng.gamma(1, 0.3) * rng.normal(size=(300, 3)) for c in centres])
    return np.concatenate([X, rng.uniform(-6, 6, (200, 3))])


def _samples(n, frac, seed, skew=0.0):
    # Weighted like the job's samples; `skew` makes some points rarely sampled.
    w = 1.0 + skew * np.random.default_rng(seed).exponential(size=n)
    u = sampling.uniforms(seed, 1, 6, n)
    return sampling.weighted_samples(u, w, sampling.sample_size(n, frac))


@pytest.mark.parametrize(("frac", "k", "skew"), [(0.8, 32, 0.0), (0.5, 14, 3.0), (0.3, 12, 0.0)])
def test_derived_core_distances_equal_a_direct_query(bin_points, frac, k, skew):
    # Small k and sample fractions force the fallback query for many points.
    from fast_hdbscan.numba_kdtree import build_kdtree, parallel_tree_query

    rd, nb = bin_neighbours(bin_points, k)
    for idx in _samples(len(bin_points), frac, 1, skew):
        tree = build_kdtree(bin_points[idx])
        d, i = sample_neighbours(tree, rd, nb, idx, len(bin_points), 11)
        ref_d, ref_i = parallel_tree_query(tree, tree.data, k=11, output_rdist=True)
        # The fallback query runs the specialization fast_hdbscan's parallel_boruvka compiles
        # at import (float32 distances); the reference here may get a float64 one, so the
        # squared distances agree to float32 rounding, not bit for bit.
        np.testing.assert_allclose(d, ref_d, rtol=1e-6, atol=1e-12)
        np.testing.assert_array_equal(i[:, 1:], ref_i[:, 1:])  # no exact ties in this data


@pytest.mark.parametrize("min_samples", [5, 10])
def test_spanning_tree_equals_fast_hdbscan(bin_points, min_samples):
    # On one thread fast_hdbscan's Boruvka is deterministic; on several, equal-weight edges
    # (common: many mutual-reachability weights are some point's core distance) may be
    # picked in another order, which changes the tree but not its weights or the clusters.
    from fast_hdbscan.hdbscan import compute_minimum_spanning_tree

    from engine._basins.hdbscan_ops import _numba_threads

    rd, nb = bin_neighbours(bin_points, 24)
    with _numba_threads(1):
        for idx in _samples(len(bin_points), 0.6, 2, 2.0):
            ref = compute_minimum_spanning_tree(bin_points[idx], min_samples=min_samples)[0]
            got = sample_spanning_tree(bin_points, rd, nb, idx, min_samples)
            # The same edges; the weights to float32 rounding: which Numba specialization
            # (float32 or float64) serves fast_hdbscan's callees depends on what the process
            # compiled first, and has differed between runs of the suite by 1.7e-7.
            np.testing.assert_array_equal(got[:, :2], ref[:, :2])
            np.testing.assert_allclose(got[:, 2], ref[:, 2], rtol=1e-6, atol=0)


def test_bin_labels_equal_per_sample_labels(cpu, bin_points):
    from engine._basins.hdbscan_ops import labels_cpu, labels_cpu_samples

    samples = _samples(len(bin_points), 0.8, 3)
    sizes = [10, 40]
    for idx, by_size in zip(samples, labels_cpu_samples(bin_points, samples, 10, sizes),
                            strict=True):
        for lab, ref in zip(by_size, labels_cpu(bin_points[idx], 10, sizes), strict=True):
            np.testing.assert_array_equal(lab, ref)
