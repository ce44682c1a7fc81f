"""Figures of `job=communities`: community sizes and a map of the communities."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pyarrow as pa
from matplotlib.collections import LineCollection
from matplotlib.figure import Figure

from engine.figures.canvas import GREY, color, panels
from engine.figures.tables import FigureUnavailable, frame, group_codes, numeric, sample

MAX_BARS = 40  # communities in the sizes figure
MAX_NODES = 40  # communities drawn in the map


def community_sizes(tables: Mapping[str, pa.Table], metrics: Mapping[str, Any]) -> Figure:
    """Vertices per community, largest first."""
    labels = frame(tables, "labels")
    sizes = labels["community"].value_counts(sort=True)
    shown = sizes.head(MAX_BARS)
    more = f", the {MAX_BARS} largest shown" if len(sizes) > MAX_BARS else ""
    fig, (ax,) = panels(caption=f"{len(sizes)} communities over {len(labels):,} vertices{more}")
    # Positions with labels, not string categories (ids like "3" would read as numbers).
    ax.bar(np.arange(len(shown)), shown["count"].to_numpy(), color="C0")
    ax.set_xticks(np.arange(len(shown)), [str(c) for c in shown["community"].to_list()],
                  rotation=90, fontsize="x-small")
    ax.set(title="Community sizes", xlabel="community", ylabel="vertices")
    return fig


def community_map(tables: Mapping[str, pa.Table], metrics: Mapping[str, Any]) -> Figure:
    """Vertices in 2-D coloured by community when the labels carry x/y; else the largest
    communities as bubbles placed by a force layout of the graph between them."""
    labels = frame(tables, "labels")
    if "x" in labels.columns and "y" in labels.columns:
        pts = sample(labels)
        codes, _ = group_codes(pts["community"])
        fig, (ax,) = panels(caption="coloured by community")
        ax.scatter(numeric(pts, "x"), numeric(pts, "y"), s=4, linewidths=0, rasterized=True,
                   c=[GREY if c < 0 else color(c) for c in codes])
        ax.set(title="Vertices in 2-D", xlabel="x", ylabel="y")
        return fig
    edges = frame(tables, "edges")
    if len(edges) == 0:
        raise FigureUnavailable("the graph has no edges")
    comm = labels["community"].to_numpy()
    ids, counts = np.unique(comm, return_counts=True)
    order = np.argsort(-counts)[:MAX_NODES]
    keep, sizes = ids[order], counts[order]
    index = {int(c): i for i, c in enumerate(keep)}
    a = np.array([index.get(int(c), -1) for c in comm[edges["src"].to_numpy()]])
    b = np.array([index.get(int(c), -1) for c in comm[edges["dst"].to_numpy()]])
    w = numeric(edges, "weight") if "weight" in edges.columns else np.ones(len(a))
    ok = (a >= 0) & (b >= 0) & (a != b)
    adj = np.zeros((len(keep), len(keep)))
    np.add.at(adj, (a[ok], b[ok]), w[ok])
    adj = adj + adj.T
    xy = force_layout(adj)
    fig, (ax,) = panels(caption="bubble area ~ size; lines: kNN edges between communities")
    iu = np.transpose(np.nonzero(np.triu(adj) > 0))
    if len(iu):
        wij = adj[iu[:, 0], iu[:, 1]] / adj.max()
        ax.add_collection(LineCollection(xy[iu], colors=[(0.5, 0.5, 0.5, 0.1 + 0.6 * v)
                                                          for v in wij],
                                         linewidths=0.5 + 2.5 * wij, zorder=1))
    area = 20 + 900 * sizes / sizes.max()
    ax.scatter(xy[:, 0], xy[:, 1], s=area, c=[color(i) for i in range(len(keep))], alpha=0.8,
               edgecolors="white", zorder=2)
    for i in np.flatnonzero(area > 150):
        ax.annotate(str(keep[i]), xy[i], ha="center", va="center", fontsize="x-small", zorder=3)
    ax.margins(0.15)
    ax.set_axis_off()
    ax.set_title("Community map")
    return fig


def force_layout(adj: np.ndarray, iterations: int = 300, seed: int = 0) -> np.ndarray:
    """Fruchterman-Reingold layout of a small weighted graph (deterministic)."""
    n = len(adj)
    if n == 1:
        return np.zeros((1, 2))
    rng = np.random.default_rng(seed)
    angle = np.linspace(0, 2 * np.pi, n, endpoint=False)
    pos = np.c_[np.cos(angle), np.sin(angle)] + 0.05 * rng.standard_normal((n, 2))
    w = adj / adj.max() if adj.max() > 0 else adj
    k = 1.0 / np.sqrt(n)
    temp = 0.1
    for _ in range(iterations):
        delta = pos[:, None, :] - pos[None, :, :]
        dist = np.maximum(np.linalg.norm(delta, axis=-1), 1e-3)
        force = (k * k / dist**2 - w * dist / k)[:, :, None] * delta
        disp = force.sum(axis=1)
        disp -= 0.05 * pos  # weak pull to the centre keeps disconnected parts in view
        length = np.maximum(np.linalg.norm(disp, axis=1, keepdims=True), 1e-9)
        pos += disp / length * np.minimum(length, temp)
        temp *= 0.99
    return pos


FIGURES = {"community_sizes": community_sizes, "community_map": community_map}
