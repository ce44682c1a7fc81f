"""The opinion map against the run's voters: every voter drawn, grey outside the groups."""

import numpy as np
import polars as pl

from engine.figures.canvas import GREY
from engine.figures.opinion import opinion_map


def test_every_voter_once_coloured_by_group(job_run):
    run = job_run("opinion")
    voters = pl.from_arrow(run.tables["voters"])
    fig = opinion_map(run.tables, run.metrics)
    ax = fig.axes[0]
    points = [c.get_offsets() for c in ax.collections]
    assert sum(len(p) for p in points) == len(voters)
    grey = ax.collections[0]
    np.testing.assert_allclose(grey.get_facecolor()[0][:3],
                               [int(GREY[i:i + 2], 16) / 255 for i in (1, 3, 5)])
    assert len(grey.get_offsets()) == voters["group"].null_count()
    groups = sorted(voters["group"].drop_nulls().unique().to_list())
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [f"group {g}" for g in groups]
    for g, coll in zip(groups, ax.collections[1:], strict=True):
        mine = voters.filter(pl.col("group") == g)
        np.testing.assert_allclose(np.sort(coll.get_offsets()[:, 0]), np.sort(mine["x"]))
