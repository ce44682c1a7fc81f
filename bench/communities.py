"""Benchmark `communities`: ours vs a seed-002-style pipeline vs scanpy, on the same data.

Run from the repository root with the benchmark environment (it has scanpy and the engine's
deps):  python bench/communities.py [--sizes 200000 1000000]
        [--activations 50000x7x4096] [--skip-scanpy-above N] [--out bench/results/communities.md]

Data: unit vectors around 50 Gaussian blobs in 64 dimensions (k = 15), and synthetic activation
maps (engine.synthetic.activations). Methods, timed per stage on the same rows:
- ours: engine._communities at the job's defaults (L2 rows; kNN: IVF lists from FAISS k-means,
  searched list by list with dense products, probe count calibrated on a sample to recall@k
  0.96; vectorised union graph, igraph Leiden); for activations, TF-IDF CountSketch first;
- seed: the seed-002 notebook's approach re-implemented: FAISS HNSW (M=32, efConstruction=200,
  efSearch=64) searched for k + 8, a per-node Python loop to drop self/invalid neighbours, a
  mutual-kNN graph, an igraph graph filled in chunks from Python tuples, leidenalg
  RBConfigurationVertexPartition; for activations its per-layer TF-IDF/CountSketch via COO;
- scanpy: `sc.pp.neighbors(n_neighbors=15, use_rep="X")` (pynndescent) + `sc.tl.leiden(
  flavor="igraph", n_iterations=2, directed=False)` (scanpy's recommended settings).
Every method first runs once, untimed, on 20,000 rows of the same kind of data, so the timed
runs are warm: pynndescent compiles its Numba functions in each new process (it does not cache
them on disk), and ours loads its kernels; a first-run figure would time compilation.
Reported: seconds per stage (wall and CPU), recall@k against exact search on 1,000 sampled
rows, ARI to the planted truth and between methods, and the modularity of each partition on
its own graph. Writes bench/results/communities.md.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _report import Run  # noqa: E402

from engine._communities.detect import detect  # noqa: E402
from engine._communities.features import l2_normalize, tfidf_sketch  # noqa: E402
from engine._communities.knn_plan import plan_knn  # noqa: E402
from engine.backend import cpu_backend  # noqa: E402
from engine.jobs.communities import Params  # noqa: E402
from engine.ops.knn import exact_knn_rows, recall_at_k  # noqa: E402
from engine.ops.leiden import modularity  # noqa: E402

K = 15


def blobs(n: int, d: int = 64, n_blobs: int = 50, seed: int = 0):
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((n_blobs, d))
    truth = rng.integers(0, n_blobs, n)
    X = np.empty((n, d), np.float32)
    for lo in range(0, n, 100_000):
        hi = min(lo + 100_000, n)
        X[lo:hi] = centres[truth[lo:hi]] + 0.5 * rng.standard_normal((hi - lo, d))
    return l2_normalize(X)[0], truth


class Timer:
    """Wall seconds per stage, and CPU seconds of this process (all its threads): on a
    machine shared with other jobs the CPU seconds are the steadier measure of work."""

    def __init__(self):
        self.seconds: dict[str, float] = {}
        self.cpu: dict[str, float] = {}

    def stage(self, name):
        timer = self

        class _Stage:
            def __enter__(self):
                self.t0, self.c0 = time.perf_counter(), time.process_time()

            def __exit__(self, *exc):
                timer.seconds[name] = timer.seconds.get(name, 0) + time.perf_counter() - self.t0
                timer.cpu[name] = timer.cpu.get(name, 0) + time.process_time() - self.c0

        return _Stage()

    @property
    def total(self):
        return sum(v for k, v in self.seconds.items() if k != "recall")

    @property
    def cpu_total(self):
        return sum(v for k, v in self.cpu.items() if k != "recall")


# -- ours ----------------------------------------------------------------------------------
def run_ours(F, seed=0):
    p = Params()
    t = Timer()
    plan = plan_knn(F.shape[0], F.shape[1], K, gpu=False, knn=p.knn, ef_search=p.ef_search,
                    knn_dim=p.knn_dim, nprobe=p.nprobe)
    info = {}
    knn_params = dict(hnsw_m=p.hnsw_m, ef_construction=p.ef_construction,
                      ef_search=plan.ef_search, nlist=p.nlist, nprobe=plan.nprobe,
                      target_recall=p.target_recall, seed=seed, info=info)
    det = detect(cpu_backend(), F, k=K, knn=plan.method, graph=p.graph, seed=seed,
                 knn_params=knn_params, recall_sample=0, keep_knn=True, stage=t.stage,
                 reduce_dim=plan.reduce_dim, candidates=p.knn_candidates)
    print(f"ours: knn={plan.method} {info}", flush=True)
    return det, t


# -- seed-002 style ------------------------------------------------------------------------
def run_seed_style(F, seed=42):
    import faiss
    import igraph as ig
    import leidenalg as la

    t = Timer()
    P, d = F.shape
    with t.stage("knn"):
        index = faiss.IndexHNSWFlat(d, 32)
        index.hnsw.efConstruction = 200
        index.hnsw.efSearch = 64
        index.add(F)
        kk = min(K + 8, P)
        D = np.empty((P, kk), np.float32)
        Ind = np.empty((P, kk), np.int64)
        for s in range(0, P, 8192):
            D[s : s + 8192], Ind[s : s + 8192] = index.search(F[s : s + 8192], kk)
    with t.stage("cleanup (per-node Python)"):
        idx_k = np.empty((P, K), np.int32)
        sim_k = np.empty((P, K), np.float32)
        for i in range(P):
            good = (Ind[i] >= 0) & (Ind[i] != i)
            neigh, sim = Ind[i][good], 1.0 - 0.5 * D[i][good]
            order = np.argsort(-sim)[:K]
            take = len(order)
            idx_k[i, :take], sim_k[i, :take] = neigh[order], sim[order]
            if take < K:
                idx_k[i, take:], sim_k[i, take:] = idx_k[i, :1], sim_k[i, :1]
    with t.stage("graph"):
        src = np.repeat(np.arange(P, dtype=np.int32), K)
        dst = idx_k.reshape(-1)
        w = sim_k.reshape(-1)
        keep = (src != dst) & (dst >= 0)
        a, b, w = np.minimum(src[keep], dst[keep]), np.maximum(src[keep], dst[keep]), w[keep]
        order = np.lexsort((b, a))
        a, b, w = a[order], b[order], w[order]
        hit = np.flatnonzero((a[1:] == a[:-1]) & (b[1:] == b[:-1]))
        src, dst, weight = a[hit], b[hit], 0.5 * (w[hit] + w[hit + 1])
    with t.stage("leiden"):
        g = ig.Graph()
        g.add_vertices(P)
        off = 0
        for s in range(0, len(src), 200_000):
            e = min(s + 200_000, len(src))
            g.add_edges(zip(src[s:e], dst[s:e], strict=True))
            g.es[off : off + (e - s)]["weight"] = weight[s:e].tolist()
            off += e - s
        part = la.find_partition(g, la.RBConfigurationVertexPartition, weights="weight",
                                 resolution_parameter=1.0, seed=seed)
        labels = np.asarray(part.membership)
    return labels, (src, dst, weight), idx_k, t


def seed_style_features(layers, rp_dim=64, seed=42, batch_rows=2048):
    """The notebook's per-layer TF-IDF + CountSketch (COO accumulation per batch)."""
    import scipy.sparse as sp

    rng = np.random.RandomState(seed)
    parts = []
    for X in layers:
        P, N = X.shape
        df = np.diff(X.tocsc().indptr).astype(np.float32)
        idf = (np.log((P + 1.0) / (df + 1.0)) + 1).astype(np.float32)
        buckets = rng.randint(0, rp_dim, size=N, dtype=np.int32)
        signs = rng.choice(np.array([-1, 1], np.int8), size=N)
        F = np.empty((P, rp_dim), np.float32)
        for s in range(0, P, batch_rows):
            sub = X[s : s + batch_rows] @ sp.diags(idf, format="csr")
            sq = np.asarray(sub.multiply(sub).sum(axis=1)).ravel()
            sub = sp.diags(1 / np.sqrt(np.maximum(sq, 1e-12)), format="csr") @ sub
            coo = sub.tocoo()
            sk = sp.coo_matrix((coo.data * signs[coo.col], (coo.row, buckets[coo.col])),
                               shape=(sub.shape[0], rp_dim))
            sk.sum_duplicates()
            F[s : s + batch_rows] = sk.toarray()
        F /= np.maximum(np.linalg.norm(F, axis=1, keepdims=True), 1e-8)
        parts.append(F)
    F = np.concatenate(parts, 1)
    return F / np.maximum(np.linalg.norm(F, axis=1, keepdims=True), 1e-8)


# -- scanpy --------------------------------------------------------------------------------
def run_scanpy(F, seed=0):
    import anndata
    import scanpy as sc

    t = Timer()
    adata = anndata.AnnData(X=np.zeros((F.shape[0], 1), np.float32))
    adata.obsm["X"] = F
    with t.stage("knn"):
        sc.pp.neighbors(adata, n_neighbors=K, use_rep="X", random_state=seed)
    with t.stage("leiden"):
        sc.tl.leiden(adata, flavor="igraph", n_iterations=2, directed=False, random_state=seed)
    labels = adata.obs["leiden"].astype(int).to_numpy()
    D = adata.obsp["distances"].tocsr()
    C = adata.obsp["connectivities"].tocoo()
    upper = C.row < C.col
    graph = (C.row[upper], C.col[upper], C.data[upper])
    return labels, graph, D, t


def scanpy_neighbours(D, rows):
    """scanpy's k-1 neighbours of each sampled row (it counts the row itself among k)."""
    out = np.full((len(rows), K), -1, np.int64)
    for j, r in enumerate(rows):
        nb = D.indices[D.indptr[r] : D.indptr[r + 1]]
        d = D.data[D.indptr[r] : D.indptr[r + 1]]
        nb = nb[np.argsort(d, kind="stable")][:K]
        out[j, : len(nb)] = nb
    return out


# -- report --------------------------------------------------------------------------------
def ari(a, b):
    from sklearn.metrics import adjusted_rand_score

    return float(adjusted_rand_score(a, b))


def compare(name, F, truth, lines, with_seed=True, with_scanpy=True, extra_stages=None):
    n = F.shape[0]
    rng = np.random.default_rng(7)
    rows = np.sort(rng.choice(n, min(1000, n), replace=False))
    _, exact = exact_knn_rows(cpu_backend(), F, rows, K)
    results = {}
    print(f"[{name}] ours ...", flush=True)
    det, t = run_ours(F)
    results["ours"] = dict(labels=det.labels, t=t, det=det,
                           recall=recall_at_k(det.extra["knn_idx"][rows], exact),
                           q=det.modularity)
    if with_seed:
        print(f"[{name}] seed-style ...", flush=True)
        labels, (s, d, w), idx_k, t = run_seed_style(F)
        results["seed-style"] = dict(labels=labels, t=t, recall=recall_at_k(idx_k[rows], exact),
                                     q=modularity(n, s, d, w, labels))
    if with_scanpy:
        print(f"[{name}] scanpy ...", flush=True)
        labels, (s, d, w), D, t = run_scanpy(F)
        # scanpy's lists hold k - 1 neighbours besides the row itself: compare like with like.
        results["scanpy"] = dict(labels=labels, t=t,
                                 recall=recall_at_k(scanpy_neighbours(D, rows), exact[:, : K - 1]),
                                 q=modularity(n, s, d, w, labels))
    for key, extra in (extra_stages or {}).items():
        if key in results:  # {stage: (wall, cpu)} measured outside compare()
            results[key]["t"].seconds.update({s: v[0] for s, v in extra.items()})
            results[key]["t"].cpu.update({s: v[1] for s, v in extra.items()})
    base = results.get("scanpy", {}).get("t")
    lines.append(f"\n### {name}\n")
    lines.append("| method | stages, wall s | total wall s | total CPU s | vs scanpy (wall, CPU)"
                 " | recall@k | ARI truth | ARI vs ours | ARI vs scanpy | modularity | "
                 "communities |")
    lines.append("|---|---|---|---|---|---|---|---|---|---|---|")
    for key, r in results.items():
        t = r["t"]
        stages = ", ".join(f"{s} {v:.1f}" for s, v in t.seconds.items())
        ratio = (f"{base.total / t.total:.2f}x, {base.cpu_total / max(t.cpu_total, 1e-9):.2f}x"
                 if base else "-")
        vs_scan = f"{ari(r['labels'], results['scanpy']['labels']):.3f}" if base else "-"
        lines.append(f"| {key} | {stages} | {t.total:.1f} | {t.cpu_total:.1f} | {ratio} | "
                     f"{r['recall']:.3f} | "
                     f"{ari(r['labels'], truth):.3f} | "
                     f"{ari(r['labels'], results['ours']['labels']):.3f} | {vs_scan} | "
                     f"{r['q']:.4f} | {int(r['labels'].max()) + 1} |")
    print("\n".join(lines[-len(results) - 3 :]), flush=True)
    return results


def leiden_choice(det, n, lines):
    """igraph vs leidenalg on our graph: time and modularity (the CPU default's evidence)."""
    from engine.ops.leiden import leiden

    s, d, w = det.src, det.dst, det.weight
    lines.append("\n### Leiden on our graph: igraph vs leidenalg\n")
    lines.append("| implementation | wall s | CPU s | modularity | communities |")
    lines.append("|---|---|---|---|---|")
    for impl in ("igraph", "leidenalg"):
        t0, c0 = time.perf_counter(), time.process_time()
        labels = leiden(cpu_backend(), n, s, d, w, seed=0, implementation=impl)
        dt, dc = time.perf_counter() - t0, time.process_time() - c0
        lines.append(f"| {impl} | {dt:.1f} | {dc:.1f} | {modularity(n, s, d, w, labels):.4f} | "
                     f"{labels.max() + 1} |")
    print("\n".join(lines[-4:]), flush=True)


def activations_case(spec, lines, with_scanpy=True):
    from engine.synthetic.activations import make_activations

    P, L, N = (int(x) for x in spec.split("x"))
    syn = make_activations(P, L, N, 50, seed=0)
    t0, c0 = time.perf_counter(), time.process_time()
    F = tfidf_sketch(syn.layers, 64, seed=0)
    ours_feat = (time.perf_counter() - t0, time.process_time() - c0)
    t0, c0 = time.perf_counter(), time.process_time()
    F_seed = seed_style_features(syn.layers)
    seed_feat = (time.perf_counter() - t0, time.process_time() - c0)
    nnz = sum(X.nnz for X in syn.layers)
    name = f"activations {P} prompts x {L} layers x {N} neurons ({nnz / (P * L * N):.1%} non-zero)"
    # Each method runs on its own features; scanpy runs on ours (it has no sketching).
    res = compare(name, F, syn.groups, lines, with_seed=False, with_scanpy=with_scanpy,
                  extra_stages={"ours": {"features": ours_feat},
                                "scanpy": {"features (ours)": ours_feat}})
    labels, (s, d, w), _, t = run_seed_style(F_seed)
    t.seconds = {"features": seed_feat[0], **t.seconds}
    t.cpu = {"features": seed_feat[1], **t.cpu}
    base = res.get("scanpy", {}).get("t")
    ratio = (f"{base.total / t.total:.2f}x, {base.cpu_total / t.cpu_total:.2f}x"
             if base else "-")
    lines.append("| seed-style (own features) | "
                 + ", ".join(f"{k} {v:.1f}" for k, v in t.seconds.items())
                 + f" | {t.total:.1f} | {t.cpu_total:.1f} | {ratio} | - | "
                 f"{ari(labels, syn.groups):.3f} | "
                 f"{ari(labels, res['ours']['labels']):.3f} | - | "
                 f"{modularity(P, s, d, w, labels):.4f} | {labels.max() + 1} |")
    print(lines[-1], flush=True)


def warm_up(activations: bool) -> None:
    """Each method once on 20,000 rows, untimed (JIT compilation and first imports)."""
    F, _ = blobs(20_000, seed=1)
    run_ours(F)
    run_seed_style(F)
    run_scanpy(F)
    if activations:
        from engine.synthetic.activations import make_activations

        syn = make_activations(2000, 2, 512, 10, seed=1)
        tfidf_sketch(syn.layers, 64, seed=0)
        seed_style_features(syn.layers)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="*", default=[200_000, 1_000_000])
    ap.add_argument("--activations", nargs="*", default=["50000x7x4096"])
    ap.add_argument("--peers-above", type=int, default=200_000,
                    help="run seed-style and scanpy only up to this many rows")
    ap.add_argument("--out", default="bench/results/communities.md")
    args = ap.parse_args()
    run = Run(["faiss-cpu", "igraph", "leidenalg", "scanpy", "pynndescent", "scikit-learn"])
    print("warming every method up on 20,000 rows (untimed) ...", flush=True)
    warm_up(bool(args.activations))
    lines = ["k = 15. Times in seconds, every method warm (see the script's docstring); "
             "`vs scanpy` = scanpy total / method total, wall and CPU. recall@k against exact "
             "search on 1,000 sampled rows (scanpy: its k-1 neighbours against the exact k-1).",
             ""]
    for n in args.sizes:
        F, truth = blobs(n)
        peers = n <= args.peers_above
        res = compare(f"{n:,} x 64 unit vectors, 50 blobs", F, truth, lines, with_seed=peers,
                      with_scanpy=peers)
        if peers:
            leiden_choice(res["ours"]["det"], n, lines)
        del res
    for spec in args.activations:
        activations_case(spec, lines)
    run.write(args.out, "communities: ours vs scanpy and a seed-002-style pipeline", lines)


if __name__ == "__main__":
    main()
