"""HDBSCAN labels: same min_samples semantics as the hdbscan library; shared spanning tree."""

import numpy as np
import pytest
from sklearn.metrics import adjusted_rand_score

from engine._basins.hdbscan_ops import hdbscan_labels


@pytest.fixture(scope="module")
def blobs():
    rng = np.random.default_rng(0)
    centres = np.array([[0, 0, 0], [4, 0, 0], [0, 4, 0], [0, 0, 4]])
    X = np.concatenate([c + 0.4 * rng.normal(size=(s, 3)) for c, s in zip(centres, (80, 50, 30, 20),
                                                                          strict=True)])
    return np.concatenate([X, rng.uniform(-2, 6, (30, 3))])


def test_labels_agree_with_hdbscan_library(cpu, blobs):
    import hdbscan

    for min_samples in (5, 10):
        ours = hdbscan_labels(cpu, blobs, min_samples, [15])[0]
        ref = hdbscan.HDBSCAN(min_cluster_size=15, min_samples=min_samples).fit(blobs).labels_
        assert adjusted_rand_score(ref, ours) > 0.95
        assert len(set(ours) - {-1}) == len(set(ref) - {-1})


def test_several_sizes_equal_separate_runs(cpu, blobs):
    import fast_hdbscan

    sizes = [10, 25, 60]
    shared = hdbscan_labels(cpu, blobs, 10, sizes)
    for size, lab in zip(sizes, shared, strict=True):
        ref = fast_hdbscan.HDBSCAN(min_cluster_size=size, min_samples=10).fit(blobs).labels_
        np.testing.assert_array_equal(lab, ref)


def test_shared_hierarchy_equals_the_library_per_size():
    from fast_hdbscan.hdbscan import clusters_from_spanning_tree, compute_minimum_spanning_tree

    from engine._basins.hdbscan_ops import labels_from_spanning_tree

    rng = np.random.default_rng(3)
    X = np.concatenate([rng.normal(size=(1500, 3)), 0.3 * rng.normal(size=(300, 3)) + 2])
    mst = compute_minimum_spanning_tree(X, min_samples=10)[0]
    sizes = [2, 10, 40, 150]
    for size, lab in zip(sizes, labels_from_spanning_tree(mst, sizes), strict=True):
        ref = clusters_from_spanning_tree(mst, min_cluster_size=size)[0]
        np.testing.assert_array_equal(lab, ref)


def test_degenerate_inputs_give_noise(cpu):
    assert (hdbscan_labels(cpu, np.ones((50, 2)), 10, [5])[0] == -1).all()
    assert (hdbscan_labels(cpu, np.random.default_rng(0).normal(size=(8, 2)), 10, [5])[0]
            == -1).all()


@pytest.mark.gpu
def test_gpu_labels_match_cpu(gpu, cpu, blobs):
    ours = hdbscan_labels(gpu, blobs, 10, [15])[0]
    ref = hdbscan_labels(cpu, blobs, 10, [15])[0]
    assert adjusted_rand_score(ref, ours) > 0.9
