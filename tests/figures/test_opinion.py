"""The opinion map against the run's voters and statements: every voter drawn, grey outside
the groups, statements where statements.parquet puts them."""

import numpy as np
import polars as pl

from engine.figures.canvas import GREY
from engine.figures.opinion import opinion_map


def test_every_voter_once_coloured_by_group(job_run):
    run = job_run("opinion")
    voters = pl.from_arrow(run.tables["voters"])
    fig = opinion_map(run.tables, run.metrics)
    ax = fig.axes[0]
    *voter_sets, drawn_statements = ax.collections
    assert sum(len(c.get_offsets()) for c in voter_sets) == len(voters)
    statements = pl.from_arrow(run.tables["statements"]).filter(~pl.col("moderated_out"))
    np.testing.assert_allclose(drawn_statements.get_offsets(),
                               statements.select("x", "y").to_numpy())
    grey = ax.collections[0]
    np.testing.assert_allclose(grey.get_facecolor()[0][:3],
                               [int(GREY[i:i + 2], 16) / 255 for i in (1, 3, 5)])
    assert len(grey.get_offsets()) == voters["group"].null_count()
    groups = sorted(voters["group"].drop_nulls().unique().to_list())
    assert ([t.get_text() for t in ax.get_legend().get_texts()]
            == [f"group {g}" for g in groups] + ["statements"])
    for g, coll in zip(groups, voter_sets[1:], strict=True):
        mine = voters.filter(pl.col("group") == g)
        np.testing.assert_allclose(np.sort(coll.get_offsets()[:, 0]), np.sort(mine["x"]))
