"""Small inline-SVG charts: scatter, lines, bars, step histograms, heatmaps.

Each function returns one `<svg class="plot">` string with `data-kind` and `data-n` (number of
plotted marks); every mark carries `class="mark"`, so a page's plotted elements can be counted.
No scripts, no external resources: the charts render offline in any browser.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from html import escape

import numpy as np

# Tableau 10: distinct, colour-blind friendlier than rainbow scales.
PALETTE = ("#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f",
           "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac")
GREY = "#c8c8c8"
W, H = 460, 320
M_LEFT, M_RIGHT, M_TOP, M_BOTTOM = 56, 16, 30, 44


def color(i: int) -> str:
    return PALETTE[i % len(PALETTE)]


def nice_ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    """Round tick values covering [lo, hi] (1, 2, 5 x 10^k steps)."""
    if not math.isfinite(lo) or not math.isfinite(hi):
        return []
    if hi <= lo:
        return [lo]
    raw = (hi - lo) / max(n, 1)
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 5, 10) if m * mag >= 0.75 * raw)  # about n ticks
    first = math.ceil(lo / step - 1e-9) * step
    return [round(first + i * step, 12) for i in range(int((hi - first) / step + 1e-9) + 1)]


def fmt(v: float) -> str:
    if v == 0:
        return "0"
    a = abs(v)
    if a >= 1e5 or a < 1e-3:
        return f"{v:.2g}"
    return f"{v:.4g}"


class Frame:
    """Linear x/y scales from data ranges to a plot area with margins, axes and labels."""

    def __init__(self, xlim: tuple[float, float], ylim: tuple[float, float],
                 width: int = W, height: int = H, pad: float = 0.04):
        self.width, self.height = width, height
        self.x0, self.x1 = _padded(xlim, pad)
        self.y0, self.y1 = _padded(ylim, pad)
        self.left, self.right = M_LEFT, width - M_RIGHT
        self.top, self.bottom = M_TOP, height - M_BOTTOM

    def sx(self, x):
        return self.left + (np.asarray(x, float) - self.x0) / (self.x1 - self.x0) * (
            self.right - self.left)

    def sy(self, y):
        return self.bottom - (np.asarray(y, float) - self.y0) / (self.y1 - self.y0) * (
            self.bottom - self.top)

    def axes(self, title: str, xlabel: str, ylabel: str, xticks: bool = True) -> str:
        parts = [f'<rect x="{self.left}" y="{self.top}" width="{self.right - self.left}" '
                 f'height="{self.bottom - self.top}" fill="none" stroke="#999"/>']
        if xticks:
            for t in nice_ticks(self.x0, self.x1):
                x = float(self.sx(t))
                parts.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{self.bottom}" '
                             f'y2="{self.bottom + 4}" stroke="#999"/>'
                             f'<text x="{x:.1f}" y="{self.bottom + 16}" text-anchor="middle">'
                             f'{fmt(t)}</text>')
        for t in nice_ticks(self.y0, self.y1):
            y = float(self.sy(t))
            parts.append(f'<line x1="{self.left - 4}" x2="{self.right}" y1="{y:.1f}" '
                         f'y2="{y:.1f}" stroke="#eee"/>'
                         f'<text x="{self.left - 6}" y="{y + 4:.1f}" text-anchor="end">'
                         f'{fmt(t)}</text>')
        cx = (self.left + self.right) / 2
        cy = (self.top + self.bottom) / 2
        parts.append(f'<text class="title" x="{cx}" y="18" text-anchor="middle">'
                     f'{escape(title)}</text>'
                     f'<text x="{cx}" y="{self.height - 8}" text-anchor="middle">'
                     f'{escape(xlabel)}</text>'
                     f'<text x="14" y="{cy}" text-anchor="middle" '
                     f'transform="rotate(-90 14 {cy})">{escape(ylabel)}</text>')
        return "".join(parts)


def _padded(lim: tuple[float, float], pad: float) -> tuple[float, float]:
    lo, hi = float(lim[0]), float(lim[1])
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return 0.0, 1.0
    if hi - lo < 1e-12:
        lo, hi = lo - 0.5, hi + 0.5
    span = hi - lo
    return lo - pad * span, hi + pad * span


def _lim(*arrays) -> tuple[float, float]:
    vals = np.concatenate([np.asarray(a, float).ravel() for a in arrays]) if arrays else []
    vals = vals[np.isfinite(vals)] if len(vals) else vals
    return (float(vals.min()), float(vals.max())) if len(vals) else (0.0, 1.0)


def _svg(kind: str, n: int, frame_w: int, frame_h: int, body: str) -> str:
    return (f'<svg class="plot" data-kind="{kind}" data-n="{n}" viewBox="0 0 {frame_w} '
            f'{frame_h}" width="{frame_w}" height="{frame_h}" '
            f'xmlns="http://www.w3.org/2000/svg">{body}</svg>')


def legend(names: Sequence[str], colors: Sequence[str], x: float, y: float) -> str:
    out = []
    for i, (name, c) in enumerate(zip(names, colors, strict=True)):
        yy = y + 14 * i
        out.append(f'<rect x="{x}" y="{yy - 8}" width="10" height="10" fill="{c}"/>'
                   f'<text x="{x + 14}" y="{yy + 1}">{escape(str(name))}</text>')
    return f'<g class="legend">{"".join(out)}</g>'


def scatter(x, y, *, groups=None, group_names: Sequence[str] | None = None, title: str = "",
            xlabel: str = "", ylabel: str = "", diagonal: bool = False, radius=2.2,
            tips: Sequence[str] | None = None, labels: Sequence[tuple[float, float, str]] = (),
            opacity: float = 0.7) -> str:
    """Points (x, y), coloured by integer `groups` (-1 or negative: grey)."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    frame = Frame(_lim(x, y) if diagonal else _lim(x), _lim(x, y) if diagonal else _lim(y))
    body = [frame.axes(title, xlabel, ylabel)]
    if diagonal:
        lo, hi = frame.x0, frame.x1
        body.append(f'<line x1="{frame.sx(lo):.1f}" y1="{frame.sy(lo):.1f}" '
                    f'x2="{frame.sx(hi):.1f}" y2="{frame.sy(hi):.1f}" stroke="#999" '
                    'stroke-dasharray="4 3"/>')
    px, py = frame.sx(x), frame.sy(y)
    g = np.zeros(len(x), int) if groups is None else np.asarray(groups, int)
    radii = np.broadcast_to(np.asarray(radius, float), x.shape)
    for i in range(len(x)):
        if not (math.isfinite(px[i]) and math.isfinite(py[i])):
            continue
        fill = GREY if g[i] < 0 else color(g[i])
        tip = f"><title>{escape(tips[i])}</title></circle>" if tips is not None else "/>"
        body.append(f'<circle class="mark" cx="{px[i]:.1f}" cy="{py[i]:.1f}" r="{radii[i]:.1f}" '
                    f'fill="{fill}" fill-opacity="{opacity}"{tip}')
    for lx, ly, text in labels:
        body.append(f'<text class="label" x="{float(frame.sx(lx)):.1f}" '
                    f'y="{float(frame.sy(ly)):.1f}" text-anchor="middle">{escape(text)}</text>')
    if group_names:
        used = sorted({int(v) for v in g if v >= 0})[: len(PALETTE)]
        body.append(legend([group_names[i] for i in used], [color(i) for i in used],
                           frame.right - 90, frame.top + 14))
    n = int(np.sum(np.isfinite(px) & np.isfinite(py)))
    return _svg("scatter", n, frame.width, frame.height, "".join(body))


def lines(series: Sequence[tuple[str, Sequence[float], Sequence[float]]], *, title: str = "",
          xlabel: str = "", ylabel: str = "", points: bool = False, diagonal: bool = False,
          show_legend: bool = True) -> str:
    """One polyline per (name, xs, ys); a mark per series."""
    xs = [np.asarray(s[1], float) for s in series]
    ys = [np.asarray(s[2], float) for s in series]
    xlim = _lim(*xs) if xs else (0, 1)
    ylim = _lim(*ys) if ys else (0, 1)
    if diagonal:
        xlim = ylim = (min(xlim[0], ylim[0]), max(xlim[1], ylim[1]))
    frame = Frame(xlim, ylim)
    body = [frame.axes(title, xlabel, ylabel)]
    if diagonal:
        body.append(f'<line x1="{frame.sx(xlim[0]):.1f}" y1="{frame.sy(xlim[0]):.1f}" '
                    f'x2="{frame.sx(xlim[1]):.1f}" y2="{frame.sy(xlim[1]):.1f}" stroke="#999" '
                    'stroke-dasharray="4 3"/>')
    for i, ((name, _, _), x, y) in enumerate(zip(series, xs, ys, strict=True)):
        ok = np.isfinite(x) & np.isfinite(y)
        pts = " ".join(f"{a:.1f},{b:.1f}" for a, b in zip(frame.sx(x[ok]), frame.sy(y[ok]),
                                                          strict=True))
        body.append(f'<polyline class="mark" points="{pts}" fill="none" stroke="{color(i)}" '
                    f'stroke-width="1.6"><title>{escape(str(name))}</title></polyline>')
        if points:
            body.extend(f'<circle cx="{a:.1f}" cy="{b:.1f}" r="2.5" fill="{color(i)}"/>'
                        for a, b in zip(frame.sx(x[ok]), frame.sy(y[ok]), strict=True))
    if show_legend and 1 < len(series) <= len(PALETTE):
        body.append(legend([s[0] for s in series], [color(i) for i in range(len(series))],
                           frame.left + 8, frame.top + 14))
    return _svg("lines", len(series), frame.width, frame.height, "".join(body))


def bars(labels: Sequence[str], values: Sequence[float], *, title: str = "", xlabel: str = "",
         ylabel: str = "", colors: Sequence[str] | None = None) -> str:
    """Vertical bars, one per label (labels shown when they fit)."""
    v = np.asarray(values, float)
    frame = Frame((0, max(len(v), 1)), (min(0.0, _lim(v)[0]), _lim(v)[1]), pad=0.0)
    frame.y1 += 0.05 * (frame.y1 - frame.y0)
    body = [frame.axes(title, xlabel, ylabel, xticks=False)]
    slot = (frame.right - frame.left) / max(len(v), 1)
    zero = float(frame.sy(0))
    show_labels = len(v) <= 24
    for i, (lab, val) in enumerate(zip(labels, v, strict=True)):
        top = float(frame.sy(val)) if math.isfinite(val) else zero
        x = frame.left + i * slot + 0.1 * slot
        fill = colors[i] if colors is not None else color(0)
        body.append(f'<rect class="mark" x="{x:.1f}" y="{min(top, zero):.1f}" '
                    f'width="{0.8 * slot:.1f}" height="{abs(zero - top):.1f}" fill="{fill}">'
                    f'<title>{escape(str(lab))}: {fmt(val)}</title></rect>')
        if show_labels:
            cx = x + 0.4 * slot
            body.append(f'<text x="{cx:.1f}" y="{frame.bottom + 14}" text-anchor="end" '
                        f'transform="rotate(-30 {cx:.1f} {frame.bottom + 14})">'
                        f'{escape(str(lab)[:14])}</text>')
    return _svg("bars", len(v), frame.width, frame.height, "".join(body))


def step_hist(groups: dict[str, np.ndarray], *, bins: int = 20, title: str = "",
              xlabel: str = "", density: bool = True, mean_line: float | None = None) -> str:
    """Step outlines of each group's histogram on shared bins (density: areas of 1)."""
    arrays = {k: np.asarray(v, float) for k, v in groups.items()}
    arrays = {k: v[np.isfinite(v)] for k, v in arrays.items()}
    lo, hi = _lim(*arrays.values()) if arrays else (0.0, 1.0)
    if hi <= lo:
        hi = lo + 1.0
    edges = np.linspace(lo, hi, bins + 1)
    counts = {k: np.histogram(v, edges, density=density and len(v) > 0)[0]
              for k, v in arrays.items()}
    ymax = max((float(c.max()) for c in counts.values() if len(c)), default=1.0)
    frame = Frame((lo, hi), (0, ymax or 1.0), pad=0.0)
    frame.y1 *= 1.05
    body = [frame.axes(title, xlabel, "density" if density else "count")]
    for i, (name, c) in enumerate(counts.items()):
        xs = np.repeat(edges, 2)[1:-1]
        ys = np.repeat(c, 2)
        pts = [f"{frame.sx(edges[0]):.1f},{frame.sy(0):.1f}"]
        pts += [f"{a:.1f},{b:.1f}" for a, b in zip(frame.sx(xs), frame.sy(ys), strict=True)]
        pts.append(f"{frame.sx(edges[-1]):.1f},{frame.sy(0):.1f}")
        body.append(f'<polyline class="mark" points="{" ".join(pts)}" fill="none" '
                    f'stroke="{color(i)}" stroke-width="1.5"><title>{escape(name)} '
                    f'(n={len(arrays[name])})</title></polyline>')
    if mean_line is not None and math.isfinite(mean_line):
        x = float(frame.sx(mean_line))
        body.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{frame.top}" y2="{frame.bottom}" '
                    f'stroke="#d62728" stroke-dasharray="5 3"/><text x="{x + 3:.1f}" '
                    f'y="{frame.top + 12}" fill="#d62728">mean {fmt(mean_line)}</text>')
    if 1 < len(counts) <= len(PALETTE):
        body.append(legend(list(counts), [color(i) for i in range(len(counts))],
                           frame.right - 100, frame.top + 28))
    return _svg("hist", len(counts), frame.width, frame.height, "".join(body))


def heatmap(matrix, labels: Sequence[str], *, title: str = "", vmin: float = -1.0,
            vmax: float = 1.0) -> str:
    """Annotated square heatmap on a diverging blue-white-red scale."""
    m = np.asarray(matrix, float)
    n = len(labels)
    cell = min(64, 300 // max(n, 1))
    left, top = 120, 34
    width, height = left + n * cell + 16, top + n * cell + 16
    body = [f'<text class="title" x="{width / 2}" y="18" text-anchor="middle">'
            f'{escape(title)}</text>']
    for i in range(n):
        body.append(f'<text x="{left - 6}" y="{top + (i + 0.55) * cell:.1f}" text-anchor="end">'
                    f'{escape(labels[i])}</text>')
        for j in range(n):
            v = m[i, j]
            body.append(f'<rect class="mark" x="{left + j * cell}" y="{top + i * cell}" '
                        f'width="{cell}" height="{cell}" fill="{_diverging(v, vmin, vmax)}">'
                        f'<title>{escape(labels[i])} / {escape(labels[j])}: {fmt(v)}</title>'
                        f'</rect><text x="{left + (j + 0.5) * cell}" '
                        f'y="{top + (i + 0.55) * cell:.1f}" text-anchor="middle">'
                        f'{"nan" if not math.isfinite(v) else f"{v:.2f}"}</text>')
    return _svg("heatmap", n * n, width, height, "".join(body))


def _diverging(v: float, vmin: float, vmax: float) -> str:
    if not math.isfinite(v):
        return GREY
    t = min(max((v - vmin) / (vmax - vmin), 0.0), 1.0) * 2 - 1  # -1 .. 1
    blue, red, white = (59, 76, 192), (180, 4, 38), (242, 242, 242)
    end = red if t > 0 else blue
    rgb = [round(w + abs(t) * (e - w)) for w, e in zip(white, end, strict=True)]
    return "#" + "".join(f"{c:02x}" for c in rgb)


def network(xy, sizes, edges, weights, *, names: Sequence[str], title: str = "") -> str:
    """Nodes at `xy` with area ~ `sizes`, joined by `edges` (i, j) with opacity ~ `weights`."""
    xy = np.asarray(xy, float)
    sizes = np.asarray(sizes, float)
    frame = Frame(_lim(xy[:, 0]), _lim(xy[:, 1]), pad=0.12)
    px, py = frame.sx(xy[:, 0]), frame.sy(xy[:, 1])
    body = [f'<text class="title" x="{frame.width / 2}" y="18" text-anchor="middle">'
            f'{escape(title)}</text>']
    w = np.asarray(weights, float)
    wmax = float(w.max()) if len(w) else 1.0
    for (i, j), wij in zip(edges, w, strict=True):
        body.append(f'<line x1="{px[i]:.1f}" y1="{py[i]:.1f}" x2="{px[j]:.1f}" y2="{py[j]:.1f}" '
                    f'stroke="#888" stroke-opacity="{0.1 + 0.6 * wij / wmax:.2f}" '
                    f'stroke-width="{0.5 + 2.5 * wij / wmax:.1f}"/>')
    radius = 3 + 22 * np.sqrt(sizes / max(float(sizes.max()), 1.0))
    for i in np.argsort(-sizes):
        body.append(f'<circle class="mark" cx="{px[i]:.1f}" cy="{py[i]:.1f}" '
                    f'r="{radius[i]:.1f}" fill="{color(int(i))}" fill-opacity="0.75" '
                    f'stroke="#fff"><title>{escape(names[i])}: {int(sizes[i])}</title></circle>')
        if radius[i] > 9:
            body.append(f'<text x="{px[i]:.1f}" y="{py[i] + 3:.1f}" text-anchor="middle">'
                        f'{escape(names[i])}</text>')
    return _svg("network", len(sizes), frame.width, frame.height, "".join(body))
