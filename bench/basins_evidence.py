"""What the basin evidence (engine._basins.evidence, all default methods) costs on top of the
basins job: the job on the 200k-row synthetic tweets (bench/basins.py's data, tune=false,
the default 8 null draws, which the evidence reuses) with the evidence off and on; per-stage
seconds, each method's scoring time, and the evidence stage against the rest of the job
(target: at most 2x).

    PYTHONPATH=. python bench/basins_evidence.py --rows 200000

Each method's time is its `score` summed over the real rows and every null draw (a timer
around the module's `score`); the rest of the stage is the density's fit of h and tau,
the Leiden communities and the bookkeeping.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from bench._report import Run
from bench.basins_planted import compose
from engine._basins import evidence
from engine.app import run_config

OUT = Path(__file__).resolve().parent / "results" / "basins_evidence.md"
SCORED = defaultdict(float)  # method -> seconds in its score()


class Timed:
    """A method module whose `score` adds its seconds to SCORED."""

    def __init__(self, name: str, module) -> None:
        self.name, self.module = name, module

    def __getattr__(self, attr):
        return getattr(self.module, attr)

    def score(self, *args, **kwargs):
        t0 = time.perf_counter()
        try:
            return self.module.score(*args, **kwargs)
        finally:
            SCORED[self.name] += time.perf_counter() - t0


def job(rows: int, *extra: str) -> tuple[dict, float]:
    out = Path(tempfile.mkdtemp(prefix="basins_evidence_"))
    t0 = time.perf_counter()
    run_config(compose("backend=cpu", "job=basins", f"data.n_rows={rows}", "job.tune=false",
                       *extra), str(out))
    return json.loads((out / "metrics.json").read_text()), time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=200000)
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args()
    run = Run(["scipy", "scikit-learn", "pot", "igraph", "numba"])
    job(2000, "job.null_draws=3")  # warm: Numba, imports
    off, wall_off = job(args.rows, "job.evidence=[]")
    for name, module in list(evidence.METHODS.items()):
        evidence.METHODS[name] = Timed(name, module)
    on, wall_on = job(args.rows)
    ev = on["seconds"]["evidence"]
    rest = wall_on - ev
    stages = sorted(set(off["seconds"]) | set(on["seconds"]))
    lines = [f"- rows {args.rows} (synthetic tweets over a year, 3-D coordinates), "
             f"tune=false, {on['null_draws']} null draws, methods {on['evidence_methods']}",
             "", "| stage | evidence off (s) | on (s) |", "|---|---|---|"]
    lines += [f"| {k} | {off['seconds'].get(k, 0):.1f} | {on['seconds'].get(k, 0):.1f} |"
              for k in stages]
    lines += [f"| **wall** | {wall_off:.1f} | {wall_on:.1f} |", "",
              "| evidence method | score seconds (real + every null draw) |", "|---|---|"]
    lines += [f"| {k} | {v:.1f} |" for k, v in SCORED.items()]
    lines += [f"| fit (density h, tau), Leiden communities, bookkeeping | "
              f"{ev - sum(SCORED.values()):.1f} |", "",
              f"- evidence stage / the rest of the job: **{ev / rest:.2f}x** (target <= 2x); "
              f"against the job without evidence: {ev / wall_off:.2f}x",
              f"- density chose h = {on['evidence_bandwidth']:.4g}, "
              f"tau = {on['evidence_tau_days']:.3g} days"]
    run.write(args.out, "basins: the cost of the basin evidence", lines)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
