"""What the basin evidence (engine._basins.evidence, all methods) costs on top of the basins
job: one run of the job on the synthetic tweets with the defaults (8 null draws, which the
evidence reuses), per-stage seconds, and the evidence stage against the rest of the job
(target: at most 2x).

    PYTHONPATH=. python bench/basins_evidence.py --rows 200000

Memory at 5.5M rows (d = 3 axes, float64): the sample holds coordinates, days, engagement
and reply parents, 5.5M x (3 + 1 + 1 + 1) x 8 B = 264 MB; one null draw's days at a time
(44 MB); the density grid is 128^3 cells x 8 B = 16 MB (three alive at once: the bin's
histogram, the decayed history, the smoothed density) plus the rows' cell index (44 MB);
per bin the decayed weights are one 44 MB temporary. The graph is built on at most
`job.evidence_landmarks` (2,000) rows per window and the transport plan on
`job.evidence_transport_points` (300) per snapshot, so neither grows with the rows. Peak
about 0.5 GB beside the job's own arrays; time grows with rows x bins for the density's
decayed histograms (one pass over the rows per bin and draw).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

from bench.basins_planted import compose, header
from engine.app import run_config

OUT = Path(__file__).resolve().parent / "results" / "basins_evidence.md"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=200000)
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args()
    run_config(compose("backend=cpu", "job=basins", "data.n_rows=2000", "job.tune=false",
                       "job.null_draws=3"), tempfile.mkdtemp())  # warm: Numba, imports
    out = Path(tempfile.mkdtemp(prefix="basins_evidence_"))
    t0 = time.perf_counter()
    run_config(compose("backend=cpu", "job=basins", f"data.n_rows={args.rows}",
                       "job.tune=false"), str(out))
    wall = time.perf_counter() - t0
    m = json.loads((out / "metrics.json").read_text())
    ev = m["seconds"]["evidence"]
    lines = [*header(sys.argv[1:], "basins: the cost of the basin evidence",
                     "bench/basins_evidence.py"), f"rows {args.rows}, tune=false", "",
             "| stage | seconds |", "|---|---|"]
    lines += [f"| {k} | {v:.1f} |" for k, v in m["seconds"].items()]
    lines += [f"| **wall** | {wall:.1f} |", "",
              f"- evidence / rest of the job: **{ev / (wall - ev):.2f}x** (target <= 2x), "
              f"methods {m['evidence_methods']}, {m['null_draws']} null draws",
              f"- density chose h = {m['evidence_bandwidth']:.4g}, "
              f"tau = {m['evidence_tau_days']:.3g} days"]
    args.out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
