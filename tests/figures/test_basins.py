"""Basins figures against the run's bins and tuning tables."""

import numpy as np
import polars as pl
import pytest

from engine.figures.basins import MAX_BASINS, basin_sizes, calibration, tuning


def test_basin_sizes_draw_each_tracked_basin_of_each_part(job_run):
    run = job_run("basins")
    bins = pl.from_arrow(run.tables["bins"])
    fig = basin_sizes(run.tables, run.metrics)
    parts = bins["part"].unique(maintain_order=True).to_list()
    assert [ax.get_title().split(":")[0] for ax in fig.axes] == parts
    for ax, part in zip(fig.axes, parts, strict=True):
        tracked = bins.filter((pl.col("part") == part) & (pl.col("basin_id") >= 0))
        lines = ax.get_lines()
        assert len(lines) == min(MAX_BASINS, tracked["basin_id"].n_unique())
        for line in lines:
            basin = int(line.get_label().split()[1])
            one = tracked.filter(pl.col("basin_id") == basin).sort("bin")
            np.testing.assert_array_equal(line.get_ydata(), one["size"].to_numpy())
            significant = one["basin_significant"].any()
            assert line.get_label().endswith("*") == significant
            assert (line.get_linestyle() == "-") == significant


def test_calibration_caption_is_the_brier_score_of_the_bins(job_run):
    run = job_run("basins")
    bins = pl.from_arrow(run.tables["bins"]).drop_nulls(["p_cont", "continued"])
    p = bins["p_cont"].to_numpy()
    y = bins["continued"].cast(pl.Float64).to_numpy()
    ok = np.isfinite(p)
    fig = calibration(run.tables, run.metrics)
    assert fig.get_label() == (f"{ok.sum()} clusters with a next bin, "
                               f"Brier {np.mean((p[ok] - y[ok]) ** 2):.3f}")
    observed = fig.axes[0].get_lines()[0].get_ydata()
    assert np.all((observed >= 0) & (observed <= 1))


def test_tuning_bars_rank_the_combinations(job_run):
    run = job_run("basins")
    grid = run.tables["tuning_results"]
    fig = tuning(run.tables, run.metrics)
    heights = [bar.get_height() for bar in fig.axes[0].patches]
    scores = np.sort(np.nan_to_num(grid["continuation_auroc"].to_numpy(
        zero_copy_only=False)))[::-1]
    assert heights == pytest.approx(scores[:40].tolist())
    assert grid.num_rows >= 2
