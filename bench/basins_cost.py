"""What significance (null draws) and the forecast cost on top of the basins job: the job on
the synthetic tweets (3-D planted axes) without them (`job.null_model=false`, the forecast
still runs: it is part of every run) and with the defaults, same data, same process,
one after the other; per-stage seconds and the ratio of wall times.

    PYTHONPATH=. python bench/basins_cost.py --rows 200000
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from bench._report import Run
from bench.basins_planted import compose
from engine.app import run_config

OUT = Path(__file__).resolve().parent / "results" / "basins_cost.md"


def run(rows: int, tune: bool, *extra: str) -> tuple[float, dict]:
    out = Path(tempfile.mkdtemp(prefix="basins_cost_"))
    t0 = time.perf_counter()
    run_config(compose("backend=cpu", "job=basins", f"data.n_rows={rows}",
                       f"job.tune={str(tune).lower()}", *extra), str(out))
    return time.perf_counter() - t0, json.loads((out / "metrics.json").read_text())


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=200000)
    ap.add_argument("--tune", action="store_true", help="with the 108-combo grid")
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args()
    report = Run(["fast-hdbscan", "scipy", "numba"])
    run(2000, False)  # warm: Numba compilation and imports outside the timings
    base_s, base = run(args.rows, args.tune, "job.null_model=false")
    full_s, full = run(args.rows, args.tune)
    lines = [f"rows {args.rows}, tune={args.tune}", "",
             "| stage | without null draws (s) | with (s) |", "|---|---|---|"]
    for stage in dict.fromkeys([*base["seconds"], *full["seconds"]]):
        lines.append(f"| {stage} | {base['seconds'].get(stage, 0):.1f} | "
                     f"{full['seconds'].get(stage, 0):.1f} |")
    lines += [f"| **wall** | {base_s:.1f} | {full_s:.1f} |", "",
              f"- ratio with / without: **{full_s / base_s:.2f}x** "
              f"({full['null_draws']} null draws)",
              f"- significant basins: test {full['n_significant_basins']}, train "
              f"{full['train_n_significant_basins']}, per null draw "
              f"{full.get('null_n_significant_basins')}",
              f"- forecast skill vs null: test {full['forecast_skill_vs_null']:.3f}, train "
              f"{full['train_forecast_skill_vs_null']:.3f}"]
    print("\n".join(lines))
    report.write(args.out, "basins: the cost of significance and the forecast", lines)


if __name__ == "__main__":
    main()
