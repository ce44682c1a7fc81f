"""Shared pieces of the job reports: reading a run's artifacts, the run summary and timings."""

from __future__ import annotations

import json
from collections.abc import Mapping
from html import escape
from pathlib import Path
from typing import Any

import polars as pl

from engine.figures.run import seconds
from engine.report.html import Section, fmt

HEADLINE = ("objective", "n_rows", "backend", "device", "seed")  # first in the summary


def read(run_dir: Path, name: str) -> pl.DataFrame | None:
    """`run_dir/name` as a DataFrame, or None when the job did not write it."""
    path = Path(run_dir) / name
    return pl.read_parquet(path) if path.exists() else None


def read_metrics(run_dir: Path) -> dict[str, Any]:
    path = Path(run_dir) / "metrics.json"
    return json.loads(path.read_text()) if path.exists() else {}


def scalars(metrics: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Flatten nested metrics to dotted names, keeping numbers, strings and booleans."""
    out: dict[str, Any] = {}
    for k, v in metrics.items():
        if k in ("seconds", "cpu_seconds", "versions"):
            continue
        if isinstance(v, dict):
            out.update(scalars(v, f"{prefix}{k}."))
        elif isinstance(v, (int, float, str, bool)) or v is None:
            out[f"{prefix}{k}"] = v
    return out


def run_section(metrics: Mapping[str, Any], title: str = "Run") -> Section:
    """The run's scalar metrics, the headline ones (objective, rows, backend) first."""
    s = Section(title)
    flat = scalars(metrics)
    total = sum(float(v) for v in (metrics.get("seconds") or {}).values()
                if isinstance(v, (int, float)))
    head = {k: flat.pop(k) for k in HEADLINE if k in flat}
    if total:
        head["seconds (total)"] = total
        cpu = sum(float(v) for v in (metrics.get("cpu_seconds") or {}).values())
        if cpu:
            head["CPU seconds (total)"] = round(cpu, 2)
    if not head and not flat:
        return s.note("No metrics recorded.")
    return s.add(key_values(head, "summary")).add(key_values(flat))


def timings_section(metrics: Mapping[str, Any], title: str = "Timings") -> Section | None:
    """Seconds per stage, after the results: where the time went matters less than what came
    out."""
    if not metrics.get("seconds"):
        return None
    return Section(title).plots({}, metrics, seconds)


def key_values(values: Mapping[str, Any], css: str = "") -> str:
    """Metrics as a compact grid of name: value cells."""
    cells = "".join(f"<div><span>{escape(k)}</span> {escape(_text(v))}</div>"
                    for k, v in values.items())
    return f'<div class="kv {css}">{cells}</div>'


def _text(v: Any) -> str:
    return fmt(v) if isinstance(v, float) else str(v)
