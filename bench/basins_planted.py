"""Planted basins in noise (seed 001's own test): recovery, false discoveries and strength of
`job=basins` significant basins, as a function of rows per bin and basin intensity, with the
matching pure noise (the same generator, times shuffled) beside each cell.

Each cell runs the job on `data.planted=true` data (5 basins, windows 90-200 days, 2-D
uniform background over a year, each bin size of --bin) for several seeds:
- recovered: planted basins alive >= 2 bins in a part that one significant basin matches
  (centre within 2 planted spreads, time IoU >= 0.5; `engine.synthetic.planted.match_basins`),
  over the planted basins alive;
- one-to-one: runs where every alive planted basin is matched and every significant basin
  matches one;
- false: significant basins matching no planted basin alive in the part, or a second
  fragment of one (both parts, per run); noise: significant basins on the shuffled twin;
- strength: median strength of the matched basins; limit: the job's own
  `detection_limit_intensity`, measured by planting a ladder of basins alive
  `job.detect_bins` bins into a shuffled draw of the test part (`engine/_basins/injection.py`);
- which objective tells real data from the time-shuffled null: the forecast's skill against
  the null (`forecast_skill_vs_null`, train and test: > 0 is real) and continuation AUROC's
  margin (`continuation_auroc - null_continuation_auroc`), as shares of parts where real wins.

    PYTHONPATH=. python bench/basins_planted.py --rows 20000 40000 --intensity 0.25 0.125 0.0625 \
        --seeds 0 1 --bin 7 14 --boot 5
"""

from __future__ import annotations

import argparse
import itertools
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from bench._report import Run
from engine.app import run_config
from engine.synthetic import planted

OUT = Path(__file__).resolve().parent / "results" / "basins_planted.md"


def compose(*overrides: str):
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    from engine import config

    config.register()
    with initialize_config_dir(str(config.conf_dir()), version_base=None):
        return hydra_compose("config", overrides=list(overrides))


def run(rows: int, intensity: float, seed: int, bin_days: float, extra: list[str],
        shuffle: bool = False) -> tuple[dict, Path]:
    out = Path(tempfile.mkdtemp(prefix="planted_"))
    overrides = ["backend=cpu", "job=basins", "data.planted=true", f"data.n_rows={rows}",
                 f"data.planted_intensity=[{intensity}]", f"job.bin_size_days={bin_days}",
                 "job.tune=false", f"seed={seed}", *extra]
    if shuffle:
        overrides.append("data.planted_shuffle=true")
    run_config(compose(*overrides), str(out))
    return json.loads((out / "metrics.json").read_text()), out


def score(out: Path, rows: int, intensity: float, seed: int, bin_days: float) -> dict:
    truth = planted.make_truth(rows, intensity=intensity, seed=seed)
    bins = pq.read_table(out / "bins.parquet", columns=["part", "bin_start_day"]).to_pydict()
    alive = matched = false = 0
    strengths = []
    exact = True
    for part in ("train", "test"):
        t = pq.read_table(out / f"{part}_basins_summary.parquet").to_pydict()
        keep = np.asarray(t["significant"], bool)
        days = np.asarray(bins["bin_start_day"])[np.asarray(bins["part"]) == part]
        span = (days.min(), days.max() + bin_days)
        centres = np.stack([np.asarray(t["core_x"]), np.asarray(t["core_y"])], 1)[keep]
        first = np.asarray(t["active_first_day"])[keep]
        last = np.asarray(t["active_last_day"])[keep]
        m = planted.match_basins(truth, centres, first, last, span, min_days=2 * bin_days)
        f2p = m["found_to_planted"]
        hit = np.unique(f2p[f2p >= 0])
        alive += int(m["planted_alive"].sum())
        matched += len(hit)
        # False: matching no planted basin alive in the part at all (a basin seen for less
        # than two bins and found is not false), or a second fragment of one.
        loose = planted.match_basins(truth, centres, first, last, span, min_days=0.01)
        lf = loose["found_to_planted"]
        false += int((lf < 0).sum()) + int((lf >= 0).sum()) - len(np.unique(lf[lf >= 0]))
        strengths += list(np.asarray(t["strength"])[keep][f2p >= 0])
        exact &= len(hit) == m["planted_alive"].sum() and (f2p >= 0).all() and \
            len(f2p) == len(hit)
    return {"alive": alive, "matched": matched, "false": false, "exact": bool(exact),
            "strength": float(np.median(strengths)) if strengths else float("nan")}


def _num(x) -> float:
    return float(x) if x is not None else float("nan")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, nargs="+", default=[20000, 60000])
    ap.add_argument("--intensity", type=float, nargs="+", default=[0.5, 0.25, 0.125, 0.0625])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--bin", type=float, nargs="+", default=[7.0, 14.0])
    ap.add_argument("--cells", nargs="*", default=None, metavar="BIN:ROWS",
                    help="(bin days, rows) pairs instead of every --bin x --rows pair")
    ap.add_argument("--boot", type=int, default=10)
    ap.add_argument("--no-noise", action="store_true")
    ap.add_argument("--noise-intensity", type=float, nargs="*", default=None,
                    help="run the shuffled twin only at these intensities (its layout is the "
                         "same at every intensity but the basins' row counts)")
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args()
    extra = [f"job.n_bootstrap={args.boot}"]
    run = Run(["fast-hdbscan", "scipy", "numba"])
    lines = []
    lines += ["| bin days | rows | rows per bin | intensity | basin rows per bin | recovered | one-to-one runs | "
              "false per run | noise per run | median strength | job's limit (intensity) | "
              "forecast beats null | AUROC beats null | s per run |",
              "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    cells = [(float(c.split(":")[0]), int(c.split(":")[1])) for c in args.cells] if args.cells \
        else list(itertools.product(args.bin, args.rows))
    for (bin_days, rows), intensity in itertools.product(cells, args.intensity):
        cells, noise, limits, secs, fc_wins, auc_wins = [], [], [], [], [], []
        for seed in args.seeds:
            t0 = time.perf_counter()
            m, out = run(rows, intensity, seed, bin_days, extra)
            secs.append(time.perf_counter() - t0)
            cells.append(score(out, rows, intensity, seed, bin_days))
            limits.append(m.get("detection_limit_intensity", float("nan")))
            for pre in ("", "train_"):
                fc_wins.append(_num(m.get(f"{pre}forecast_skill_vs_null")) > 0)
                auc_wins.append(_num(m.get(f"{pre}continuation_auroc")) >
                                _num(m.get(f"null_{pre}continuation_auroc")))
            if not args.no_noise and (args.noise_intensity is None
                                      or intensity in args.noise_intensity):
                mn, _ = run(rows, intensity, seed, bin_days, extra, shuffle=True)
                noise.append(mn["n_significant_basins"] + mn["train_n_significant_basins"])
            print(rows, intensity, seed, cells[-1], noise[-1:] , flush=True)
        truth = planted.make_truth(rows, intensity=intensity, seed=args.seeds[0])
        per_bin = rows / truth.n_days * bin_days
        basin_per_bin = intensity * truth.counts[-1] / truth.n_days * bin_days
        alive = sum(c["alive"] for c in cells)
        lines.append(
            f"| {bin_days:g} | {rows} | {per_bin:.0f} | {intensity:g} | {basin_per_bin:.0f} | "
            f"{sum(c['matched'] for c in cells)}/{alive} | "
            f"{sum(c['exact'] for c in cells)}/{len(cells)} | "
            f"{np.mean([c['false'] for c in cells]):.1f} | "
            f"{np.mean(noise) if noise else float('nan'):.1f} | "
            f"{np.nanmedian([c['strength'] for c in cells]):.0f} | "
            f"{np.nanmedian(limits):.3f} | {sum(fc_wins)}/{len(fc_wins)} | "
            f"{sum(auc_wins)}/{len(auc_wins)} | {np.mean(secs):.0f} |")
    run.write(args.out, "basins on planted basins in noise", lines)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
