"""`Result`: what a job run through the Python API returns.

The tables a run writes (by name, without `.parquet`) and the metrics its `metrics.json`
holds; `to_polars()` / `to_pandas()` give the job's main table. A figure function taking
`(tables, metrics)` can be attached as a `plot_*` method, since everything it needs is here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

# The table `to_polars()` / `to_pandas()` give without a name: one row per input row where
# the job has such a table.
MAIN_TABLE = {
    "project": "projected",
    "basins": "assignments",
    "communities": "labels",
    "balance": "pairs",
    "opinion": "voters",
    "stream": "assignments",
}
# Metrics shown by repr() first, where the job has them.
HEADLINE = ("n_rows", "modularity", "n_communities", "mean_pearson_r", "n_pairs", "mean_dist",
            "n_groups", "silhouette", "n_clusters", "mean_confidence", "n_significant_basins",
            "forecast_loglik")


@dataclass
class Result:
    """A job's outputs: `tables` (name -> pyarrow Table), `metrics` (as in metrics.json),
    `arrays` (its .npz files, name -> arrays: project's `projection` holds the fitted map),
    `objective` (what the job returns to sweepers)."""

    job: str
    tables: dict[str, pa.Table]
    metrics: dict[str, Any] = field(default_factory=dict)
    arrays: dict[str, dict[str, Any]] = field(default_factory=dict)  # .npz outputs by name

    @property
    def objective(self) -> float:
        return float(self.metrics.get("objective", float("nan")))

    @property
    def main(self) -> str:
        """Name of the job's main table."""
        return MAIN_TABLE[self.job]

    def table(self, name: str | None = None) -> pa.Table:
        """The table `name` (default: the main table) as a pyarrow Table."""
        name = self.main if name is None else name.removesuffix(".parquet")
        if name not in self.tables:
            raise KeyError(f"{self.job} has no table {name!r}; it has "
                           f"{', '.join(self.tables)}")
        return self.tables[name]

    def to_polars(self, name: str | None = None):
        """The table `name` (default: the main table) as a polars DataFrame."""
        import polars as pl

        return pl.from_arrow(self.table(name))

    def to_pandas(self, name: str | None = None):
        """The table `name` (default: the main table) as a pandas DataFrame."""
        return self.table(name).to_pandas()

    def plot(self, name: str):
        """The report's figure `name` of this result (a matplotlib Figure); `plot_<name>()`
        says the same. `figures()` lists the names."""
        from engine.figures import figures_for

        available = figures_for(self.job)
        if name not in available:
            raise AttributeError(f"{self.job} has no figure {name!r}; it has "
                                 f"{', '.join(available)}")
        return available[name](self.tables, self.metrics)

    def figures(self) -> list[str]:
        """The names of this job's figures (each also a `plot_<name>()` method)."""
        from engine.figures import figures_for

        return list(figures_for(self.job))

    def __getattr__(self, attr: str):
        if attr.startswith("plot_"):
            return lambda: self.plot(attr.removeprefix("plot_"))
        raise AttributeError(attr)

    def __dir__(self):
        return [*super().__dir__(), *(f"plot_{n}" for n in self.figures())]

    def __repr__(self) -> str:
        shown = [k for k in HEADLINE if k in self.metrics]
        metrics = ", ".join(f"{k}={_short(self.metrics[k])}" for k in shown)
        tables = ", ".join(f"{name} ({t.num_rows} x {t.num_columns})"
                           for name, t in self.tables.items())
        return (f"<{self.job} result: objective={_short(self.objective)}"
                + (f", {metrics}" if metrics else "") + f"; tables: {tables}>")


def _short(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else repr(value)
