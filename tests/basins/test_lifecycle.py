"""Lifecycle events from point flow: birth, continuation, growth, split, merge, death."""

import numpy as np

from engine._basins.lifecycle import part_events
from engine._basins.pipeline import cluster_stats


def _blob(rng, centre, n, sd=0.3):
    return np.asarray(centre) + sd * rng.normal(size=(n, 2))


def test_events_of_a_planted_transition():
    rng = np.random.default_rng(0)
    # Bin 0: A (grows), B (splits), D (dies), E1 + E2 (merge).
    b0 = [_blob(rng, (0, 0), 30), _blob(rng, (10, 0), 40, 0.8), _blob(rng, (0, 10), 25),
          _blob(rng, (30, 0), 20), _blob(rng, (32, 0), 20)]
    # Bin 1: A' bigger, B1 + B2 (halves of B), C new, E merged.
    b1 = [_blob(rng, (0, 0), 60), _blob(rng, (9.4, 0), 20), _blob(rng, (10.6, 0), 20),
          _blob(rng, (20, 20), 25), np.concatenate([_blob(rng, (30, 0), 20),
                                                    _blob(rng, (32, 0), 20)])]
    X = np.concatenate(b0 + b1)
    lab0 = np.repeat(np.arange(5), [len(b) for b in b0])
    lab1 = np.repeat(np.arange(5), [len(b) for b in b1])
    n0 = len(lab0)
    members = [np.arange(n0), np.arange(n0, len(X))]
    labels = [lab0, lab1]
    centres, spreads, sizes = [], [], []
    for m, lab in zip(members, labels, strict=True):
        c, s, _ = cluster_stats(X[m], lab, 5, np.ones(len(m)))
        centres.append(c)
        spreads.append(s)
        sizes.append(np.bincount(lab))
    basin = [np.arange(5), np.array([0, 1, 5, 6, 3])]
    events = part_events(X, members, labels, centres, spreads, sizes, basin,
                         [np.zeros(5, bool), np.zeros(5, bool)])
    got = {(e["bin"], e["event"], e["cluster"]) for e in events}
    assert (0, "continuation", 0) in got and (0, "growth", 0) in got
    assert (0, "split", 1) in got
    assert (0, "death", 2) in got
    assert (1, "birth", 3) in got
    assert (1, "merge", 4) in got
    assert sum(e["event"] == "birth" and e["bin"] == 0 for e in events) == 5
