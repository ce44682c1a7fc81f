"""Communities figures against the run's labels and edges."""

import numpy as np

from engine.figures.communities import MAX_NODES, community_map, community_sizes


def test_community_sizes_are_the_label_counts_largest_first(job_run):
    run = job_run("communities")
    labels = run.tables["labels"]["community"].to_numpy()
    ids, counts = np.unique(labels, return_counts=True)
    fig = community_sizes(run.tables, run.metrics)
    ax = fig.axes[0]
    heights = [bar.get_height() for bar in ax.patches]
    assert heights == sorted(counts.tolist(), reverse=True)[:40]
    names = [int(t.get_text()) for t in ax.get_xticklabels()]
    assert dict(zip(names, heights, strict=True)) == {
        int(i): int(c) for i, c in zip(ids, counts, strict=True) if int(i) in names}


def test_community_map_has_a_bubble_per_community_sized_by_count(job_run):
    run = job_run("communities")
    _, counts = np.unique(run.tables["labels"]["community"].to_numpy(), return_counts=True)
    fig = community_map(run.tables, run.metrics)
    ax = fig.axes[0]
    bubbles = ax.collections[-1]
    n = min(MAX_NODES, len(counts))
    assert len(bubbles.get_offsets()) == n
    areas = bubbles.get_sizes()
    assert np.all(np.diff(areas) <= 0)  # largest community first
    np.testing.assert_allclose(areas, 20 + 900 * np.sort(counts)[::-1][:n] / counts.max())
    assert len(ax.collections[0].get_segments()) > 0  # the graph joins some communities
