"""Benchmark: `balance` pair scoring, ours vs seed 000's approach, on the same synthetic clusters.

Seed 000 loops over pairs of users in each cluster, filters the cluster's dataframe twice per
pair, converts the two users' embedding lists to arrays and solves one matching with scipy.
Ours groups once, builds each cluster's similarity blocks with one matrix product per tile and
solves all pairs in parallel (Numba on CPU).

The seed's loop is far too slow for every pair of the full data, so it runs on a random sample
of pairs of every cluster (its per-cluster filter timed once per cluster, as the seed does it),
and its full time is extrapolated per cluster: filter + pairs x mean seconds per sampled pair.
The sampled pairs are also checked against ours (exact mode must agree to 1e-9).

    python bench/balance.py                       # 50 clusters of 20-400 users, 1-60 msgs, 384-d
    python bench/balance.py --clusters 10 --max-users 150   # a quicker run
Writes bench/results/balance.md.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine._balance.matching import MatchOptions  # noqa: E402
from engine._balance.table import score_pairs  # noqa: E402
from engine.backend import cpu_backend  # noqa: E402


def make_clusters(n_clusters, min_users, max_users, min_msgs, max_msgs, dim, seed):
    """Rows (cluster, user, embedding): users' messages around a per-user point near the
    cluster centre, so matched similarities spread over a realistic range."""
    rng = np.random.default_rng(seed)
    clusters, users, embs = [], [], []
    for c in range(n_clusters):
        centre = rng.standard_normal(dim)
        n_users = int(rng.integers(min_users, max_users + 1))
        counts = rng.integers(min_msgs, max_msgs + 1, n_users)
        offsets = rng.standard_normal((n_users, dim)) * 0.8
        for u, k in enumerate(counts):
            embs.append(centre + offsets[u] + rng.standard_normal((k, dim)) * 1.2)
            clusters.append(np.full(k, c))
            users.append(np.full(k, 1000 * c + u))
    emb = np.concatenate(embs).astype(np.float32)
    return np.concatenate(clusters), np.concatenate(users), emb


def seed_sample(cluster, user, emb, pairs_per_cluster, seed):
    """Seed 000's per-pair loop on a sample of pairs: (extrapolated seconds, sampled seconds,
    number sampled, sampled (cluster, user1, user2, dist), extrapolated CPU seconds of the
    pair loop)."""
    import polars as pl
    from scipy.optimize import linear_sum_assignment

    df = pl.DataFrame({"cluster_id": cluster, "user_id": user,
                       "embedding": pl.Series("embedding", emb)})
    rng = np.random.default_rng(seed)
    total_seconds, sampled_seconds, n_sampled, cpu_seconds = 0.0, 0.0, 0, 0.0
    rows = []
    for c in np.unique(cluster):
        t0 = time.perf_counter()
        cluster_convos = df.filter(pl.col("cluster_id") == c)
        users = sorted(cluster_convos["user_id"].unique().to_list())
        filter_seconds = time.perf_counter() - t0
        n_pairs = len(users) * (len(users) - 1) // 2
        if n_pairs == 0:
            continue
        picks = rng.choice(n_pairs, size=min(pairs_per_cluster, n_pairs), replace=False)
        iu, ju = np.triu_indices(len(users), 1)
        t0 = time.perf_counter()
        c0 = time.process_time()
        for p in picks:
            u1, u2 = users[iu[p]], users[ju[p]]
            c1 = cluster_convos.filter(pl.col("user_id") == u1)
            c2 = cluster_convos.filter(pl.col("user_id") == u2)
            a = np.array(c1.get_column("embedding").to_list(), dtype=np.float64)
            b = np.array(c2.get_column("embedding").to_list(), dtype=np.float64)
            a /= np.linalg.norm(a, axis=1, keepdims=True)
            b /= np.linalg.norm(b, axis=1, keepdims=True)
            S = a @ b.T
            r, k = linear_sum_assignment(S, maximize=True)
            rows.append((c, u1, u2, 1 - S[r, k].mean()))
        dt = time.perf_counter() - t0
        cpu_seconds += (time.process_time() - c0) * n_pairs / len(picks)
        sampled_seconds += dt
        n_sampled += len(picks)
        total_seconds += filter_seconds + n_pairs * dt / len(picks)
    return total_seconds, sampled_seconds, n_sampled, rows, cpu_seconds


def ours(cluster, user, emb, method):
    backend = cpu_backend()
    t0 = time.perf_counter()
    c0 = time.process_time()
    table, groups, matches = score_pairs(cluster, user, emb, backend,
                                         options=MatchOptions(method=method))
    seconds = time.perf_counter() - t0
    cpu_seconds = time.process_time() - c0
    key = {(groups.cluster_ids[c], groups.user_ids[a], groups.user_ids[b]): 1 - s
           for c, a, b, s in zip(matches.cluster, matches.user1, matches.user2, matches.sim,
                                 strict=True)}
    return seconds, cpu_seconds, len(matches), key, matches


def warm_up():
    """Compile the Numba solvers (cached on disk after the first run) outside the timings."""
    c, u, e = make_clusters(2, 3, 4, 1, 3, 8, 0)
    for method in ("exact", "auction", "greedy"):
        ours(c, u, e, method)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clusters", type=int, default=50)
    ap.add_argument("--min-users", type=int, default=20)
    ap.add_argument("--max-users", type=int, default=400)
    ap.add_argument("--min-msgs", type=int, default=1)
    ap.add_argument("--max-msgs", type=int, default=60)
    ap.add_argument("--dim", type=int, default=384)
    ap.add_argument("--seed-pairs", type=int, default=40, help="sampled seed pairs per cluster")
    ap.add_argument("--methods", default="exact,auction,greedy")
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "balance.md"))
    args = ap.parse_args(argv)

    load_before = os.getloadavg()
    warm_up()
    cluster, user, emb = make_clusters(args.clusters, args.min_users, args.max_users,
                                       args.min_msgs, args.max_msgs, args.dim, 1)
    print(f"data: {args.clusters} clusters, {len(emb)} rows, dim {args.dim}", flush=True)
    results = {}
    for method in args.methods.split(","):
        seconds, cpu_seconds, n_pairs, key, matches = ours(cluster, user, emb, method)
        results[method] = (seconds, cpu_seconds, n_pairs, key, matches)
        print(f"ours {method}: {n_pairs} pairs in {seconds:.1f}s "
              f"({n_pairs / seconds:,.0f} pairs/s)", flush=True)
    seed_total, seed_sampled, n_sampled, seed_rows, seed_cpu = seed_sample(
        cluster, user, emb, args.seed_pairs, 2)
    n_pairs = next(iter(results.values()))[2]
    seed_rate = n_sampled / seed_sampled
    print(f"seed: {n_sampled} sampled pairs in {seed_sampled:.1f}s ({seed_rate:,.1f} pairs/s); "
          f"all {n_pairs} pairs extrapolated: {seed_total:,.0f}s", flush=True)
    load_after = os.getloadavg()

    lines = [
        "# balance: ours vs seed 000's per-pair loop",
        "",
        f"Data: {args.clusters} synthetic clusters of {args.min_users}-{args.max_users} users "
        f"with {args.min_msgs}-{args.max_msgs} messages each, {args.dim}-d "
        f"({len(emb):,} rows, {n_pairs:,} user pairs). CPU backend, {os.cpu_count()} cores; "
        f"load average {load_before[0]:.1f} before and {load_after[0]:.1f} after (other "
        "processes shared the cores).",
        "",
        f"Seed approach (polars filter per user of each pair + scipy linear_sum_assignment per "
        f"pair) timed on {n_sampled:,} random pairs ({args.seed_pairs} per cluster) and "
        f"extrapolated per cluster to all pairs: {seed_total:,.0f} s "
        f"({n_pairs / seed_total:,.1f} pairs/s overall).",
        "",
        f"Its pair loop alone used {seed_cpu:,.0f} CPU seconds (extrapolated the same way).",
        "",
        "| method | pairs | seconds | pairs/s | x seed (wall) | CPU s | x seed (CPU) | "
        "max abs(dist - seed) on sample | max error bound |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for method, (seconds, cpu_seconds, n, key, matches) in results.items():
        diff = max(abs(key[(c, a, b)] - d) for c, a, b, d in seed_rows)
        lines.append(f"| {method} | {n:,} | {seconds:.1f} | {n / seconds:,.0f} | "
                     f"{seed_total / seconds:,.0f} | {cpu_seconds:.1f} | "
                     f"{seed_cpu / cpu_seconds:,.0f} | {diff:.1e} | "
                     f"{float(matches.bound.max()):.1e} |")
        print(lines[-1])
    lines += ["", "Ours (`engine._balance.table.score_pairs`, what the job runs) includes the "
              "embedding checks, grouping, the similarity blocks (float64), the matchings and the "
              "pairs table with its z-scores; the Numba solvers were compiled beforehand (cached "
              "on disk). CPU seconds count both cores (and any time OpenBLAS/Numba threads spin), "
              "so the CPU ratio is the ratio of work, whatever the load; the wall ratio depends "
              "on how much of the 2 cores each side got while other processes ran.", ""]
    gpu_note = Path(__file__).parent / "results" / "balance_gpu_design.md"
    if gpu_note.exists():
        lines += [gpu_note.read_text()]
    Path(args.out).write_text("\n".join(lines) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
