"""Balance figures against the run's pairs."""

import numpy as np
import polars as pl

from engine.figures.balance import COMPONENTS, CORRELATED, components_by_category, correlations


def test_component_panels_and_category_legend(job_run):
    run = job_run("balance")
    pairs = pl.from_arrow(run.tables["pairs"])
    fig = components_by_category(run.tables, run.metrics)
    assert [ax.get_title() for ax in fig.axes] == list(COMPONENTS)
    top = pairs["category"].value_counts(sort=True)["category"].head(8).to_list()
    assert [t.get_text() for t in fig.legends[0].get_texts()] == top
    for ax, comp in zip(fig.axes, COMPONENTS, strict=True):
        (mean,) = [ln for ln in ax.get_lines() if ln.get_linestyle() == "--"]
        assert mean.get_xdata()[0] == np.nanmean(pairs[comp].to_numpy())


def test_correlations_are_pearson_over_the_pairs(job_run):
    run = job_run("balance")
    pairs = pl.from_arrow(run.tables["pairs"])
    fig = correlations(run.tables, run.metrics)
    image = fig.axes[0].get_images()[0].get_array()
    want = np.corrcoef(np.stack([pairs[c].to_numpy() for c in CORRELATED]))
    np.testing.assert_allclose(image, want)
    assert len(fig.axes[0].texts) == len(CORRELATED) ** 2
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()] == list(CORRELATED)
