"""Benchmark: `job=basins` tuning vs a straightforward implementation of the seed's method.

Same synthetic tweets (projected onto the planted axes), same train bins, in one run:
- ours: weighted samples WITHOUT replacement, fast_hdbscan with min_samples=10 and one
  spanning tree per sample shared by the four min_cluster_frac values (all samples of a bin
  share one kNN query), co-assignment over kNN edges, connected components; combos of one
  (bin size, alpha, lambda) run together;
- seed: bootstrap WITH replacement (p ∝ weights), the hdbscan library with min_samples left
  to default (= min_cluster_size), a dense n x n co-assignment (together / runs),
  agglomerative (average linkage) consensus at distance 0.5, one combo at a time.
Equal cores: both sides run on one core (one process, one Numba and one BLAS thread, hdbscan's
core_dist_n_jobs=1), which gives the headline ratio; ours then runs the 7-day group once
more as the job does by default (one process per core).
Both feed the same tracking, soft matching and forward-chaining scores, so the metrics
compare the clustering. Reports time per combo, the full 108-combo grid estimate and the
continuation metrics of each side; plus one HDBSCAN run with fast_hdbscan vs hdbscan.

    PYTHONPATH=. python bench/basins.py --rows 200000 --boot 20 --seed-combos 2
Writes bench/results/basins.md.
"""

from __future__ import annotations

import argparse
import sys
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

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _report import Run  # noqa: E402


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
        lab = hdbscan.HDBSCAN(min_cluster_size=mcs, core_dist_n_jobs=1).fit(X[idx]).labels_
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


def one_core():
    """One Numba thread and one BLAS thread in this process (restored on exit)."""
    import contextlib

    import numba
    from threadpoolctl import threadpool_limits

    @contextlib.contextmanager
    def limits():
        threads = numba.get_num_threads()
        numba.set_num_threads(1)
        try:
            with threadpool_limits(limits=1):
                yield
        finally:
            numba.set_num_threads(threads)

    return limits()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=200_000)
    ap.add_argument("--boot", type=int, default=20)
    ap.add_argument("--seed-combos", type=int, default=2)
    ap.add_argument("--out", default="bench/results/basins.md")
    ap.add_argument("--workers", type=int, default=0,
                    help="processes for ours' all-cores run (0: one per core, as the job)")
    ap.add_argument("--bin-sizes", default="5,7,14")
    ap.add_argument("--seed-frac", type=float, nargs="*", default=[0.005, 0.01, 0.002, 0.02])
    args = ap.parse_args()
    run = Run(["fast-hdbscan", "hdbscan", "scikit-learn", "scipy", "numba"])
    args.workers = n_workers(args.workers, args.rows)

    p = Params(n_bootstrap=args.boot)
    rows, _, _ = load_rows(p, DataConfig(n_rows=args.rows), 0)
    start = float(rows.days.min())
    cut = start + 0.6 * (rows.days.max() - start)
    base = replace(Settings(), n_bootstrap=args.boot)
    lines = [f"- rows: {args.rows} synthetic tweets over a year, 3-D coordinates (planted "
             "axes), train = first 60% of the range",
             f"- n_bootstrap = {args.boot}, sample_frac = 0.8, min_samples = 10 (ours)",
             "- equal cores: both sides on one core (one process, one Numba and one BLAS "
             "thread; the seed's hdbscan with core_dist_n_jobs=1); ours also on all cores "
             f"({args.workers} processes, the job's default)", ""]

    # One HDBSCAN run on a bin-sized sample.
    pd7 = tuning.prepare_part(rows, start, cut, 7.0, base.knn_k, 0)
    big = max(pd7.members, key=len)
    with one_core():
        hd = hdbscan_run_timing(rows.coords[big][: int(0.8 * len(big))])
    lines += ["## One HDBSCAN run (one 7-day bin's sample, "
              f"{int(0.8 * len(big))} points, min_cluster_size 20, one core)\n",
              "| implementation | seconds |", "|---|---|"]
    lines += [f"| {k} | {v:.4f} |" for k, v in hd.items()]
    print("\n".join(lines[-len(hd) - 3:]))

    def group(bin_size, mapper):
        combos = tuning.make_grid([bin_size], [0.002, 0.005, 0.01, 0.02], [1.0], [1.0])
        t0, c0 = time.perf_counter(), time.process_time()
        res = tuning.tune(rows, start, cut, base, combos, [], 0, mapper, lambda r: None,
                          {"Ns": (2, 3), "Ss": (1, 2), "Tqs": (0.5, 0.6), "k_fracs": (0.05, 0.1)})
        return time.perf_counter() - t0, time.process_time() - c0, res

    # Ours on one core: one (alpha, lambda) group per bin size = 4 combos each.
    ours = {}
    serial = LocalPool(1)
    with one_core():
        warm_up(0)
        for bin_size in [float(b) for b in args.bin_sizes.split(",")]:
            ours[bin_size] = group(bin_size, serial.map)
            print(f"ours bin {bin_size}, one core: {ours[bin_size][0]:.1f}s for 4 combos",
                  flush=True)
    grid_estimate = sum(dt for dt, _, _ in ours.values()) * 9 * 3 / len(ours)

    # Ours on all cores, as the job runs by default.
    pool = LocalPool(args.workers)
    pool.map(warm_up, range(4 * args.workers))  # worker start-up: once per job, not per group
    parallel_dt, _, parallel_res = group(7.0, pool.map)
    pool.close()

    # The seed's method on the first combos of the 7-day group, on one core.
    seed_rows = []
    seed_combos = tuning.make_grid([7.0], args.seed_frac, [1.0], [1.0])
    with one_core():
        for c in seed_combos[: args.seed_combos]:
            s = replace(base, min_cluster_frac=c["min_cluster_frac"],
                        recency_lambda=c["recency_lambda"], alpha=c["alpha"], bin_size_days=7.0)
            t0, c0 = time.perf_counter(), time.process_time()
            m = seed_combo(rows, pd7, s, 0)
            seed_rows.append((c, time.perf_counter() - t0, time.process_time() - c0, m))
            print(f"seed combo frac={c['min_cluster_frac']}: {seed_rows[-1][1]:.1f}s AUROC "
                  f"{m['continuation_auroc']:.3f}", flush=True)

    dt7, cpu7, res7 = ours[7.0]
    ours7 = {r["min_cluster_frac"]: r for r in res7}
    per_combo_ours = dt7 / 4
    per_combo_seed = float(np.mean([dt for _, dt, _, _ in seed_rows]))
    lines += ["\n## Per combo (7-day bins, lambda = ln2/bin, alpha = 1), one core each\n",
              "| min_cluster_frac | side | seconds | CPU s | continuation AUROC | Brier | "
              "log loss | size MAE | clusters |", "|---|---|---|---|---|---|---|---|---|"]
    for c, dt, cpu, m in seed_rows:
        o = ours7[c["min_cluster_frac"]]
        for side, sec, cs, mm in (("ours", per_combo_ours, cpu7 / 4, o), ("seed", dt, cpu, m)):
            lines.append(f"| {c['min_cluster_frac']} | {side} | {sec:.1f} | {cs:.1f} | "
                         f"{mm['continuation_auroc']:.3f} | {mm['continuation_brier']:.3f} | "
                         f"{mm['continuation_logloss']:.3f} | {mm['size_mae']:.1f} | "
                         f"{mm['n_clusters']} |")
    same = [r["continuation_auroc"] for r in parallel_res] == [r["continuation_auroc"]
                                                               for r in res7]
    lines += ["", f"- ours: {per_combo_ours:.1f} s per combo on one core (4 combos sharing "
              f"samples and spanning trees); seed: {per_combo_seed:.1f} s per combo on one core",
              f"- speed-up per combo, equal cores: **{per_combo_seed / per_combo_ours:.1f}x**",
              f"- ours on {args.workers} processes (the job's default): "
              f"{parallel_dt / 4:.1f} s per combo ({per_combo_seed / (parallel_dt / 4):.1f}x "
              f"the one-core seed); results identical to one core: {same}",
              f"- full 108-combo grid on one core, ours: {grid_estimate / 60:.1f} min "
              f"(measured groups x 9); seed: {108 * per_combo_seed / 3600:.1f} h "
              "(7-day combo time x 108)",
              "- ours by bin size, one core: " + ", ".join(
                  f"{b:g} d: {dt:.1f} s / 4 combos" for b, (dt, _, _) in ours.items())]
    print("\n".join(lines))
    run.write(args.out, "basins: the tuning grid, ours vs the seed's method", lines)


if __name__ == "__main__":
    main()
