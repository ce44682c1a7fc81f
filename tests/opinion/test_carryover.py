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


def straightforward_carried_start(x, names, last, k, weights=None):
    """The carry-over rule written plainly: one np.average per cluster and per step."""
    def mean(members):
        return np.average(x[members], axis=0, weights=None if weights is None
                          else weights[members])

    rows_of = {name: row for row, name in enumerate(names)}
    ids, members = [], []
    for cid in last.ids:
        mine = [rows_of[n] for n, c in zip(last.names, last.cluster, strict=True)
                if c == cid and n in rows_of]
        if mine:
            ids.append(int(cid)), members.append(np.array(mine))
    merged_ids, merged, at = [], [], {}
    for cid, mem in zip(ids, members, strict=True):
        key = (mean(mem) + 0.0).tobytes()
        if key not in at:
            at[key] = len(merged_ids)
            merged_ids.append(cid), merged.append(mem)
        else:
            if len(mem) >= len(merged[at[key]]):
                merged_ids[at[key]] = cid
            merged[at[key]] = np.concatenate([merged[at[key]], mem])
    ids, members = merged_ids, merged
    while True:
        centres = np.array([mean(m) for m in members])
        if len(ids) >= min(k, len(np.unique(x, axis=0))):
            return np.asarray(ids), centres
        d = np.sqrt(((x[:, None, :] - centres[None, :, :]) ** 2).sum(-1)).min(1)
        far = len(d) - 1 - int(np.argmax(d[::-1]))
        kept = [(i, m[m != far]) for i, m in zip(ids, members, strict=True)]
        ids = [i for i, m in kept if len(m)] + [max(ids) + 1]
        members = [m for _, m in kept if len(m)] + [np.array([far])]


def test_carried_start_matches_the_plain_rule_to_the_bit():
    # Random memberships over points with repeats (so some centres coincide and merge), with
    # points gone and new, weighted and not: the one-pass centres must be the plain averages.
    rng = np.random.default_rng(3)
    merges = 0
    for trial in range(200):
        n = int(rng.integers(3, 60))
        x = rng.normal(size=(n, 2)).round(int(rng.integers(0, 3)))
        if trial % 3 == 0:  # pairs of identical clusters: their centres coincide
            x[n // 2:2 * (n // 2)] = x[:n // 2]
        names = np.sort(rng.choice(200, n, replace=False))
        old = np.sort(rng.choice(np.r_[names, np.arange(200, 230)], n, replace=False))
        old_ids = np.sort(rng.choice(50, int(rng.integers(1, 12)), replace=False))
        cluster = rng.choice(old_ids, len(old))
        if trial % 3 == 0:
            half = np.isin(old, names[:n // 2])
            twin = np.isin(old, names[n // 2:2 * (n // 2)])
            cluster[twin] = cluster[half][:twin.sum()] if half.sum() >= twin.sum() else cluster[twin]
        last = carryover.Memberships(old_ids, old, cluster)
        weights = None if trial % 2 else rng.integers(1, 9, n).astype(np.float64)
        k = int(rng.integers(1, 15))
        if not np.isin(old, names).any():
            continue
        ids, centres = carryover.carried_start(x, names, last, k, weights)
        want_ids, want = straightforward_carried_start(x, names, last, k, weights)
        assert ids.tolist() == want_ids.tolist()
        assert np.array_equal(centres, want)
        merges += len(want_ids) < len(np.unique(cluster[np.isin(old, names)]))
    assert merges > 0  # the merge path was exercised
