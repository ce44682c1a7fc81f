"""What Hydra multirun needs from the app: config resolvers, the sweep cache, failing trials.

The presets live in `conf/hydra/launcher/` (local_parallel, slurm_gpu) and
`conf/hydra/sweeper/` (optuna_tpe); docs/sweeps.md shows a command for each.
`python -m engine.sweeps SWEEP_DIR` lists a finished sweep's runs, best objective first.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

CACHE_OFF = "off"


def _mkdir(path: str) -> str:
    """`${engine_mkdir:DIR}`: DIR made absolute and created (SQLite will not create folders)."""
    p = Path(path).expanduser().resolve()
    p.mkdir(parents=True, exist_ok=True)
    return str(p)


def register() -> None:
    """Config resolvers the presets use; quiet a known warning of the Optuna sweeper."""
    if not OmegaConf.has_resolver("engine_mkdir"):
        OmegaConf.register_new_resolver("engine_mkdir", _mkdir)
    # hydra-optuna-sweeper 1.3 needs SQLAlchemy < 2, whose every use of Optuna's storage warns
    # about SQLAlchemy 2.0; the pin is deliberate, so the warning is noise in every study.
    warnings.filterwarnings("ignore", message="Deprecated API features detected")


def cache_dir_for(cache_dir: str | None, multirun: bool, sweep_dir: str | None) -> str | None:
    """The cache directory a run uses.

    An explicit `cache_dir=DIR` wins; `cache_dir=off` turns the cache off. Otherwise a single
    run has no cache, and the runs of a multirun share `cache/` beside their sweep directory
    (with the default `hydra.sweep.dir`, multirun/<job>/<date>/cache), so a sweep computes its
    parameter-independent intermediates once.
    """
    if cache_dir == CACHE_OFF:
        return None
    if cache_dir is not None:
        return cache_dir
    if multirun and sweep_dir:
        return str(Path(sweep_dir).parent / "cache")
    return None


def summarize(sweep_dir: str | Path) -> list[dict[str, Any]]:
    """One row per run of a finished sweep: its number, the values it was given, its objective
    (None for a run that did not finish), best first."""
    rows = []
    for run in sorted(Path(sweep_dir).iterdir(), key=lambda p: (len(p.name), p.name)):
        overrides = run / ".hydra" / "overrides.yaml"
        if not (run.is_dir() and overrides.exists()):
            continue
        row: dict[str, Any] = {"run": run.name}
        for item in OmegaConf.load(overrides):
            key, _, value = str(item).partition("=")
            row[key] = value
        metrics = run / "metrics.json"
        row["objective"] = (json.loads(metrics.read_text())["objective"] if metrics.exists()
                            else None)
        rows.append(row)
    # Keep only what varies between runs, then rank by objective (failed runs last).
    varying = [k for k in dict.fromkeys(k for r in rows for k in r)
               if k in ("run", "objective") or len({str(r.get(k)) for r in rows}) > 1]
    rows = [{k: r.get(k) for k in varying} for r in rows]
    return sorted(rows, key=lambda r: (r["objective"] is None, -(r["objective"] or 0.0)))


def main(argv: list[str] | None = None) -> None:
    """`python -m engine.sweeps SWEEP_DIR`: the runs of a sweep, best first; also written to
    SWEEP_DIR/sweep_summary.parquet."""
    import sys

    import pyarrow as pa

    from engine.io.write import write_parquet

    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1 or not Path(args[0]).is_dir():
        print("usage: python -m engine.sweeps SWEEP_DIR (a multirun directory)", file=sys.stderr)
        raise SystemExit(2)
    rows = summarize(args[0])
    if not rows:
        print(f"error: {args[0]}: no runs (no */.hydra/overrides.yaml)", file=sys.stderr)
        raise SystemExit(2)
    keys = list(rows[0])
    widths = {k: max(len(k), *(len(_fmt(r[k])) for r in rows)) for k in keys}
    print("  ".join(k.ljust(widths[k]) for k in keys))
    for r in rows:
        print("  ".join(_fmt(r[k]).ljust(widths[k]) for k in keys))
    table = pa.Table.from_pylist([{k: (v if k == "objective" else _fmt(v)) for k, v in r.items()}
                                  for r in rows])
    write_parquet(table, Path(args[0]) / "sweep_summary.parquet")


def _fmt(value: Any) -> str:
    if value is None:
        return "failed"
    return f"{value:.6g}" if isinstance(value, float) else str(value)


if __name__ == "__main__":
    main()
