"""Shared pieces of the job reports: reading a run's artifacts, the run summary section."""

from __future__ import annotations

import json
from html import escape
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from engine.report import svg
from engine.report.html import Section

MAX_POINTS = 3000  # points per scatter: keeps a report small and fast to render


def read(run_dir: Path, name: str) -> pl.DataFrame | None:
    """`run_dir/name` as a DataFrame, or None when the job did not write it."""
    path = Path(run_dir) / name
    return pl.read_parquet(path) if path.exists() else None


def read_metrics(run_dir: Path) -> dict[str, Any]:
    path = Path(run_dir) / "metrics.json"
    return json.loads(path.read_text()) if path.exists() else {}


def pick(df: pl.DataFrame, *candidates: str) -> str | None:
    """The first of `candidates` that is a column of `df`."""
    return next((c for c in candidates if c in df.columns), None)


def sample(df: pl.DataFrame, n: int = MAX_POINTS, seed: int = 0) -> pl.DataFrame:
    return df if len(df) <= n else df.sample(n, seed=seed)


def scalars(metrics: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Flatten nested metrics to dotted names, keeping numbers, strings and booleans."""
    out: dict[str, Any] = {}
    for k, v in metrics.items():
        if k in ("seconds", "versions"):
            continue
        if isinstance(v, dict):
            out.update(scalars(v, f"{prefix}{k}."))
        elif isinstance(v, (int, float, str, bool)) or v is None:
            out[f"{prefix}{k}"] = v
    return out


def run_section(metrics: dict[str, Any], title: str = "Run") -> Section:
    """Scalar metrics as a table and per-stage seconds as bars."""
    s = Section(title)
    flat = scalars(metrics)
    if flat:
        s.add(key_values(flat))
    seconds = {k: float(v) for k, v in metrics.get("seconds", {}).items()
               if isinstance(v, (int, float))}
    if seconds:
        s.figures((svg.bars(list(seconds), list(seconds.values()), title="Seconds per stage",
                            ylabel="s"), f"total {sum(seconds.values()):.1f} s"))
    if not flat and not seconds:
        s.note("No metrics recorded.")
    return s


def key_values(values: dict[str, Any]) -> str:
    """Metrics as a compact grid of name: value cells."""
    cells = "".join(f"<div><span>{escape(k)}</span> {escape(_text(v))}</div>"
                    for k, v in values.items())
    return f'<div class="kv">{cells}</div>'


def _text(v: Any) -> str:
    return svg.fmt(v) if isinstance(v, float) else str(v)


def numeric(df: pl.DataFrame, col: str) -> np.ndarray:
    return df[col].cast(pl.Float64, strict=False).to_numpy()


def group_codes(values: pl.Series) -> tuple[np.ndarray, list[str]]:
    """Integer codes (nulls -> -1) and names, largest group first."""
    counts = values.drop_nulls().value_counts(sort=True)
    names = [str(v) for v in counts[values.name].to_list()]
    lookup = {v: i for i, v in enumerate(counts[values.name].to_list())}
    codes = np.array([lookup.get(v, -1) if v is not None else -1 for v in values.to_list()])
    return codes, names
