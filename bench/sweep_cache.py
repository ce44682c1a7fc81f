"""What the sweep cache saves: the runs of a basins sweep with the cache against without it.

    python bench/sweep_cache.py [--rows 20000] [--days 180] [--combos 8] [--vary clustering]

Runs the same combinations (`--vary clustering`: min_cluster_frac x alpha, which change the
bins' consensus; `--vary tracking`: the soft-matching gamma, which does not; one bin size,
`job.tune=false`) twice in
this process, each run once computing its own per-bin kNN graphs (`cache_dir=off`) and once
sharing them through a cache directory, as the runs of a multirun do; the two modes alternate
which goes first. One untimed run comes first, so imports and JIT are outside the timing.
Prints a table and writes bench/results/sweep_cache_<vary>.md.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from _report import Run  # noqa: E402


def run_once(overrides: list[str], out: Path, cache_dir: str) -> dict:
    from engine.app import run_config
    from tests.conftest import compose

    cfg = compose("backend=cpu", f"cache_dir={cache_dir}", *overrides)
    t0 = time.perf_counter()
    run_config(cfg, str(out))
    metrics = json.loads((out / "metrics.json").read_text())
    metrics["wall"] = time.perf_counter() - t0
    return metrics


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=20000)
    ap.add_argument("--days", type=int, default=180)
    ap.add_argument("--combos", type=int, default=8)
    ap.add_argument("--vary", choices=["clustering", "tracking"], default="clustering")
    ap.add_argument("--out", help="default: bench/results/sweep_cache_<vary>.md")
    args = ap.parse_args()
    run = Run(["fast-hdbscan", "hydra-core"])
    import logging

    logging.disable(logging.INFO)
    base = ["job=basins", "job.tune=false", "job.null_model=false", f"data.n_rows={args.rows}",
            f"data.n_days={args.days}", "job.n_bootstrap=5"]
    if args.vary == "clustering":
        grid = itertools.product([0.002, 0.005, 0.01, 0.02], [0.5, 1.0, 2.0])
        combos = [[f"job.min_cluster_frac={f}", f"job.alpha={a}"] for f, a in grid]
    else:
        combos = [[f"job.softmatch_gamma={g}"] for g in (0.5, 1.0, 2.0, 4.0, 8.0, 16.0)]
    combos = combos[:args.combos]
    runs: dict[str, list[dict]] = {"no cache": [], "shared cache": []}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        run_once(base + combos[0], tmp / "warm", "off")  # imports and JIT outside the timing
        modes = {"no cache": "off", "shared cache": str(tmp / "cache")}
        for i, combo in enumerate(combos):
            # Alternate which mode goes first, so drifting machine load hits both alike.
            order = list(modes) if i % 2 == 0 else list(modes)[::-1]
            for label in order:
                runs[label].append(run_once(base + combo, tmp / f"{label}-{i}", modes[label]))
    rows = [{
        "mode": label, "runs": len(ms),
        "seconds": sum(m["wall"] for m in ms),
        "final_stage": sum(m["seconds"].get("final", 0.0) for m in ms),
        "hits": sum(m.get("cache", {}).get("hits", 0) for m in ms),
        "misses": sum(m.get("cache", {}).get("misses", 0) for m in ms),
        "objectives": [round(m["objective"], 6) for m in ms],
    } for label, ms in runs.items()]
    same = rows[0]["objectives"] == rows[1]["objectives"]
    ratio = rows[0]["seconds"] / rows[1]["seconds"]
    title = (f"Sweep cache: basins, {args.rows} rows over {args.days} days, {len(combos)} runs "
             f"varying {args.vary} ({', '.join(c.split('=')[0] for c in combos[0])})")
    lines = [
        "| mode | runs | total s | final stage s | cache hits | misses |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(f"| {r['mode']} | {r['runs']} | {r['seconds']:.1f} | {r['final_stage']:.1f} "
                     f"| {r['hits']} | {r['misses']} |")
    lines += ["", f"no cache / shared cache: **{ratio:.2f}x**; same objectives in both: {same}."]
    print("\n".join(lines))
    run.write(args.out or ROOT / "bench" / "results" / f"sweep_cache_{args.vary}.md", title,
              lines)


if __name__ == "__main__":
    main()
