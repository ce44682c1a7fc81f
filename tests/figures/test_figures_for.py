"""Every figure of every job on real (tiny synthetic) job outputs: a matplotlib Figure drawn
without pyplot, with a caption, and no text outside the figure (nothing clipped)."""

from __future__ import annotations

import sys

import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.text import Text

from engine.figures import JOBS, FigureUnavailable, figures_for

EXPECTED = {
    "project": {"predicted_vs_actual", "projected_axes", "projected_scatter"},
    "basins": {"basin_sizes", "calibration", "tuning"},
    "communities": {"community_sizes", "community_map"},
    "balance": {"components_by_category", "correlations"},
    "opinion": {"opinion_map"},
    "stream": {"cluster_growth", "clusters_started", "confidence"},
}


def outside(fig: Figure) -> list[str]:
    """What is drawn beyond the figure's area (1 px of slack): the texts that leave it, or
    'something' when only other marks do. Tick labels past an axis's limits are not drawn and
    not counted."""
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    renderer = canvas.get_renderer()
    box = fig.bbox

    def leaves(ext) -> bool:
        return (ext.x0 < box.x0 - 1 or ext.y0 < box.y0 - 1 or ext.x1 > box.x1 + 1
                or ext.y1 > box.y1 + 1)

    if not leaves(fig.get_tightbbox(renderer).transformed(fig.dpi_scale_trans)):
        return []
    texts = [t.get_text() for t in fig.findobj(Text)
             if t.get_visible() and t.get_text().strip() and leaves(t.get_window_extent(renderer))]
    return texts or ["something"]


def pyplot_figures() -> int:
    pyplot = sys.modules.get("matplotlib.pyplot")
    return len(pyplot.get_fignums()) if pyplot else 0


def test_names_of_each_job():
    for job in JOBS:
        assert set(figures_for(job)) == EXPECTED[job] | {"seconds"}
    with pytest.raises(ValueError, match="no figures for job 'pipeline'"):
        figures_for("pipeline")


@pytest.mark.parametrize("job", JOBS)
def test_every_figure_is_an_unclipped_figure_object(job, job_run):
    run = job_run(job)
    before = pyplot_figures()
    for name, draw in figures_for(job).items():
        fig = draw(run.tables, run.metrics)
        assert isinstance(fig, Figure), name
        assert fig.axes and fig.get_label(), name  # something drawn, and a caption
        assert all(ax.get_title() or not ax.axison for ax in fig.axes
                   if ax.get_label() != "<colorbar>"), name
        assert outside(fig) == [], name
    assert pyplot_figures() == before  # no figure registered with pyplot's global state


def test_a_figure_without_its_inputs_says_so(job_run):
    run = job_run("communities")
    for draw in figures_for("communities").values():
        with pytest.raises(FigureUnavailable):
            draw({}, {})
    with pytest.raises(FigureUnavailable, match="edges"):
        figures_for("communities")["community_map"]({"labels": run.tables["labels"]}, {})


def test_the_check_catches_a_clipped_label():
    from engine.figures.canvas import panels

    fig, (ax,) = panels()
    assert outside(fig) == []
    ax.text(1.5, 0.5, "far outside", transform=ax.transAxes)
    assert outside(fig) == ["far outside"]
