"""Polis's k-means starts on small constructed conversations: first-k-distinct in row order,
cluster ids, and the carry-over of memberships between recomputations."""

from __future__ import annotations

import numpy as np

from engine._opinion import carryover, kmeans

# Three voters on a line: A at 0, B at 4, C at 10. k = 2 has two local optima.
A, B, C = [0.0, 0.0], [4.0, 0.0], [10.0, 0.0]


def partition(labels) -> set[frozenset[int]]:
    return {frozenset(np.flatnonzero(labels == g).tolist()) for g in np.unique(labels)}


def test_row_order_decides_the_first_k_distinct_start_and_the_partition():
    # Rows A, B, C: starts at A and B; C joins B -> {A}, {B, C}.
    forward = kmeans.run(np.array([A, B, C]), 2)
    assert partition(forward.labels) == {frozenset({0}), frozenset({1, 2})}
    # The same voters as rows C, B, A: starts at C and B; A joins B -> {C}, {B, A}.
    backward = kmeans.run(np.array([C, B, A]), 2)
    assert partition(backward.labels) == {frozenset({0}), frozenset({1, 2})}
    # In voter terms the two orders disagree: {A},{B,C} against {A,B},{C}.
    assert forward.labels[1] == forward.labels[2] and backward.labels[1] == backward.labels[2]


def test_first_k_distinct_skips_repeated_rows_and_numbers_ids_from_zero():
    x = np.array([A, A, B, A, C])
    ids, start = carryover.fresh_start(x, 3)
    assert ids.tolist() == [0, 1, 2]
    assert start.tolist() == [A, B, C]


def test_carried_memberships_keep_a_partition_a_fresh_start_would_not_find():
    x = np.array([A, B, C])
    names = np.array([10, 11, 12])
    # Last run: A and B together (id 4), C alone (id 7).
    last = carryover.Memberships(np.array([4, 7]), names, np.array([4, 4, 7]))
    warm = kmeans.run(x, 2, names=names, last=last)
    assert partition(warm.labels) == {frozenset({0, 1}), frozenset({2})}
    assert warm.ids.tolist() == [4, 7]  # the ids travel with their members
    assert warm.ids[warm.labels].tolist() == [4, 4, 7]
    fresh = kmeans.run(x, 2)
    assert partition(fresh.labels) == {frozenset({0}), frozenset({1, 2})}


def test_carried_start_drops_absent_clusters_and_splits_off_the_most_distal_point():
    # Voters named 0..4; the last run had cluster 2 = {0, 1}, cluster 5 = {9} (gone now).
    x = np.array([[0.0, 0.0], [1.0, 0.0], [2.0, 0.0], [8.0, 0.0], [20.0, 0.0]])
    names = np.arange(5)
    last = carryover.Memberships(np.array([2, 5]), np.array([0, 1, 9]), np.array([2, 2, 5]))
    ids, centres = carryover.carried_start(x, names, last, k=3)
    # Cluster 2 re-centred on its members' new positions (0.5); then the farthest point
    # from every centre (20) starts cluster 3, then the next farthest (8) cluster 4...
    assert ids.tolist() == [2, 3, 4]
    assert centres[0].tolist() == [0.5, 0.0]
    assert centres[1].tolist() == [20.0, 0.0]
    assert centres[2].tolist() == [8.0, 0.0]


def test_carried_start_merges_clusters_whose_centres_coincide():
    x = np.array([[1.0, 1.0], [1.0, 1.0], [1.0, 1.0], [5.0, 5.0]])
    names = np.arange(4)
    # Ids 0 ({0}) and 1 ({1, 2}) sit at the same point: one cluster, the larger's id (1).
    last = carryover.Memberships(np.array([0, 1, 2]), names, np.array([0, 1, 1, 2]))
    ids, centres = carryover.carried_start(x, names, last, k=2)
    assert ids.tolist() == [1, 2]
    assert centres.tolist() == [[1.0, 1.0], [5.0, 5.0]]


def test_nothing_carried_over_starts_one_cluster_with_a_new_id():
    x = np.array([A, B, C])
    last = carryover.Memberships(np.array([3]), np.array([99]), np.array([3]))
    ids, centres = carryover.carried_start(x, np.arange(3), last, k=1)
    assert ids.tolist() == [4]
    np.testing.assert_allclose(centres, [np.mean([A, B, C], axis=0)])


def test_clusters_that_empty_are_dropped_and_keep_no_id():
    # Two starting centres on the same side: the one that loses every voter disappears.
    x = np.array([A, B, C])
    names = np.arange(3)
    last = carryover.Memberships(np.array([0, 1, 2]), names, np.array([0, 1, 2]))
    # k = 3 keeps all three (each voter is its own cluster); ids stay 0, 1, 2.
    three = kmeans.run(x, 3, names=names, last=last)
    assert three.ids.tolist() == [0, 1, 2] and three.ids[three.labels].tolist() == [0, 1, 2]
    # Starting centres beyond the data pull nobody: run from 2 identical-free starts with
    # one far away; the far one empties and is dropped.
    labels, centres, _, kept = kmeans.lloyd(x, np.array([[5.0, 0.0], [100.0, 0.0]]))
    assert kept.tolist() == [0] and len(centres) == 1 and (labels == 0).all()
