"""Reading what a figure needs from a job's tables: a column set, numbers, a row sample."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import polars as pl
import pyarrow as pa

MAX_POINTS = 3000  # points per scatter: keeps a figure (and the report) small and fast


class FigureUnavailable(LookupError):
    """The tables or metrics lack what the figure draws (e.g. a job run without that output)."""


def frame(tables: Mapping[str, pa.Table], *names: str) -> pl.DataFrame:
    """The first of the tables `names` that is present, as a polars DataFrame."""
    for name in names:
        table = tables.get(name)
        if table is not None:
            return table if isinstance(table, pl.DataFrame) else pl.from_arrow(table)
    raise FigureUnavailable(f"no {' or '.join(names)} table")


def pick(df: pl.DataFrame, *candidates: str) -> str | None:
    """The first of `candidates` that is a column of `df`."""
    return next((c for c in candidates if c in df.columns), None)


def need(df: pl.DataFrame, *candidates: str) -> str:
    """As `pick`, but the figure cannot be drawn without one of them."""
    col = pick(df, *candidates)
    if col is None:
        raise FigureUnavailable(f"no {' or '.join(candidates)} column")
    return col


def numeric(df: pl.DataFrame, col: str) -> np.ndarray:
    return df[col].cast(pl.Float64, strict=False).to_numpy()


def sample(df: pl.DataFrame, n: int = MAX_POINTS, seed: int = 0) -> pl.DataFrame:
    return df if len(df) <= n else df.sample(n, seed=seed)


def group_codes(values: pl.Series) -> tuple[np.ndarray, list[str]]:
    """Integer codes (nulls -> -1) and names, largest group first."""
    counts = values.drop_nulls().value_counts(sort=True)
    names = [str(v) for v in counts[values.name].to_list()]
    lookup = {v: i for i, v in enumerate(counts[values.name].to_list())}
    codes = np.array([lookup.get(v, -1) if v is not None else -1 for v in values.to_list()],
                     dtype=int)
    return codes, names
