"""Figures of `job=balance` (seed 000's closing plots): each component's distribution per
category, and the correlations between the score and its components."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pyarrow as pa
from matplotlib.figure import Figure

from engine.figures.canvas import color, finite, panels
from engine.figures.tables import FigureUnavailable, frame, numeric

COMPONENTS = ("imbalance", "magnitude_factor", "dist")
CORRELATED = ("balance_score", *COMPONENTS)
MAX_CATEGORIES = 8


def components_by_category(tables: Mapping[str, pa.Table], metrics: Mapping[str, Any]) -> Figure:
    """A density outline per category (the largest ones) for each component."""
    pairs = frame(tables, "pairs")
    comps = [c for c in COMPONENTS if c in pairs.columns]
    if not comps or len(pairs) == 0:
        raise FigureUnavailable("no pairs with balance components")
    cat = pairs["category"].fill_null("(none)") if "category" in pairs.columns else None
    cats = [] if cat is None else cat.value_counts(sort=True)["category"].head(MAX_CATEGORIES)
    fig, panes = panels(len(comps), title="Components by category",
                        caption="density per category; dashed: mean over all pairs")
    for ax, comp in zip(panes, comps, strict=True):
        values = numeric(pairs, comp)
        groups = ({str(c): values[(cat == c).to_numpy()] for c in cats} if len(cats)
                  else {"all": values})
        edges = np.histogram_bin_edges(finite(values), bins=20)
        for i, (name, v) in enumerate(groups.items()):
            if len(finite(v)):
                ax.hist(finite(v), bins=edges, density=True, histtype="step", color=color(i),
                        label=name)
        ax.axvline(float(np.nanmean(values)), color="C3", ls="--", lw=1)
        ax.set(title=comp, xlabel=comp, ylabel="density")
    if len(cats) > 1:
        fig.legend(*panes[0].get_legend_handles_labels(), loc="outside right upper",
                   fontsize="small", title="category")
    return fig


def correlations(tables: Mapping[str, pa.Table], metrics: Mapping[str, Any]) -> Figure:
    """Pearson correlation between the balance score and its components over all pairs."""
    pairs = frame(tables, "pairs")
    cols = [c for c in CORRELATED if c in pairs.columns]
    if len(pairs) < 2 or len(cols) < 2:
        raise FigureUnavailable("fewer than two pairs or two components")
    corr = np.corrcoef(np.stack([numeric(pairs, c) for c in cols]))
    fig, (ax,) = panels(caption=f"Pearson correlation over {len(pairs):,} pairs")
    image = ax.imshow(corr, cmap="coolwarm", vmin=-1, vmax=1)
    for i in range(len(cols)):
        for j in range(len(cols)):
            ax.text(j, i, f"{corr[i, j]:.2f}", ha="center", va="center", fontsize="small")
    ax.set_xticks(range(len(cols)), cols, rotation=30, ha="right")
    ax.set_yticks(range(len(cols)), cols)
    ax.set_title("Correlation of score components")
    fig.colorbar(image, ax=ax, shrink=0.8)
    return fig


FIGURES = {"components_by_category": components_by_category, "correlations": correlations}
