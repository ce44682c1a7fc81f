"""A matplotlib figure as an inline `<svg>` element, so report.html stays one offline file."""

from __future__ import annotations

import io
import re

from matplotlib import rc_context
from matplotlib.figure import Figure

DPI = 150  # resolution of the rasterized point clouds inside the SVG
_PROLOGUE = re.compile(r"^.*?(?=<svg\b)", re.S)  # the XML declaration and DOCTYPE
_METADATA = re.compile(r"<metadata>.*?</metadata>\s*", re.S)


def svg_of(fig: Figure) -> str:
    """`fig` as one `<svg class="plot">` element; `bbox_inches="tight"` grows the saved area to
    every label, so none is clipped."""
    buf = io.StringIO()
    # A fixed salt: matplotlib salts its SVG ids at random, so the same run would give a
    # different report.html each time. Equal ids across figures name equal content (they hash
    # the clip box or glyph), so two figures on one page cannot clash.
    with rc_context({"svg.hashsalt": "engine-report"}):
        fig.savefig(buf, format="svg", bbox_inches="tight", dpi=DPI,
                    metadata={"Date": None, "Creator": None, "Format": None, "Type": None})
    text = _METADATA.sub("", _PROLOGUE.sub("", buf.getvalue(), count=1), count=1)
    return text.replace("<svg ", '<svg class="plot" ', 1)
