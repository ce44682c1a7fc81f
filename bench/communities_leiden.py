"""Where the communities job's Leiden stage goes, at 200k x 64 blobs (bench/communities.py's data).

Run from the repository root:  python bench/communities_leiden.py [--rows 200000]
        [--overlap-noise 1.5] [--out bench/results/communities_leiden.md]

1. The job's stages as bench/communities.py times ours (warm, best of 3 per stage).
2. graph + Leiden from the same kNN lists, rows numbered as given (the job before the
   breadth-first numbering) against the job's numbering (engine._communities.vertex_order),
   alternating, best of 3, split into: order, graph (knn_edges), build (igraph.Graph +
   add_edges), weights (before: the edge attribute; now: an ndarray handed to Leiden), leiden
   (community_leiden, n_iterations=-1).
3. Three ways to hand igraph the weights (edge attribute, list, ndarray): Leiden CPU s.
4. Leiden passes: n_iterations = 1, 2, 3 against -1 (until stable; the job's default), on the
   blobs and on overlapping blobs (noise `--overlap-noise` instead of 0.5, harder to split):
   CPU s, modularity, ARI to -1 and to the planted truth, and how many passes -1 ran (the first
   pass that left the partition unchanged).
CPU seconds are this process's (igraph runs on one thread); the machine may be shared.
"""

from __future__ import annotations

import argparse
import random
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _report import Run  # noqa: E402
from communities import K, Timer, blobs, run_ours  # noqa: E402

from engine._communities.features import l2_normalize  # noqa: E402
from engine._communities.graph import knn_edges  # noqa: E402
from engine._communities.vertex_order import (  # noqa: E402
    locality_order,
    renumbered_lists,
    to_rows,
)
from engine.ops.leiden import modularity, relabel_by_size  # noqa: E402

REPS = 3


def igraph_leiden(part, n, src, dst, weight, n_iterations=-1, weights_as="ndarray", seed=0):
    import igraph

    with part.stage("build"):
        g = igraph.Graph(n=n, directed=False)
        g.add_edges(np.column_stack([src, dst]))
    with part.stage("weights"):
        w = np.asarray(weight, np.float64)
        if weights_as == "attribute":
            g.es["weight"] = w
            w = "weight"
        elif weights_as == "list":
            w = w.tolist()
    with part.stage("leiden"):
        igraph.set_random_number_generator(random)
        random.seed(seed)
        p = g.community_leiden(objective_function="modularity", weights=w,
                               n_iterations=n_iterations)
    return np.asarray(p.membership)


def as_given(part, idx, scores, **kw):
    with part.stage("graph"):
        src, dst, w = knn_edges(idx, scores, "union")
    labels = igraph_leiden(part, len(idx), src, dst, w, **{"weights_as": "attribute", **kw})
    return relabel_by_size(labels), (src, dst, w)


def breadth_first(part, idx, scores, **kw):
    with part.stage("order"):
        order = locality_order(idx)
    with part.stage("graph"):
        src, dst, w = knn_edges(renumbered_lists(idx, order), scores[order], "union")
    labels = igraph_leiden(part, len(idx), src, dst, w, **kw)
    with part.stage("back"):
        labels, src, dst = to_rows(order, labels, src, dst)
    return relabel_by_size(labels), (src, dst, w)


def best(runs: list[Timer]):
    names = list(runs[0].cpu)
    return ({k: min(r.cpu[k] for r in runs) for k in names},
            {k: min(r.seconds[k] for r in runs) for k in names},
            min(sum(r.cpu.values()) for r in runs), min(sum(r.seconds.values()) for r in runs))


def ari(a, b):
    from sklearn.metrics import adjusted_rand_score

    return float(adjusted_rand_score(a, b))


def job_stages(F, lines):
    runs = [run_ours(F)[1] for _ in range(REPS)]
    lines.append("\n### 1. The job's stages (bench/communities.py's `ours`, best of 3)\n")
    lines.append("| stage | wall s | CPU s |")
    lines.append("|---|---|---|")
    for s in runs[0].seconds:
        lines.append(f"| {s} | {min(r.seconds[s] for r in runs):.2f} | "
                     f"{min(r.cpu[s] for r in runs):.2f} |")
    lines.append(f"| total (best run) | {min(r.total for r in runs):.2f} | "
                 f"{min(r.cpu_total for r in runs):.2f} |")
    print("\n".join(lines[-len(runs[0].seconds) - 4:]), flush=True)


def numbering(idx, scores, truth, lines):
    variants = {"rows as given (before)": as_given, "breadth first (the job now)": breadth_first}
    runs = {k: [] for k in variants}
    out = {}
    for _ in range(REPS):
        for name, f in variants.items():
            part = Timer()
            out[name] = f(part, idx, scores)
            runs[name].append(part)
    lines.append("\n### 2. graph + Leiden stages by vertex numbering (best of 3, alternating)\n")
    lines.append("CPU s / wall s per part; `total` is the best run's sum. Same kNN lists.\n")
    lines.append("| numbering | order | graph | build | weights | leiden | back | total | "
                 "modularity | ARI vs before | ARI truth |")
    lines.append("|---|---|---|---|---|---|---|---|---|---|---|")
    ref = out["rows as given (before)"][0]
    n = len(idx)
    for name, rs in runs.items():
        cpu, wall, tc, tw = best(rs)
        cells = [f"{cpu[p]:.2f} / {wall[p]:.2f}" if p in cpu else "-"
                 for p in ("order", "graph", "build", "weights", "leiden", "back")]
        labels, (s, d, w) = out[name]
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {tc:.2f} / {tw:.2f} | "
                     f"{modularity(n, s, d, w, labels):.6f} | {ari(ref, labels):.5f} | "
                     f"{ari(truth, labels):.5f} |")
    print("\n".join(lines[-4:]), flush=True)


def weights_passing(idx, scores, lines):
    order = locality_order(idx)
    src, dst, w = knn_edges(renumbered_lists(idx, order), scores[order], "union")
    n = len(idx)
    runs, labels = {}, {}
    for _ in range(REPS):
        for how in ("attribute", "list", "ndarray"):
            part = Timer()
            labels[how] = igraph_leiden(part, n, src, dst, w, weights_as=how)
            runs.setdefault(how, []).append(part)
    lines.append("\n### 3. Handing igraph the weights (breadth-first graph, best of 3)\n")
    lines.append("| weights given as | weights CPU s | leiden CPU s | sum | same labels as "
                 "attribute |")
    lines.append("|---|---|---|---|---|")
    for how, rs in runs.items():
        cpu, _, _, _ = best(rs)
        lines.append(f"| {how} | {cpu['weights']:.2f} | {cpu['leiden']:.2f} | "
                     f"{cpu['weights'] + cpu['leiden']:.2f} | "
                     f"{np.array_equal(labels[how], labels['attribute'])} |")
    print("\n".join(lines[-5:]), flush=True)


def passes(name, idx, scores, truth, lines):
    order = locality_order(idx)
    src, dst, w = knn_edges(renumbered_lists(idx, order), scores[order], "union")
    n = len(idx)
    rank = np.argsort(order)
    res = {}
    for it in (1, 2, 3, -1):
        part = Timer()
        labels = igraph_leiden(part, n, src, dst, w, n_iterations=it)
        res[it] = (relabel_by_size(labels[rank]), part.cpu["leiden"])
    # -1 stops after the first pass that moved no vertex: the first k whose partition equals
    # that of k - 1 (runs with the same seed share their first passes).
    ran = next((k for k in (2, 3) if np.array_equal(res[k][0], res[k - 1][0])), "> 3")
    lines.append(f"\n### 4. Leiden passes, {name} (breadth-first graph; -1 ran {ran} passes)\n")
    lines.append("| n_iterations | leiden CPU s | modularity | ARI vs -1 | ARI truth | "
                 "communities |")
    lines.append("|---|---|---|---|---|---|")
    s, d = to_rows(order, np.zeros(n), src, dst)[1:]
    for it, (labels, c) in res.items():
        lines.append(f"| {it} | {c:.2f} | {modularity(n, s, d, w, labels):.6f} | "
                     f"{ari(res[-1][0], labels):.5f} | {ari(truth, labels):.5f} | "
                     f"{labels.max() + 1} |")
    print("\n".join(lines[-7:]), flush=True)


def overlapping_blobs(n, noise, d=64, n_blobs=50, seed=3):
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((n_blobs, d))
    truth = rng.integers(0, n_blobs, n)
    X = (centres[truth] + noise * rng.standard_normal((n, d))).astype(np.float32)
    return l2_normalize(X)[0], truth


def knn_lists(F):
    det, _ = run_ours(F)
    return det.extra["knn_idx"], det.extra["knn_scores"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=200_000)
    ap.add_argument("--overlap-noise", type=float, default=1.5)
    ap.add_argument("--out", default="bench/results/communities_leiden.md")
    args = ap.parse_args()
    run = Run(["igraph", "scipy", "faiss-cpu"])
    run_ours(blobs(20_000, seed=1)[0])  # warm: Numba kernels load
    F, truth = blobs(args.rows)
    lines = [f"{args.rows:,} x 64 unit vectors, 50 blobs (bench/communities.py), k = {K}, "
             "union graph, igraph Leiden (modularity). Seconds."]
    job_stages(F, lines)
    idx, scores = knn_lists(F)
    del F
    numbering(idx, scores, truth, lines)
    weights_passing(idx, scores, lines)
    passes("blobs", idx, scores, truth, lines)
    F, truth = overlapping_blobs(args.rows, args.overlap_noise)
    idx, scores = knn_lists(F)
    del F
    passes(f"overlapping blobs (noise {args.overlap_noise})", idx, scores, truth, lines)
    run.write(args.out, "communities: the Leiden stage, part by part", lines)


if __name__ == "__main__":
    main()
