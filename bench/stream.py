"""Benchmark: the batched exact stream clustering vs the plain per-message loop.

    python bench/stream.py                      # 1M messages x 384-d, ~10k clusters
    python bench/stream.py --n 100000 --topics 2000

Data: the synthetic message stream (`engine.synthetic.messages`) with `--topics` planted
topics, sorted by time. Ours: `OnlineClustering` (screening product + exact sequential pass)
over the whole stream. The plain loop is what the seed describes, one message at a time with
NumPy (`C[:K] @ x_hat`, argmax, capped running-mean update), in float32 (the fastest plain
loop) and float64. Running the plain loop over 1M messages would take hours, so it is timed on
a prefix (from an empty state) and on a segment in the middle (from our run's exact state at
that point), both checked against our output message by message; its total is extrapolated
with a per-message cost a + b K fitted to those two (K = clusters at each message, known from
our run). The plain loop's own float rounding may decide a message differently from the
reference arithmetic only when similarities sit within ~1e-7 of the threshold or of each
other; mismatches are counted, not hidden. A third check runs the test suite's literal
reference (bit-exact arithmetic) on a short prefix.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from _report import Run  # noqa: E402

from engine._stream.online import Centroids, OnlineClustering  # noqa: E402
from engine.backend import cpu_backend  # noqa: E402
from engine.synthetic import messages  # noqa: E402


def make_stream(n: int, dim: int, topics: int, seed: int):
    truth = messages.make_truth(n, topics, dim, 20000, 365, "2024-01-01", seed)
    emb = np.empty((n, dim), np.float32)
    times = np.empty(n, np.int64)
    topic = np.empty(n, np.int64)
    for table, e, t in messages.iter_chunks(truth, seed, 65536):
        lo = table.column("id")[0].as_py()
        emb[lo : lo + len(e)] = e
        times[lo : lo + len(e)] = table.column("datetime").to_numpy().astype(np.int64)
        topic[lo : lo + len(e)] = t
    return emb, times, topic


def plain_loop(emb, start: Centroids, s_th: float, cap: int, dtype):
    """The per-message loop: one matrix-vector product per message, in `dtype`."""
    d = emb.shape[1]
    k = start.size
    C = np.zeros((k + len(emb), d), dtype)
    C[:k] = start.vectors[:k]
    n = np.zeros(k + len(emb), np.int64)
    n[:k] = start.counts[:k]
    cluster = np.empty(len(emb), np.int64)
    conf = np.empty(len(emb))
    for i, raw in enumerate(emb):
        x = raw.astype(dtype)
        x /= np.linalg.norm(x)
        if k:
            sims = C[:k] @ x
            j = int(np.argmax(sims))
            if sims[j] >= s_th:
                ne = min(n[j], cap)
                v = (ne * C[j] + x) / (ne + 1)
                C[j] = v / np.linalg.norm(v)
                n[j] += 1
                cluster[i], conf[i] = j, sims[j]
                continue
        C[k] = x
        n[k] = 1
        cluster[i], conf[i] = k, 1.0
        k += 1
    return cluster, conf, C[:k]


def extrapolate(r1: float, r2: float, k1: float, k2: float, k_before: np.ndarray) -> float:
    """Total seconds of a per-message cost a + b K through two measured (K, cost) points."""
    b = (r2 - r1) / (k2 - k1) if k2 != k1 else 0.0
    a = r1 - b * k1
    return float(np.sum(a + b * k_before))


def timed(fn, *args):
    t0, c0 = time.perf_counter(), time.process_time()
    out = fn(*args)
    return out, time.perf_counter() - t0, time.process_time() - c0


def compare(name, ours_cluster, ours_conf, cluster, conf):
    mism = int((ours_cluster != cluster).sum())
    dconf = float(np.abs(ours_conf - conf).max()) if len(conf) else 0.0
    return {"check": name, "messages": len(cluster), "assignment_mismatches": mism,
            "max_confidence_diff": dconf}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--dim", type=int, default=384)
    ap.add_argument("--topics", type=int, default=10_000)
    ap.add_argument("--batch", type=int, default=2048)
    ap.add_argument("--cap", type=int, default=1000)
    ap.add_argument("--screen", default="auto")
    ap.add_argument("--prefix", type=int, default=8000, help="plain loop from the start")
    ap.add_argument("--segment", type=int, default=2000, help="plain loop in the middle")
    ap.add_argument("--exact-prefix", type=int, default=1500, help="literal reference")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "stream.md"))
    args = ap.parse_args()
    s_th = 1.0 - 0.22
    run = Run(["numba", "faiss-cpu"])

    t0 = time.perf_counter()
    emb, times, topic = make_stream(args.n, args.dim, args.topics, args.seed)
    print(f"data: {args.n} x {args.dim}, {args.topics} topics ({time.perf_counter() - t0:.1f}s)")

    # -- ours over the whole stream, keeping the exact state at the middle ------------------
    mid = args.n // 2
    # Compile the Numba kernels outside the timing: both screens' (the pivot screen from 32
    # clusters on here, so that a fresh checkout's first run does not time its compilation).
    oc = OnlineClustering(cpu_backend(), args.dim, 0.22, args.cap, None, args.batch,
                          screen_kind=args.screen, pivot_min_clusters=32)
    oc.assign(emb[:4096], times[:4096])
    oc = OnlineClustering(cpu_backend(), args.dim, 0.22, args.cap, None, args.batch,
                          screen_kind=args.screen)
    first, t_a, c_a = timed(oc.assign, emb[:mid], times[:mid])
    snapshot = oc.centroids.live()
    second, t_b, c_b = timed(oc.assign, emb[mid:], times[mid:])
    ours_s, ours_cpu = t_a + t_b, c_a + c_b
    cluster = np.r_[first.cluster, second.cluster]
    conf = np.r_[first.confidence, second.confidence]
    new = np.r_[first.new_cluster, second.new_cluster]
    k_before = np.r_[0, np.cumsum(new)[:-1]]  # clusters existing when each message arrives
    from sklearn.metrics import adjusted_rand_score

    ari = adjusted_rand_score(topic, cluster)
    print(f"ours ({oc.screen.kind} screen): {ours_s:.1f}s wall, {ours_cpu:.1f}s cpu, "
          f"{args.n / ours_s:,.0f} msg/s; {oc.centroids.size} clusters, planted ARI {ari:.4f}, "
          f"{oc.exact_checks / args.n:.2f} exact checks/msg")

    # -- the other screen on a segment, for its rate ----------------------------------------
    other = "pivot" if oc.screen.kind == "float32" else "float32"
    seg = slice(mid, min(args.n, mid + 20 * args.segment))
    try:
        oc2 = OnlineClustering(cpu_backend(), args.dim, 0.22, args.cap, None, args.batch,
                               centroids=snapshot.live(), screen_kind=other)
        alt, t_alt, _ = timed(oc2.assign, emb[seg], times[seg])
        alt_rate = len(alt.cluster) / t_alt
        assert np.array_equal(alt.cluster, cluster[seg])
        assert np.array_equal(alt.confidence, conf[seg])
        ours_seg_rate = (args.n - mid) / t_b
    except ImportError:
        alt_rate = None

    rows, checks = [], []
    # -- plain loop: prefix from empty, segment from our state at `mid` --------------------
    from threadpoolctl import threadpool_limits

    for dtype in (np.float32, np.float64):
        name = np.dtype(dtype).name
        best = None
        # One BLAS thread or two: on loaded cores two threads can stall each small product,
        # so the plain loop gets whichever is faster.
        for threads in (1, 2):
            with threadpool_limits(threads):
                (pc, pf, _), tp, cp = timed(plain_loop, emb[: args.prefix],
                                            Centroids(args.dim), s_th, args.cap, dtype)
                seg_p = slice(mid, mid + args.segment)
                (sc, sf, _), ts, cs = timed(plain_loop, emb[seg_p], snapshot, s_th, args.cap,
                                            dtype)
            checks.append(compare(f"plain {name} ({threads} thread), prefix",
                                  cluster[: args.prefix], conf[: args.prefix], pc, pf))
            checks.append(compare(f"plain {name} ({threads} thread), segment at {mid}",
                                  cluster[seg_p], conf[seg_p], sc, sf))
            # Per-message cost a + b K from the two measurements.
            k1 = k_before[: args.prefix].mean()
            k2 = k_before[seg_p].mean()
            total = extrapolate(tp / args.prefix, ts / args.segment, k1, k2, k_before)
            total_cpu = extrapolate(cp / args.prefix, cs / args.segment, k1, k2, k_before)
            print(f"plain {name}, {threads} thread: {tp / args.prefix * 1e6:.0f} us/msg at "
                  f"K~{k1:.0f}, {ts / args.segment * 1e6:.0f} us/msg at K~{k2:.0f} -> "
                  f"{total:.0f}s ({total_cpu:.0f}s cpu) for {args.n} (extrapolated)")
            if best is None or total < best[1]:
                best = (f"plain loop, NumPy {name}, {threads} BLAS thread (extrapolated)",
                        total, total_cpu, args.n / total, total / ours_s, total_cpu / ours_cpu)
        rows.append(best)

    # -- the literal reference (bit-exact arithmetic) on a short prefix ---------------------
    sys.path.insert(0, str(ROOT))
    from tests.stream.reference import Reference

    m = args.exact_prefix
    ref = Reference(args.dim, 0.22, args.cap)
    (rc, rf, rn), tr, _ = timed(ref.run, emb[:m], times[:m])
    exact = compare("literal reference (exact arithmetic), prefix", cluster[:m], conf[:m], rc, rf)
    exact["bit_identical"] = bool(np.array_equal(rf, conf[:m]) and np.array_equal(rc, cluster[:m]))
    checks.append(exact)

    rows.insert(0, (f"ours, {oc.screen.kind} screen, batch {args.batch}", ours_s, ours_cpu,
                    args.n / ours_s, 1.0, 1.0))
    if alt_rate is not None:
        rows.insert(1, (f"ours, {other} screen (segment of {seg.stop - seg.start} at {mid})",
                        None, None, alt_rate, None, None))
        rows.insert(1, (f"ours, {oc.screen.kind} screen (second half of the full run)",
                        None, None, ours_seg_rate, None, None))
    import resource

    print(f"peak memory {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20:.1f} GiB")
    report(args, run, rows, checks, oc, ari, ours_cpu)


def report(args, run, rows, checks, oc, ari, ours_cpu) -> None:
    lines = [
        f"{args.n:,} messages x {args.dim}-d, {args.topics:,} planted topics -> "
        f"{oc.centroids.size:,} clusters (planted ARI {ari:.4f}), threshold 0.22, "
        f"cap {args.cap}, batch {args.batch}.",
        f"Ours used {ours_cpu:.0f}s of CPU time.",
        "",
        "| method | wall s | cpu s | messages/s (wall) | plain / ours (wall) | (cpu) |",
        "|---|---:|---:|---:|---:|---:|",
    ]

    def num(v, fmt):
        return "" if v is None else format(v, fmt)

    for name, sec, cpu, rate, ratio, ratio_cpu in rows:
        lines.append(f"| {name} | {num(sec, ',.1f')} | {num(cpu, ',.1f')} | {rate:,.0f} | "
                     f"{num(ratio, '.1f')} | {num(ratio_cpu, '.1f')} |")
    lines += ["", "Output checks against ours (message by message):", "",
              "| check | messages | assignment mismatches | max confidence diff | bit-identical |",
              "|---|---:|---:|---:|---|"]
    for c in checks:
        lines.append(f"| {c['check']} | {c['messages']:,} | {c['assignment_mismatches']} | "
                     f"{c['max_confidence_diff']:.1e} | {c.get('bit_identical', '')} |")
    print("\n".join(lines))
    run.write(args.out, "stream: batched exact clustering vs the plain per-message loop", lines)


if __name__ == "__main__":
    main()
