"""The timings figure: one bar per stage, its length the stage's seconds."""

import pytest

from engine.figures import FigureUnavailable
from engine.figures.run import seconds


def test_bars_are_the_stage_seconds():
    metrics = {"seconds": {"load": 1.5, "knn": 0.25, "leiden": 3.0}, "n_rows": 10}
    fig = seconds({}, metrics)
    (ax,) = fig.axes
    widths = [bar.get_width() for bar in ax.patches]
    assert widths == [1.5, 0.25, 3.0]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["load", "knn", "leiden"]
    assert ax.get_xlabel() == "seconds" and fig.get_label() == "total 4.8 s"


def test_no_seconds_no_figure():
    with pytest.raises(FigureUnavailable):
        seconds({}, {"n_rows": 3})
