"""Stream figures against the run's assignments (row order = time order)."""

import numpy as np

from engine.figures.stream import cluster_growth, clusters_started, confidence


def test_growth_curves_end_at_each_clusters_size(job_run):
    run = job_run("stream")
    cid = run.tables["assignments"]["cluster_id"].to_numpy()
    ids, counts = np.unique(cid, return_counts=True)
    fig = cluster_growth(run.tables, run.metrics)
    lines = fig.axes[0].get_lines()
    assert len(lines) == min(10, len(ids))
    ends = [line.get_ydata()[-1] for line in lines]
    assert ends == sorted(counts.tolist(), reverse=True)[:len(lines)]
    assert all(np.all(np.diff(line.get_ydata()) >= 0) for line in lines)


def test_clusters_started_ends_at_the_number_of_clusters(job_run):
    run = job_run("stream")
    assign = run.tables["assignments"]
    fig = clusters_started(run.tables, run.metrics)
    y = fig.axes[0].get_lines()[0].get_ydata()
    assert y[-1] == len(np.unique(assign["cluster_id"].to_numpy()))
    assert fig.axes[0].get_lines()[0].get_xdata()[-1] == assign.num_rows


def test_confidence_histogram_holds_every_message(job_run):
    run = job_run("stream")
    fig = confidence(run.tables, run.metrics)
    step = fig.axes[0].patches[0].get_xy()
    conf = run.tables["assignments"]["confidence"].to_numpy()
    counts, edges = np.histogram(conf, bins=30)
    assert step[:, 1].max() == counts.max()
    assert step[:, 0].min() == edges[0] and step[:, 0].max() == edges[-1]
