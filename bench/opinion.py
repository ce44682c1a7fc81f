"""Benchmark: the `opinion` job's clustering vs red-dwarf (a Python reproduction of Polis).

Run from the repository root with the benchmark environment (it has both):
    python bench/opinion.py [--sizes 10000 100000] [--skip-reddwarf-above N]

Datasets: the three Polis conversations in tests/data/polis (agreement = adjusted Rand index
with Polis's own `group-id`) and synthetic votes with planted groups, n voters x 1,000
statements at 10 % density (ARI with the planted groups). Every measurement runs in its own
subprocess, so peak RSS (ru_maxrss) is that tool's alone (interpreter and imports included).
Timed: from the vote columns in memory to groups and statement statistics (our matrix build,
PCA, k-means, groups, repness and consensus; red-dwarf's run_pipeline on deduplicated votes).
Results: a table on stdout and bench/results/opinion.md.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # `engine` from this checkout
POLIS = ROOT / "tests" / "data" / "polis"
CONVERSATIONS = ("15-per-hour-seattle", "canadian-electoral-reform",
                 "scoop-hivemind.biodiversity")


# -- data ---------------------------------------------------------------------------------
def polis_columns(folder: Path):
    import pyarrow.csv as pacsv

    t = pacsv.read_csv(folder / "votes.csv")
    cols = (t["voter-id"].to_numpy(), t["comment-id"].to_numpy(), t["vote"].to_numpy(),
            t["timestamp"].to_numpy())
    pv = pacsv.read_csv(folder / "participants-votes.csv", convert_options=pacsv.ConvertOptions(
        include_columns=["participant", "group-id"]))
    ref = {int(p): int(g) for p, g in zip(pv["participant"].to_pylist(),
                                          pv["group-id"].to_pylist(), strict=True)
           if g is not None}
    comments = pacsv.read_csv(folder / "comments.csv")
    moderated = comments["comment-id"].to_numpy()[comments["moderated"].to_numpy() == -1]
    return cols, ref, moderated


def synthetic_file(n_voters: int, out_dir: Path) -> Path:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from engine.synthetic.votes import make_votes

    path = out_dir / f"synthetic_{n_voters}.parquet"
    if not path.exists():
        s = make_votes(n_voters, 1000, 3, 0.1, seed=0)
        pq.write_table(pa.table({"voter": s.voter, "statement": s.statement, "vote": s.vote,
                                 "time": s.time, "truth": s.truth.groups[s.voter]}), path)
    return path


def load(dataset: str, tmp: Path):
    """(voter, statement, vote, time), reference groups {voter: group}, moderated ids."""
    if dataset in CONVERSATIONS:
        return polis_columns(POLIS / dataset)
    import pyarrow.parquet as pq

    t = pq.read_table(synthetic_file(int(dataset), tmp))
    voter = t["voter"].to_numpy()
    truth = np.zeros(int(voter.max()) + 1, np.int64)
    truth[voter] = t["truth"].to_numpy()
    return ((voter, t["statement"].to_numpy(), t["vote"].to_numpy(), t["time"].to_numpy()),
            dict(enumerate(truth.tolist())), np.array([], np.int64))


def ari(ref: dict, ids, labels) -> tuple[float, int]:
    from sklearn.metrics import adjusted_rand_score

    pairs = [(ref[int(i)], int(g)) for i, g in zip(ids, labels, strict=True)
             if int(i) in ref and g is not None and g >= 0]
    a, b = zip(*pairs, strict=True)
    return float(adjusted_rand_score(a, b)), len(pairs)


# -- workers (one per subprocess) ---------------------------------------------------------
def run_ours(dataset: str, tmp: Path, replay: bool) -> dict:
    from engine._opinion import model, repness
    from engine._opinion.votes import from_columns

    (voter, stmt, vote, tm), ref, moderated = load(dataset, tmp)
    loaded = rss_mb()
    t0 = time.perf_counter()
    m = from_columns(voter, stmt, vote, tm, order="sorted" if dataset in CONVERSATIONS else "first",
                     moderated_ids=moderated)
    opts = model.Options()
    fit = model.replay(m, opts, 500) if replay else model.fit(m, opts)[0]
    group = fit.group_of_voter()
    base_counts = repness.group_counts(m.values, fit.base_of_voter, len(fit.base.centres))
    counts = repness.merge_counts(base_counts, fit.group_of_base, int(group.max()) + 1)
    stats = repness.repness_stats(counts)
    for g in range(len(counts.agree)):
        repness.select_representative(stats, g, ~m.moderated_out)
    everyone = repness.group_counts(m.values, np.zeros(m.shape[0], np.int32), 1)
    repness.consensus(everyone, ~m.moderated_out)
    repness.group_aware_consensus(counts)
    seconds = time.perf_counter() - t0
    score, n = ari(ref, m.voter_ids, group)
    return {"seconds": seconds, "ari": score, "n_compared": n, "k": int(fit.k),
            "rss_loaded_mb": loaded}


def run_reddwarf(dataset: str, tmp: Path) -> dict:
    (voter, stmt, vote, tm), ref, moderated = load(dataset, tmp)
    # red-dwarf's pivot needs one vote per cell: keep the latest (ties: the later row).
    order = np.lexsort((np.arange(len(tm)), tm))
    latest = {}
    for i in order:
        latest[(int(voter[i]), int(stmt[i]))] = (int(vote[i]), int(tm[i]))
    votes = [{"participant_id": p, "statement_id": s, "vote": v, "modified": t}
             for (p, s), (v, t) in latest.items()]
    del latest
    from reddwarf.implementations.polis import run_pipeline

    loaded = rss_mb()
    t0 = time.perf_counter()
    res = run_pipeline(votes=votes, random_state=0)
    seconds = time.perf_counter() - t0
    labels = res.participants_df["cluster_id"]
    ids = [i for i in labels.index if not labels.isna()[i]]
    score, n = ari(ref, ids, [int(labels[i]) for i in ids])
    return {"seconds": seconds, "ari": score, "n_compared": n, "k": int(labels.nunique()),
            "rss_loaded_mb": loaded}


def _status_mb(field: str) -> float | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def peak_rss_mb() -> float:
    """This process's peak RSS. VmHWM restarts at exec; ru_maxrss would carry the parent's
    peak over (Linux keeps it across execve), so it is only the fallback."""
    peak = _status_mb("VmHWM")
    return peak if peak is not None else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def rss_mb() -> float:
    """Resident memory now (after the input is loaded: the base line of 'above input')."""
    now = _status_mb("VmRSS")
    return now if now is not None else 0.0


def worker(args) -> None:
    tmp = Path(args.tmp)
    if args.worker == "reddwarf":
        out = run_reddwarf(args.dataset, tmp)
    else:
        out = run_ours(args.dataset, tmp, args.worker == "ours-replay")
    out["peak_rss_mb"] = peak_rss_mb()
    print("RESULT " + json.dumps(out))


# -- driver -------------------------------------------------------------------------------
def measure(tool: str, dataset: str, tmp: Path, timeout: int) -> dict:
    cmd = [sys.executable, __file__, "--worker", tool, "--dataset", dataset, "--tmp", str(tmp)]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env,
                              cwd=ROOT)
    except subprocess.TimeoutExpired:
        return {"error": f"timeout {timeout}s"}
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[7:])
    tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
    return {"error": tail[0][:120]}


def fmt(r: dict, key: str, spec: str) -> str:
    return format(r[key], spec) if key in r else r.get("error", "-")


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--worker")
    p.add_argument("--dataset")
    p.add_argument("--tmp")
    p.add_argument("--sizes", type=int, nargs="*", default=[10000, 100000])
    p.add_argument("--skip-reddwarf-above", type=int, default=10**9)
    p.add_argument("--timeout", type=int, default=900)
    args = p.parse_args()
    if args.worker:
        return worker(args)
    tmp = Path(tempfile.mkdtemp(prefix="opinion-bench-"))
    for n in args.sizes:
        synthetic_file(n, tmp)  # written once, outside every measurement
    rows = []
    datasets = [*CONVERSATIONS, *map(str, args.sizes)]
    for ds in datasets:
        real = ds in CONVERSATIONS
        tools = ["ours-replay", "ours"] if real else ["ours"]
        if real or int(ds) <= args.skip_reddwarf_above:
            tools.append("reddwarf")
        res = {t: measure(t, ds, tmp, args.timeout) for t in tools}
        for t, r in res.items():
            print(ds, t, r, flush=True)
        rows.append((ds, res))
    load = os.getloadavg()
    lines = [
        "# opinion: ours vs red-dwarf 0.4.0",
        "",
        f"Machine: {os.cpu_count()} cores; load average at the end {load[0]:.1f} / "
        f"{load[1]:.1f} / {load[2]:.1f} (1/5/15 min): other processes were sharing the cores, "
        "so absolute times are inflated; ratios come from the same run.",
        "Time: vote columns in memory -> groups + repness + consensus (imports done before; "
        "ours includes loading its numba kernels from the on-disk cache). Peak RSS: each tool "
        "in its own process (interpreter, imports and data included); 'above input': that "
        "peak minus the resident memory once the input was loaded (red-dwarf: its vote dicts).",
        "ARI: vs Polis's group-id (real conversations, participants both assigned) or the "
        "planted groups (synthetic: n voters x 1,000 statements, 10 % density, 3 groups).",
        "`ours (replay)` recomputes every 500 votes along the timestamps with Polis's "
        "4-recomputation k smoothing (the default for Polis exports); `ours` is one "
        "computation on all votes.",
        "",
        "| dataset | tool | seconds | peak RSS MB | peak above input MB | ARI | compared | k | "
        "speed-up vs red-dwarf |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for ds, res in rows:
        rd = res.get("reddwarf", {})
        name = ds if ds in CONVERSATIONS else f"synthetic {int(ds):,} x 1,000"
        for t, r in res.items():
            speed = (f"{rd['seconds'] / r['seconds']:.1f}x"
                     if "seconds" in rd and "seconds" in r and t != "reddwarf" else "")
            label = {"ours-replay": "ours (replay)", "ours": "ours", "reddwarf": "red-dwarf"}[t]
            above = (f"{r['peak_rss_mb'] - r['rss_loaded_mb']:.0f}"
                     if "rss_loaded_mb" in r else "-")
            lines.append(f"| {name} | {label} | {fmt(r, 'seconds', '.2f')} | "
                         f"{fmt(r, 'peak_rss_mb', '.0f')} | {above} | {fmt(r, 'ari', '.4f')} | "
                         f"{r.get('n_compared', '')} | {r.get('k', '')} | {speed} |")
    skipped = [ds for ds, res in rows if "reddwarf" not in res]
    if skipped:
        lines += ["", f"red-dwarf not run on synthetic {', '.join(skipped)} voters "
                  "(--skip-reddwarf-above): it pivots the votes into a dense voters x statements "
                  "float64 frame and copies it for imputation and PCA (1.7 GB peak at 10k "
                  "voters; several GB plus ~11M vote dicts at 100k, on a shared 24 GB machine)."]
    text = "\n".join(lines) + "\n"
    print(text)
    out = ROOT / "bench" / "results" / "opinion.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)


if __name__ == "__main__":
    main()
