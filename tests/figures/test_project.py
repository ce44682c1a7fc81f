"""Project figures against the run's own fit table and projected rows."""

import numpy as np
import pyarrow.compute as pc
import pytest

from engine.figures.project import predicted_vs_actual, projected_axes, projected_scatter


def test_predicted_vs_actual_shows_each_axis_with_its_heldout_r(job_run):
    run = job_run("project")
    fig = predicted_vs_actual(run.tables, run.metrics)
    fit = run.tables["fit"].to_pydict()
    assert [ax.get_title() for ax in fig.axes] == [
        f"{a} (r = {r:.3f})" for a, r in zip(fit["axis"], fit["pearson_r"], strict=True)]
    preds = run.tables["predictions"]
    for ax, axis in zip(fig.axes, fit["axis"], strict=True):
        xy = ax.collections[0].get_offsets()
        assert len(xy) == preds.num_rows
        np.testing.assert_allclose(np.sort(xy[:, 0]),
                                   np.sort(preds[f"{axis}_true"].to_numpy()))
        assert (ax.get_xlabel(), ax.get_ylabel()) == ("actual", "predicted")


def test_projected_axes_histograms_count_every_row(job_run):
    run = job_run("project")
    fig = projected_axes(run.tables, run.metrics)
    assert [ax.get_title() for ax in fig.axes] == run.metrics["axes"]
    for ax, axis in zip(fig.axes, run.metrics["axes"], strict=True):
        values = run.tables["projected"][axis].to_numpy()
        counts, _ = np.histogram(values, bins=40)
        step = ax.patches[0].get_xy()  # the outline's vertices: bar tops at the counts
        assert step[:, 1].max() == pytest.approx(counts.max())


def test_projected_scatter_plots_rows_of_the_first_two_axes(job_run):
    run = job_run("project")
    x_axis, y_axis = run.metrics["axes"][:2]
    fig = projected_scatter(run.tables, run.metrics)
    (ax,) = fig.axes
    xy = ax.collections[0].get_offsets()
    table = run.tables["projected"]
    assert len(xy) == min(table.num_rows, 3000)
    assert (ax.get_xlabel(), ax.get_ylabel()) == (x_axis, y_axis)
    assert xy[:, 0].min() >= pc.min(table[x_axis]).as_py() - 1e-6
