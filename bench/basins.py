"""Benchmark: `job=basins` tuning vs a straightforward implementation of the seed's method.

Same synthetic tweets (projected onto the planted axes), same train bins, in one run:
- ours: weighted samples WITHOUT replacement, fast_hdbscan with min_samples=10 and one
  spanning tree per sample shared by the four min_cluster_frac values (all samples of a bin
  share one kNN query), co-assignment over kNN edges, connected components; combos of one
  (bin size, alpha, lambda) run together; bins spread over one process per core, as the job
  does by default (`--workers`; `--serial-too` also times the 7-day group in one process);
- seed: bootstrap WITH replacement (p ∝ weights), the hdbscan library with min_samples left
  to default (= min_cluster_size), a dense n x n co-assignment (together / runs),
  agglomerative (average linkage) consensus at distance 0.5, one combo at a time.
Both feed the same tracking, soft matching and forward-chaining scores, so the metrics
compare the clustering. Reports time per combo, the full 108-combo grid estimate and the
continuation metrics of each side; plus one HDBSCAN run with fast_hdbscan vs hdbscan.

    PYTHONPATH=. python bench/basins.py --rows 200000 --boot 20 --seed-combos 2
"""

from __future__ import annotations

import argparse
import os
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from engine._basins import tuning
from engine._basins.consensus import Consensus
from engine._basins.pipeline import analyse_part
from engine._basins.sampling import sample_weights
from engine._basins.settings import Settings, min_cluster_size
from engine._basins.workers import LocalPool, n_workers
from engine.config import DataConfig
from engine.jobs.basins import Params, load_rows

NOTES_MARKER = "<!-- notes: kept when bench/basins.py rewrites the figures above -->\n"


def seed_bin_consensus(X, w, n_boot, mcs, max_clusters, rng) -> Consensus:
    """The seed's consensus: bootstrap with replacement, hdbscan, dense co-assignment,
    agglomerative clustering of 1 - co-assignment."""
    import hdbscan
    from sklearn.cluster import AgglomerativeClustering

    n = len(X)
    if n < max(mcs, 3):
        return Consensus(np.full(n, -1), np.zeros(n), np.zeros(0), np.zeros(0, int), 0.0, n)
    co = np.zeros((n, n), np.float32)
    p = w / w.sum()
    for _ in range(n_boot):
        idx = rng.choice(n, n, replace=True, p=p)
        lab = hdbscan.HDBSCAN(min_cluster_size=mcs).fit(X[idx]).labels_
        full = np.full(n, -1)
        full[idx] = lab
        s = full >= 0
        co += (full[:, None] == full[None, :]) & s[:, None] & s[None, :]
    co /= n_boot
    agg = AgglomerativeClustering(n_clusters=None, metric="precomputed", linkage="average",
                                  distance_threshold=0.5).fit(1 - co)
    lab = agg.labels_
    sizes = np.bincount(lab)
    keep = np.flatnonzero(sizes >= mcs)
    keep = keep[np.argsort(-sizes[keep])][:max_clusters]
    relabel = np.full(len(sizes), -1)
    relabel[keep] = np.arange(len(keep))
    labels = relabel[lab]
    point_conf = np.zeros(n)
    for c in range(len(keep)):
        m = np.flatnonzero(labels == c)
        point_conf[m] = co[np.ix_(m, m)].mean(1)
    k = len(keep)
    sizes = np.bincount(labels[labels >= 0], minlength=k)
    conf = np.array([point_conf[labels == c].mean() for c in range(k)])
    return Consensus(labels, point_conf, conf, sizes, 1.0, 0)


def seed_combo(rows, pd, s: Settings, seed: int):
    rng = np.random.default_rng(seed)
    results, sizes = [], []
    for b, idx in enumerate(pd.members):
        mcs = min_cluster_size(len(idx), s)
        w = sample_weights(rows.retweets[idx], rows.favorites[idx],
                           pd.bins.ends[b] - rows.days[idx], s.alpha, s.recency_lambda)
        results.append(seed_bin_consensus(rows.coords[idx], w, s.n_bootstrap, mcs,
                                          s.consensus_max_clusters, rng))
        sizes.append(mcs)
    return analyse_part(rows, pd.bins, pd.members, results, sizes, s).metrics


def warm_up(_):
    """Load a worker's modules and Numba caches (what the job's first bin pays)."""
    from engine._basins.hdbscan_ops import labels_cpu_samples

    X = np.random.default_rng(0).normal(size=(200, 3))
    labels_cpu_samples(X, np.arange(160)[None, :], 10, [10])


def hdbscan_run_timing(X, min_samples=10, mcs=20, reps=5):
    import fast_hdbscan
    import hdbscan

    from engine._basins.hdbscan_ops import labels_cpu

    labels_cpu(X, min_samples, [mcs])
    out = {}
    for name, fn in (("engine (fast_hdbscan, serial MST)", lambda: labels_cpu(X, min_samples, [mcs])),
                     ("fast_hdbscan.HDBSCAN", lambda: fast_hdbscan.HDBSCAN(
                         min_cluster_size=mcs, min_samples=min_samples).fit(X)),
                     ("hdbscan.HDBSCAN", lambda: hdbscan.HDBSCAN(
                         min_cluster_size=mcs, min_samples=min_samples).fit(X)),
                     ("hdbscan.HDBSCAN, min_samples default", lambda: hdbscan.HDBSCAN(
                         min_cluster_size=mcs).fit(X))):
        fn()
        t = time.perf_counter()
        for _ in range(reps):
            fn()
        out[name] = (time.perf_counter() - t) / reps
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=200_000)
    ap.add_argument("--boot", type=int, default=20)
    ap.add_argument("--seed-combos", type=int, default=2)
    ap.add_argument("--out", default="bench/results/basins.md")
    ap.add_argument("--workers", type=int, default=0,
                    help="processes for our per-bin work (0: one per core, as the job)")
    ap.add_argument("--bin-sizes", default="5,7,14")
    ap.add_argument("--serial-too", action="store_true",
                    help="also time the 7-day group in one process")
    ap.add_argument("--seed-frac", type=float, nargs="*", default=[0.005, 0.01, 0.002, 0.02])
    args = ap.parse_args()
    args.workers = n_workers(args.workers, args.rows)

    p = Params(n_bootstrap=args.boot)
    rows, _, _ = load_rows(p, DataConfig(n_rows=args.rows), 0)
    start = float(rows.days.min())
    cut = start + 0.6 * (rows.days.max() - start)
    base = replace(Settings(), n_bootstrap=args.boot)
    lines = ["# basins benchmark\n", f"- rows: {args.rows} synthetic tweets over a year, "
             f"3-D coordinates (planted axes), train = first 60% of the range",
             f"- n_bootstrap = {args.boot}, sample_frac = 0.8, min_samples = 10 (ours), "
             f"{args.workers} process(es) for our per-bin work",
             f"- machine: {os.cpu_count()} cores, load average at start "
             f"{os.getloadavg()[0]:.1f} (shared with other processes)\n"]
    print("\n".join(lines))

    # One HDBSCAN run on a bin-sized sample.
    pd7 = tuning.prepare_part(rows, start, cut, 7.0, base.knn_k, 0)
    big = max(pd7.members, key=len)
    hd = hdbscan_run_timing(rows.coords[big][: int(0.8 * len(big))])
    lines += ["## One HDBSCAN run (one 7-day bin's sample, "
              f"{int(0.8 * len(big))} points, min_cluster_size 20)\n",
              "| implementation | seconds |", "|---|---|"]
    lines += [f"| {k} | {v:.4f} |" for k, v in hd.items()]
    print("\n".join(lines[-len(hd) - 3:]))

    # Ours: one (alpha, lambda) group per bin size = 4 combos each.
    ours = {}
    grid_estimate = 0.0
    pool = LocalPool(args.workers)
    pool.map(warm_up, range(4 * args.workers))  # worker start-up: once per job, not per group

    def group(bin_size, mapper):
        combos = tuning.make_grid([bin_size], [0.002, 0.005, 0.01, 0.02], [1.0], [1.0])
        t0 = time.perf_counter()
        res = tuning.tune(rows, start, cut, base, combos, [], 0, mapper, lambda r: None,
                          {"Ns": (2, 3), "Ss": (1, 2), "Tqs": (0.5, 0.6), "k_fracs": (0.05, 0.1)})
        return time.perf_counter() - t0, res

    serial = None
    if args.serial_too and args.workers > 1:
        dt, res = group(7.0, LocalPool(1).map)
        serial = (dt, [r["continuation_auroc"] for r in res])
        print(f"ours bin 7.0, 1 process: {dt:.1f}s for 4 combos", flush=True)
    for bin_size in [float(b) for b in args.bin_sizes.split(",")]:
        dt, res = group(bin_size, pool.map)
        ours[bin_size] = (dt, res)
        grid_estimate += dt * 9  # 9 (alpha, lambda) groups of 4 combos per bin size
        print(f"ours bin {bin_size}: {dt:.1f}s for 4 combos; AUROC "
              f"{[round(r['continuation_auroc'], 3) for r in res]}", flush=True)
    grid_estimate *= 3 / len(ours)  # bin sizes not measured: as the mean of those measured
    pool.close()

    # The seed's method on the first combos of the 7-day group.
    seed_rows = []
    seed_combos = tuning.make_grid([7.0], args.seed_frac, [1.0], [1.0])
    for c in seed_combos[: args.seed_combos]:
        s = replace(base, min_cluster_frac=c["min_cluster_frac"],
                    recency_lambda=c["recency_lambda"], alpha=c["alpha"], bin_size_days=7.0)
        t0 = time.perf_counter()
        m = seed_combo(rows, pd7, s, 0)
        dt = time.perf_counter() - t0
        seed_rows.append((c, dt, m))
        print(f"seed combo frac={c['min_cluster_frac']}: {dt:.1f}s AUROC "
              f"{m['continuation_auroc']:.3f}", flush=True)

    ours7 = {r["min_cluster_frac"]: r for r in ours[7.0][1]}
    per_combo_ours = ours[7.0][0] / 4
    per_combo_seed = float(np.mean([dt for _, dt, _ in seed_rows]))
    lines += ["\n## Per combo (7-day bins, lambda = ln2/bin, alpha = 1)\n",
              "| min_cluster_frac | side | seconds | continuation AUROC | Brier | log loss | "
              "size MAE | clusters |", "|---|---|---|---|---|---|---|---|"]
    for c, dt, m in seed_rows:
        o = ours7[c["min_cluster_frac"]]
        for side, sec, mm in (("ours", per_combo_ours, o), ("seed", dt, m)):
            lines.append(f"| {c['min_cluster_frac']} | {side} | {sec:.1f} | "
                         f"{mm['continuation_auroc']:.3f} | {mm['continuation_brier']:.3f} | "
                         f"{mm['continuation_logloss']:.3f} | {mm['size_mae']:.1f} | "
                         f"{mm['n_clusters']} |")
    lines += ["", f"- ours: {per_combo_ours:.1f} s per combo (4 combos sharing samples and "
              f"spanning trees); seed: {per_combo_seed:.1f} s per combo",
              f"- speed-up per combo: **{per_combo_seed / per_combo_ours:.1f}x**",
              f"- full 108-combo grid, ours: {grid_estimate / 60:.1f} min (measured groups x 9);"
              f" seed: {108 * per_combo_seed / 3600:.1f} h (7-day combo time x 108)",
              "- ours by bin size: " + ", ".join(
                  f"{b:g} d: {dt:.1f} s / 4 combos" for b, (dt, _) in ours.items())]
    if serial is not None:
        same = serial[1] == [r["continuation_auroc"] for r in ours[7.0][1]]
        lines += [f"- ours in one process: {serial[0] / 4:.1f} s per combo "
                  f"(speed-up {per_combo_seed / (serial[0] / 4):.1f}x); "
                  f"{args.workers} processes: {per_combo_ours:.1f} s; results identical: {same}"]
    text = "\n".join(lines) + "\n"
    print(text)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    notes = ""  # hand-written notes below the marker survive a re-run
    if out.exists() and NOTES_MARKER in out.read_text():
        notes = out.read_text().split(NOTES_MARKER, 1)[1]
    out.write_text(text + "\n" + NOTES_MARKER + notes)


if __name__ == "__main__":
    main()
