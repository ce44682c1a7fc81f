"""A figure inlined into the page: one <svg> element, nothing that points outside the file."""

import re

from engine.figures.canvas import panels
from engine.report.inline import svg_of


def test_one_svg_element_without_prologue_or_metadata():
    fig, (ax,) = panels(caption="c")
    ax.scatter(range(50), range(50), rasterized=True)
    ax.set_title("a title")
    svg = svg_of(fig)
    assert svg.startswith('<svg class="plot" ') and svg.rstrip().endswith("</svg>")
    assert "<?xml" not in svg and "DOCTYPE" not in svg and "<metadata>" not in svg
    assert set(re.findall(r"https?://[^\"\s]+", svg)) <= {"http://www.w3.org/2000/svg",
                                                           "http://www.w3.org/1999/xlink"}
    assert "data:image/png;base64," in svg  # the rasterized points travel inside the file


def test_the_same_figure_gives_the_same_svg():
    from matplotlib.figure import Figure

    def draw():
        fig = Figure()
        ax = fig.subplots()
        ax.plot([0, 1, 2], [1, 0, 1])
        ax.scatter(range(50), range(50), rasterized=True)
        ax.set_title("same")
        return svg_of(fig)

    assert draw() == draw()
