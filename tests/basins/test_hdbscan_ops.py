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


def test_a_tree_in_cumls_layout_gives_the_per_size_fits():
    # The GPU path hands cuML's tree to the CPU path's condense/extract: rows in cuML's order
    # (by weight), each edge's ends in either order. Each size's clusters must equal
    # fast_hdbscan's own per-size labelling of that tree. Weights are made distinct: at exactly
    # tied weights (points' equal core distances) the hierarchy depends on the order ties are
    # merged in, for any implementation.
    from fast_hdbscan.hdbscan import clusters_from_spanning_tree, compute_minimum_spanning_tree

    from engine._basins.hdbscan_ops import labels_from_spanning_tree

    rng = np.random.default_rng(4)
    centres = rng.uniform(-10, 10, (5, 3))
    X = np.concatenate([c + 0.5 * rng.normal(size=(s, 3))  # blobs for every size below
                        for c, s in zip(centres, (15, 40, 120, 400, 900), strict=True)]
                       + [rng.uniform(-12, 12, (300, 3))])
    mst = compute_minimum_spanning_tree(X, min_samples=8)[0]
    mst[:, 2] += 1e-9 * rng.permutation(len(mst))
    cuml_layout = mst[rng.permutation(len(mst))]
    flip = rng.random(len(mst)) < 0.5
    cuml_layout[flip, :2] = cuml_layout[flip, 1::-1]
    cuml_layout = cuml_layout[np.argsort(cuml_layout[:, 2], kind="stable")]
    sizes = [2, 8, 30, 100, 300, 600]
    outcomes = set()
    for size, lab in zip(sizes, labels_from_spanning_tree(cuml_layout, sizes), strict=True):
        ref = clusters_from_spanning_tree(mst, min_cluster_size=size)[0]
        # The same clusters and noise; cluster numbers follow the order edges are merged in.
        np.testing.assert_array_equal(lab == -1, ref == -1)
        pairs = set(zip(lab[lab >= 0].tolist(), ref[ref >= 0].tolist(), strict=True))
        assert len(pairs) == len(set(lab) - {-1}) == len(set(ref) - {-1})
        outcomes.add((len(set(lab) - {-1}), int((lab == -1).sum())))
    assert len(outcomes) == len(sizes)  # the sizes really select different clusterings


def test_degenerate_inputs_give_noise(cpu):
    assert (hdbscan_labels(cpu, np.ones((50, 2)), 10, [5])[0] == -1).all()
    assert (hdbscan_labels(cpu, np.random.default_rng(0).normal(size=(8, 2)), 10, [5])[0]
            == -1).all()


@pytest.mark.gpu
def test_gpu_labels_match_cpu(gpu, cpu, blobs):
    sizes = [10, 15, 40]
    for ours, ref in zip(hdbscan_labels(gpu, blobs, 10, sizes), hdbscan_labels(cpu, blobs, 10, sizes),
                         strict=True):
        assert adjusted_rand_score(ref, ours) > 0.9


@pytest.mark.gpu
def test_gpu_tree_is_the_cpu_tree(gpu, blobs):
    # One cuML fit's spanning tree: the same total weight as fast_hdbscan's (float32 distances).
    from fast_hdbscan.hdbscan import compute_minimum_spanning_tree

    from engine._basins.hdbscan_ops import spanning_tree_gpu

    tree = spanning_tree_gpu(blobs, 10)
    ref = compute_minimum_spanning_tree(blobs, min_samples=10)[0]
    assert tree.shape == ref.shape
    assert tree[:, 2].sum() == pytest.approx(ref[:, 2].sum(), rel=1e-5)
