"""kNN settings for `communities`: recall@15 vs cost, the measurements behind the job's defaults.

Run from the repository root:  python bench/communities_knn.py
    [--sizes 200000 1000000] [--activations 50000] [--ivf 200000 1000000]

- blobs (bench/communities.py data, 64-d): one HNSW index (M=20, efConstruction=60) per size,
  then recall@15 of 2,000 sampled rows against exact search for efSearch 64..384, and the CPU
  seconds that searching all n rows at that efSearch would take (measured on the sample);
  this fixes engine._communities.knn_plan.auto_ef_search.
- activations (50 groups, 7 layers x 4096 neurons, TF-IDF CountSketch 7 x 64 = 448 columns):
  HNSW on the full rows, HNSW on 64 PCA axes + exact re-ranking (job.knn_dim), CPU IVF-flat
  (job.knn=ivf) at several nprobe. CPU seconds are this process's, all threads (steadier than
  wall seconds on a shared machine).
- `--ivf`: IVF on the blobs, 2 sqrt(n) lists: FAISS IndexIVFFlat (probes per query, lists
  scanned row by row; search time estimated from the 2,000 sampled rows) against the job's
  list-by-list search (engine.ops.knn_ivf: shared probes per list, BLAS products; all rows
  searched), at several nprobe, and the probe count the job's calibration picks.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from communities import blobs  # noqa: E402

from engine._communities.reduce import pca_rows, rerank  # noqa: E402
from engine.backend import cpu_backend  # noqa: E402
from engine.ops.knn import drop_self, exact_knn_rows, recall_at_k  # noqa: E402

K = 15


def timed(fn):
    t0, c0 = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - t0, time.process_time() - c0


def hnsw(X, ef_search, m=20, ef_construction=60):
    import faiss

    index = faiss.IndexHNSWFlat(X.shape[1], m, faiss.METRIC_INNER_PRODUCT)
    index.hnsw.efConstruction = ef_construction
    index.add(X)
    index.hnsw.efSearch = ef_search
    return index


def ef_sweep(n, efs=(64, 96, 128, 192, 256, 384)):
    X, _ = blobs(n)
    rows = np.sort(np.random.default_rng(1).choice(n, 2000, replace=False))
    _, exact = exact_knn_rows(cpu_backend(), X, rows, K)
    index, wall, cpu = timed(lambda: hnsw(X, efs[0]))
    print(f"| {n:,} | build | - | {wall:.1f} | {cpu:.1f} |", flush=True)
    for ef in efs:
        index.hnsw.efSearch = ef
        (s, i), _, c = timed(lambda: index.search(X[rows], K + 1))
        _, idx = drop_self(s, i, K, rows)
        print(f"| {n:,} | efSearch {ef} | {recall_at_k(idx, exact):.4f} | - | "
              f"{c / len(rows) * n:.1f} (all rows) |", flush=True)


def activations_methods(P):
    import faiss

    from engine._communities.features import tfidf_sketch
    from engine.synthetic.activations import make_activations

    syn = make_activations(P, 7, 4096, 50, seed=0)
    F = np.ascontiguousarray(tfidf_sketch(syn.layers, 64, seed=0), dtype=np.float32)
    n, d = F.shape
    rows = np.sort(np.random.default_rng(1).choice(n, 1000, replace=False))
    _, exact = exact_knn_rows(cpu_backend(), F, rows, K)

    def report(name, s, i, wall, cpu):
        _, idx = drop_self(s, i, K)
        print(f"| {name} | {recall_at_k(idx[rows], exact):.4f} | {wall:.1f} | {cpu:.1f} |",
              flush=True)

    (s, i), w, c = timed(lambda: hnsw(F, 64).search(F, K + 1))
    report(f"HNSW M=20 efC=60 efS=64 on {d} columns", s, i, w, c)
    for dim in (64, 128):
        def reduced(dim=dim):
            Y = pca_rows(F, dim)
            _, cand = hnsw(Y, 64).search(Y, 2 * K + 1)
            return rerank(F, cand, K + 1)
        (s, i), w, c = timed(reduced)
        report(f"PCA {dim} + HNSW (2k candidates) + exact re-rank", s, i, w, c)
    nlist = int(4 * np.sqrt(n))

    def ivf_build():
        index = faiss.IndexIVFFlat(faiss.IndexFlatIP(d), d, nlist, faiss.METRIC_INNER_PRODUCT)
        index.train(F)
        index.add(F)
        return index

    index, w0, c0 = timed(ivf_build)
    for nprobe in (16, 32):
        index.nprobe = nprobe
        (s, i), w, c = timed(lambda: index.search(F, K + 1))
        report(f"IVF-flat nlist={nlist} nprobe={nprobe} (train {c0:.1f} CPU s incl.)",
               s, i, w0 + w, c0 + c)


def ivf_sweep(n):
    import faiss

    from engine.ops.knn_ivf import default_lists, ivf_self_knn

    X, _ = blobs(n)
    rows = np.sort(np.random.default_rng(1).choice(n, 2000, replace=False))
    _, exact = exact_knn_rows(cpu_backend(), X, rows, K)
    nlist = default_lists(n)
    probes = (8, 16, 24, 32, 48) if n <= 300_000 else (16, 32, 48, 64)

    def build():
        index = faiss.IndexIVFFlat(faiss.IndexFlatIP(64), 64, nlist, faiss.METRIC_INNER_PRODUCT)
        index.cp.niter, index.cp.max_points_per_centroid = 10, 64
        index.train(X[np.sort(np.random.default_rng(0).choice(n, min(n, 64 * nlist), False))])
        index.add(X)
        return index

    index, wall, cpu = timed(build)
    print(f"| {n:,} | FAISS IndexIVFFlat nlist={nlist}, build | - | {wall:.1f} | {cpu:.1f} |")
    for p in probes:
        index.nprobe = p
        (s, i), w, c = timed(lambda: index.search(X[rows], K + 1))
        _, idx = drop_self(s, i, K, rows)
        print(f"| {n:,} | FAISS IndexIVFFlat nprobe={p} | {recall_at_k(idx, exact):.4f} | "
              f"{w / len(rows) * n:.1f} (est.) | {c / len(rows) * n:.1f} (est.) |", flush=True)
    index = None  # free it before the list-by-list runs
    for p in (*probes, 0):
        (s, i, info), w, c = timed(lambda p=p: ivf_self_knn(X, K, nlist=nlist, nprobe=p))
        _, idx = drop_self(s, i, K)
        what = f"nprobe={p}" if p else f"calibrated: nprobe={info['nprobe']}"
        print(f"| {n:,} | list by list (job), {what}, incl. k-means | "
              f"{recall_at_k(idx[rows], exact):.4f} | {w:.1f} | {c:.1f} |", flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="*", default=[200_000, 1_000_000])
    ap.add_argument("--activations", type=int, nargs="*", default=[50_000])
    ap.add_argument("--ivf", type=int, nargs="*", default=[])
    args = ap.parse_args()
    print("| rows | setting | recall@15 | build wall s | CPU s |\n|---|---|---|---|---|")
    for n in args.ivf:
        ivf_sweep(n)
    for n in args.sizes:
        ef_sweep(n)
    for P in args.activations:
        print(f"\nactivations {P} prompts\n\n| method | recall@15 | wall s | CPU s |\n"
              "|---|---|---|---|")
        activations_methods(P)


if __name__ == "__main__":
    main()
