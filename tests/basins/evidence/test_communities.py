"""Leiden communities of each window's landmark graph: the cells partition the window, the
communities never join separated groups, and planted basins' communities score above the rest
against the null."""

import numpy as np
from sklearn.metrics import roc_auc_score

from engine._basins import evidence
from engine._basins.evidence import communities, metastability
from engine._basins.evidence.regions import Regions
from tests.basins.evidence import planted_regions as pr


def _blobs(seed):
    """Four tight groups far apart, over two 7-day bins."""
    rng = np.random.default_rng(seed)
    centres = np.array([[0, 0], [5, 0], [0, 5], [5, 5]], float)
    group = rng.integers(0, 4, 1200)
    X = centres[group] + rng.normal(0, 0.3, (1200, 2))
    sample = evidence.Sample(X, rng.uniform(0, 14, 1200), np.ones(1200))
    regions = Regions(np.zeros(0, int), np.zeros(0, int), np.zeros((0, 2)), np.zeros(0),
                      np.array([0.0, 7.0]), 7.0)
    return sample, regions, group


def _refines(labels, group):
    """Every community lies within one group (modularity may split a group further)."""
    return all(len(np.unique(group[labels == c])) == 1 for c in np.unique(labels))


def test_leiden_communities_refine_separated_groups_and_partition_the_window():
    sample, regions, group = _blobs(0)
    comm = communities.of_part(sample, regions, 2000, 10, 0)
    assert set(comm.bin.tolist()) == {0}  # the last bin has no next bin to be scored on
    first = sample.days < 7
    assert _refines(comm.labels[0], group[first])
    ks = np.arange(len(comm))
    cell = comm.members(ks, sample.coords[~first])  # rows of the next bin
    assert np.all(cell.sum(0) == 1)  # every row in exactly one community's cell
    assert _refines(comm.basin_id[cell.argmax(0)], group[~first])


def test_landmarks_are_drawn_once_per_key_within_the_window():
    sample, _, _ = _blobs(1)
    rows = metastability.landmark_rows(sample, 0.0, 7.0, 100, [0, 1])
    assert len(rows) == 100 and np.all(sample.days[rows] < 7)
    assert np.array_equal(rows, metastability.landmark_rows(sample, 0.0, 7.0, 100, [0, 1]))


def test_planted_communities_score_above_the_rest_against_the_null(metastability_runs):
    worst = {}
    for seed, (cols, _, _) in metastability_runs.items():
        rows, planted, regions, _ = pr.case(seed)
        sample = evidence.of_rows(rows, 1.0)
        comm = communities.of_part(sample, regions, 2000, 15, seed)  # as evaluate draws them
        mine = cols["part"] == "train" + communities.SUFFIX
        assert set(cols["method"][mine]) == set(metastability.NAMES)
        # Planted: most of the community's cell in the scoring window is planted rows.
        label = np.zeros(len(comm), bool)
        for k in range(len(comm)):
            a, b = comm.window(k)
            now = (sample.days >= a) & (sample.days < b)
            cell = comm.members(np.array([k]), sample.coords[now])[0]
            label[k] = cell.any() and np.mean(planted[now][cell] >= 0) > 0.5
        assert 0.2 < label.mean() < 0.6
        for m in metastability.NAMES:
            k = mine & (cols["method"] == m)
            assert np.array_equal(cols["basin_id"][k], comm.basin_id)
            z = np.nan_to_num(cols["z"][k], nan=-np.inf)
            worst[m] = min(worst.get(m, 1.0), roc_auc_score(label, z))
    # Measured (seeds 0-4, 4 draws; z AUROC): conductance 0.77-0.83, exit time 0.79-0.86,
    # spectral gap 0.81-0.87, Markov stability 0.78-0.93. The raw scores alone do not
    # separate them (conductance, exit time, gap 0.36-0.57): a community's size sets
    # those, and the null's draws at the same cell take it out.
    assert min(worst.values()) >= 0.75, worst
