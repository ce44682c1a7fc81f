"""The evidence figures draw from the job's tables and step aside without them."""

import numpy as np
import pyarrow as pa
import pytest

from engine.figures import basins_evidence
from engine.figures.tables import FigureUnavailable


def _field():
    x, y = np.meshgrid(np.linspace(0, 1, 5), np.linspace(0, 1, 4), indexing="ij")
    n = x.size
    return pa.table({"kind": ["density"] * n + ["drift"] * 2,
                     "x": [*x.ravel(), 0.2, 0.8], "y": [*y.ravel(), 0.5, 0.5],
                     "value": [*np.exp(-x.ravel()), 3.0, 4.0],
                     "u": [0.0] * n + [0.1, -0.1], "v": [0.0] * (n + 2),
                     "bin": [3] * (n + 2)})


def test_weather_draws_heat_map_and_arrows():
    fig = basins_evidence.weather({"evidence_field": _field()}, {"coords": ["x", "y"]})
    ax = fig.axes[0]
    assert ax.collections[0].get_array().size == 20  # the 5 x 4 density cells
    assert ax.collections[-1].N == 2  # two arrows
    assert "bin 3" in fig._suptitle.get_text()


def test_evidence_over_time_one_panel_per_part():
    ev = pa.table({"basin_id": [1, 1, 2, 1], "part": ["train", "train", "train", "test"],
                   "bin": [0, 1, 0, 0], "method": ["density"] * 4, "score": [1.0] * 4,
                   "null_mean": [0.0] * 4, "null_sd": [1.0] * 4, "z": [1.0, 2.0, np.nan, 0.5]})
    fig = basins_evidence.evidence_over_time({"evidence": ev}, {})
    assert [ax.get_title() for ax in fig.axes] == ["train", "test"]
    assert fig.axes[0].lines[0].get_ydata().tolist() == [1.0, 2.0]


def test_figures_step_aside_without_their_tables():
    for draw in (basins_evidence.weather, basins_evidence.evidence_over_time):
        with pytest.raises(FigureUnavailable):
            draw({}, {})
