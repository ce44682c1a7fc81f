"""Benchmark: the `opinion` job against Polis's own groups, red-dwarf and delphi.

Run from the repository root (red-dwarf lives in its own environment, see --reddwarf-python):
    python -m venv .venv-bench && .venv-bench/bin/pip install red-dwarf==0.4.0 pyarrow
    PYTHONPATH=. python bench/opinion.py --reddwarf-python .venv-bench/bin/python \
        [--sizes 10000 100000] [--skip-reddwarf-above N]

Agreement: the adjusted Rand index (ARI) with Polis's own groups over the participants both
grouped, on every conversation in tests/data/polis (`group-id` of participants-votes.csv: the
conversations the replay's settings were chosen on) and in tests/data/opinion (`group-id`, or
polis_groups.csv unfolded from Clojure Polis's math blob: held out, never tuned on); on synthetic
votes (n voters x 1,000 statements, 10 % density, 3 planted groups), with the planted groups.
Tools: `ours (replay)`, the job's default for Polis exports (recomputed along the vote log at
Polis's own moments, once per poll of its votes table that brought votes, as Polis ran live:
the `polling` schedule); `ours (once)`, one computation on all votes; red-dwarf 0.4.0's
run_pipeline; delphi, Polis's own Python port, at commit cdc238c2 of compdemocracy/polis: its
groups are read from delphi_groups.csv beside each conversation, frozen by
tests/data/polis/delphi_groups.py (its docstring holds the command; see DELPHI_NOTE).
Stability: how much the replay's own groups move under small perturbations of the vote log
(with the `votes` schedule, whose six replays per conversation are cheap: the last 1 or 2 % of
votes dropped, recomputations every 50 or 200 votes instead of 100, no reloads): where they move, Polis's exported groups depend on the moment of export too.
What the export leaves out (a sensitivity check, not counted toward the targets): on the
conversations with a `meta_statements_by_reading.csv`, ours and red-dwarf with those statements
(about the participants themselves, chosen by reading) given as Polis's meta statements, which
an openData export does not flag; `--meta-sensitivity [--conversations NAME ...]` runs only
this and rewrites only that section of the results.
Each measurement runs in its own subprocess (peak RSS is that tool's alone).
Results: bench/results/opinion.md (written by this script) and stdout.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # `engine` from this checkout
POLIS = ROOT / "tests" / "data" / "polis"
HELD_OUT = ROOT / "tests" / "data" / "opinion"
RESULTS = ROOT / "bench" / "results" / "opinion.md"


def _conversations(base: Path) -> dict[str, Path]:
    return {p.name: p for p in sorted(base.iterdir()) if (p / "votes.csv").exists()}


TUNED = _conversations(POLIS)
HELD_OUT_CONVERSATIONS = _conversations(HELD_OUT)
FOLDERS = {**TUNED, **HELD_OUT_CONVERSATIONS}
CONVERSATIONS = tuple(FOLDERS)

DELPHI_NOTE = (
    "delphi (compdemocracy/polis `delphi/`, Polis's own Python port) at commit cdc238c2: its "
    "groups are frozen in each conversation's `delphi_groups.csv` by "
    "`tests/data/polis/delphi_groups.py` (the command is in its docstring; delphi is AGPL-3.0 "
    "and needs its own environment, so it is not run here). At that commit delphi's groups "
    "come from one k-means on every voter's 2-D projection, with k set by the number of "
    "participants; its later parity work (silhouette k, two-level clustering, Clojure row "
    "order) is not in it. One held-out conversation (`vw`) is one of delphi's own "
    "`real_data/` cases.")


# -- data ---------------------------------------------------------------------------------
def polis_reference(folder: Path) -> dict[int, int]:
    """Participant -> Polis group: an export's participants-votes.csv `group-id`, or for a
    conversation without one polis_groups.csv (unfolded from Polis's math blob)."""
    import csv

    if (folder / "participants-votes.csv").exists():
        with (folder / "participants-votes.csv").open() as fh:
            return {int(r["participant"]): int(r["group-id"]) for r in csv.DictReader(fh)
                    if r["group-id"] not in ("", None)}
    with (folder / "polis_groups.csv").open() as fh:
        return {int(r["participant"]): int(r["group"]) for r in csv.DictReader(fh)}


def polis_k(dataset: str) -> int:
    """The number of groups Polis kept in a conversation."""
    return len(set(polis_reference(FOLDERS[dataset]).values()))


META_BY_READING = "meta_statements_by_reading.csv"
META_SECTION = "## What the export leaves out"
META_BEFORE = "## Where ours and Polis disagree"  # where the full report has the section
META_SCHEDULES = ("votes", "polling", "once")  # the replay's two schedules; one computation


def meta_by_reading(folder: Path) -> list[int]:
    """The statements about the participants themselves, chosen by reading
    (tests/data/opinion/README.md)."""
    import csv

    with (folder / META_BY_READING).open() as fh:
        return [int(r["statement_id"]) for r in csv.DictReader(fh)]


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


def synthetic_columns(n_voters: int, tmp: Path):
    import pyarrow.parquet as pq

    t = pq.read_table(synthetic_file(n_voters, tmp))
    voter = t["voter"].to_numpy()
    truth = np.zeros(int(voter.max()) + 1, np.int64)
    truth[voter] = t["truth"].to_numpy()
    return ((voter, t["statement"].to_numpy(), t["vote"].to_numpy(), t["time"].to_numpy()),
            dict(enumerate(truth.tolist())))


def ari(ref: dict, labels: dict) -> tuple[float, int]:
    from sklearn.metrics import adjusted_rand_score

    both = [v for v in labels if v in ref]
    if not both:
        return float("nan"), 0
    return (float(adjusted_rand_score([ref[v] for v in both], [labels[v] for v in both])),
            len(both))


# -- workers (one per subprocess) ---------------------------------------------------------
def job_options():
    """The job's defaults (engine.jobs.opinion.Params) as model options and replay settings."""
    from engine._opinion import model
    from engine.jobs.opinion import Params

    p = Params()
    opts = model.Options(p.min_votes, p.min_in_conv, p.base_k, p.max_groups, p.tol,
                         p.max_iter, p.base_k_per_voter, p.pca_iters, p.group_iter)
    return p, opts


def our_groups(m, fit) -> dict[int, int]:
    g = fit.group_of_voter()
    return {int(v): int(x) for v, x in zip(m.voter_ids, g, strict=True) if x >= 0}


def replay_fit(m, every: int | None = None, reload_hours: float | None = None,
               schedule: str | None = None, opts=None, options_at=None):
    """The job's replay of `m`, with its defaults unless `every`, `reload_hours`, `schedule`
    (votes | polling), the model's `opts` or `options_at` (model.replay) say otherwise."""
    from dataclasses import replace

    from engine._opinion import model
    from engine.jobs.opinion import replay_times

    p, default_opts = job_options()
    opts = opts or default_opts
    p = replace(p, replay_every=every or p.replay_every,
                replay_reload_hours=(p.replay_reload_hours if reload_hours is None
                                     else reload_hours),
                replay_schedule=schedule or p.replay_schedule)
    gap, polling = replay_times(p, m)
    return model.replay(m, opts, p.replay_every, reload_gap=gap, polling_interval=polling,
                        options_at=options_at)


def run_ours(dataset: str, tmp: Path, replay: bool) -> dict:
    from engine._opinion import model, repness
    from engine._opinion.votes import from_columns
    from engine.io.times import epoch_ns_per_unit

    if dataset in CONVERSATIONS:
        import pyarrow.csv as pacsv

        folder = FOLDERS[dataset]
        t = pacsv.read_csv(folder / "votes.csv")
        cols = (t["voter-id"].to_numpy(), t["comment-id"].to_numpy(), t["vote"].to_numpy(),
                t["timestamp"].to_numpy())
        moderated = np.array([], np.int64)
        if (folder / "comments.csv").exists():
            c = pacsv.read_csv(folder / "comments.csv")
            moderated = c["comment-id"].to_numpy()[c["moderated"].to_numpy() == -1]
        ref, order = polis_reference(folder), "encounter"
        unit = epoch_ns_per_unit(cols[3])
    else:
        cols, ref = synthetic_columns(int(dataset), tmp)
        moderated, order, unit = np.array([], np.int64), "first", 10**9
    loaded = rss_mb()
    t0 = time.perf_counter()
    m = from_columns(*cols, order=order, moderated_ids=moderated)
    m.ns_per_time_unit = unit
    fit = replay_fit(m) if replay else model.fit(m, job_options()[1])[0]
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
    labels = our_groups(m, fit)
    score, n = ari(ref, labels)
    out = {"seconds": seconds, "ari": score, "n_compared": n, "k": int(fit.k),
           "rss_loaded_mb": loaded}
    if dataset in CONVERSATIONS:
        out["labels"] = labels
        out["smoother"] = smoother_at_end(fit.k_history)
        if (FOLDERS[dataset] / "math_blob_clusters.json").exists():
            out["blob"] = against_polis_blob(FOLDERS[dataset], m, fit)
    return out


def smoother_at_end(history: list[dict]) -> dict:
    """The replay's last best k and how many recomputations in a row it won at the end."""
    if not history:
        return {}
    last = history[-1]["best_k"]
    run = next((i for i, h in enumerate(reversed(history)) if h["best_k"] != last),
               len(history))
    return {"best_k": int(last), "wins_in_a_row": run, "shown_k": int(history[-1]["k"])}


def against_polis_blob(folder: Path, m, fit) -> dict:
    """Where ours and Polis part, from Polis's own math blob: |correlation| of our projection
    with Polis's base-cluster centres (per axis, over participants), and what our group level
    makes of Polis's base clusters (cold start, base ids in Polis's order)."""
    from engine._opinion import kmeans

    blob = json.loads((folder / "math_blob_clusters.json").read_text())
    bc = blob["base-clusters"]
    centres = np.c_[bc["x"], bc["y"]]
    group_of = {b: g["id"] for g in blob["group-clusters"] for b in g["members"]}
    row = {int(v): i for i, v in enumerate(m.voter_ids)}
    mine, theirs = [], []
    for members, centre in zip(bc["members"], centres, strict=True):
        for p in members:
            mine.append(fit.pca.projection[row[p]])
            theirs.append(centre)
    mine, theirs = np.array(mine), np.array(theirs)
    corr = [abs(float(np.corrcoef(mine[:, a], theirs[:, a])[0, 1])) for a in (0, 1)]
    ids = np.array(bc["id"])
    cands = kmeans.group_candidates(centres, np.array(bc["count"], np.float64), 5, 0.01, 20,
                                    ids)
    k = kmeans.best_k(cands)
    polis = np.array([group_of[b] for b in ids])
    from sklearn.metrics import adjusted_rand_score

    return {"projection_corr": corr, "k_on_polis_bases": int(k),
            "ari_on_polis_bases": float(adjusted_rand_score(polis, cands[k][0].labels))}


def run_reddwarf(dataset: str, tmp: Path) -> dict:
    if dataset in CONVERSATIONS:
        sys.path.insert(0, str(POLIS))
        from red_dwarf_groups import latest_votes  # the same votes as the frozen groups

        folder = FOLDERS[dataset]
        votes, ref = latest_votes(folder / "votes.csv"), polis_reference(folder)
    else:
        (voter, stmt, vote, tm), ref = synthetic_columns(int(dataset), tmp)
        # red-dwarf's pivot needs one vote per cell: the latest (ties: the later row).
        latest = {}
        for i in np.lexsort((np.arange(len(tm)), tm)):
            latest[(int(voter[i]), int(stmt[i]))] = (int(vote[i]), int(tm[i]))
        votes = [{"participant_id": p, "statement_id": s, "vote": v, "modified": t}
                 for (p, s), (v, t) in latest.items()]
        del latest
    from reddwarf.implementations.polis import run_pipeline

    loaded = rss_mb()
    t0 = time.perf_counter()
    res = run_pipeline(votes=votes, random_state=0)
    seconds = time.perf_counter() - t0
    col = res.participants_df["cluster_id"].dropna()
    labels = {int(p): int(g) for p, g in col.items()}
    score, n = ari(ref, labels)
    out = {"seconds": seconds, "ari": score, "n_compared": n, "k": int(col.nunique()),
           "rss_loaded_mb": loaded}
    if dataset in CONVERSATIONS:
        out["labels"] = labels
    return out


def run_ours_meta(dataset: str, schedule: str) -> dict:
    """Ours on the export as it is and with the statements chosen by reading as meta
    (engine._opinion.meta: moderated out, as Polis's math treats meta statements)."""
    from engine._opinion import meta, model
    from engine.jobs.opinion import export_votes

    folder, out = FOLDERS[dataset], {}
    for name, marked in (("export", []), ("meta", meta_by_reading(folder))):
        loaded = export_votes(folder)
        m = loaded.matrix
        meta.mark(m, marked, loaded.meta_ids, loaded.listed_ids)
        fit = (model.fit(m, job_options()[1])[0] if schedule == "once"
               else replay_fit(m, schedule=schedule))
        score, n = ari(polis_reference(folder), our_groups(m, fit))
        out[name] = {"ari": score, "k": int(fit.k), "n_compared": n,
                     "n_meta": int(m.is_meta.sum())}
    return out


def run_reddwarf_meta(dataset: str) -> dict:
    """red-dwarf with the export's moderated-out statements zeroed, then with the statements
    chosen by reading added as meta: its own loader (utils/statements.process_statements) puts
    an `is_meta` statement into both mod_out_statement_ids and meta_statement_ids."""
    sys.path.insert(0, str(POLIS))
    from red_dwarf_groups import latest_votes, moderated_out
    from reddwarf.implementations.polis import run_pipeline

    folder, out = FOLDERS[dataset], {}
    marked = meta_by_reading(folder)
    for name, meta_ids in (("export", []), ("meta", marked)):
        res = run_pipeline(votes=latest_votes(folder / "votes.csv"), random_state=0,
                           mod_out_statement_ids=sorted(set(moderated_out(folder)) | set(meta_ids)),
                           meta_statement_ids=meta_ids)
        col = res.participants_df["cluster_id"].dropna()
        score, n = ari(polis_reference(folder), {int(p): int(g) for p, g in col.items()})
        out[name] = {"ari": score, "k": int(col.nunique()), "n_compared": n}
    return out


def frozen_groups(dataset: str, filename: str) -> dict:
    """A peer's groups frozen beside the conversation (`delphi_groups.csv`,
    `red_dwarf_groups.csv`: participant, group), scored like the others."""
    import csv

    path = FOLDERS[dataset] / filename
    if not path.exists():
        return {"error": f"no {filename}"}
    with path.open() as fh:
        labels = {int(r["participant"]): int(r["group"]) for r in csv.DictReader(fh)}
    score, n = ari(polis_reference(FOLDERS[dataset]), labels)
    # String keys, as the other tools' labels arrive through JSON.
    return {"ari": score, "n_compared": n, "k": len(set(labels.values())),
            "labels": {str(p): g for p, g in labels.items()}}


def run_delphi(dataset: str) -> dict:
    """delphi's frozen groups (tests/data/polis/delphi_groups.py)."""
    return frozen_groups(dataset, "delphi_groups.csv")


def run_stability(dataset: str) -> dict:
    """The replay against itself under small changes of the vote log and of its schedule."""
    from engine._opinion import readers
    from engine._opinion.votes import build_matrix

    m = readers.read_polis_export(FOLDERS[dataset]).matrix
    ref = polis_reference(FOLDERS[dataset])
    full = our_groups(m, replay_fit(m, schedule="votes"))
    out = {}
    by_time = np.argsort(m.time, kind="stable")
    for pct in (1, 2):
        keep = np.sort(by_time[: int(len(by_time) * (1 - pct / 100))])
        cut = build_matrix(m.voter[keep], m.statement[keep], m.vote[keep], m.time[keep],
                           m.voter_ids, m.statement_ids, m.moderated_out)
        cut.ns_per_time_unit = m.ns_per_time_unit
        g = our_groups(cut, replay_fit(cut, schedule="votes"))
        out[f"drop last {pct} %"] = {"self": ari(full, g)[0], "polis": ari(ref, g)[0],
                                     "k": len(set(g.values()))}
    variants = {"every 50 votes": {"every": 50}, "every 200 votes": {"every": 200},
                "no reloads": {"reload_hours": 0}}
    for name, kw in variants.items():
        g = our_groups(m, replay_fit(m, schedule="votes", **kw))
        out[name] = {"self": ari(full, g)[0], "polis": ari(ref, g)[0],
                     "k": len(set(g.values()))}
    return out


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
    elif args.worker == "reddwarf-meta":
        out = run_reddwarf_meta(args.dataset)
    elif args.worker.startswith("meta-"):
        out = run_ours_meta(args.dataset, args.worker.removeprefix("meta-"))
    elif args.worker == "stability":
        out = run_stability(args.dataset)
    else:
        out = run_ours(args.dataset, tmp, args.worker == "ours-replay")
    out["peak_rss_mb"] = peak_rss_mb()
    print("RESULT " + json.dumps(out))


# -- driver -------------------------------------------------------------------------------
def measure(tool: str, dataset: str, tmp: Path, timeout: int, python: str) -> dict:
    cmd = [python, __file__, "--worker", tool, "--dataset", dataset, "--tmp", str(tmp)]
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


def machine() -> tuple[str, str]:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                                text=True, cwd=ROOT).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "engine", "bench/*.py"],
                               capture_output=True, text=True, cwd=ROOT).stdout.strip()
        commit += " (with uncommitted changes)" if dirty else ""
    except OSError:
        commit = "?"
    return cpu, commit


def peer_version(python: str) -> str:
    code = "import importlib.metadata as m; print(m.version('red-dwarf'))"
    proc = subprocess.run([python, "-c", code], capture_output=True, text=True)
    return proc.stdout.strip() or "not installed"


def replay_moves(stab: dict) -> list[str]:
    """The stability changes under which the replay's own groups move (self ARI < 0.9)."""
    moved = [n for n, r in stab.items() if isinstance(r, dict) and r.get("self", 1) < 0.9]
    return (["our replay (with the `votes` schedule) itself moves under " + ", ".join(moved)]
            if moved else [])


def why(ours: dict, rd: dict, ours_once: dict, stab: dict, polis_k: int,
        between: float) -> str:
    """The facts behind a disagreement, from this run's own numbers."""
    reasons = []
    if ours.get("k") != rd.get("k"):
        reasons.append(f"k differs (ours {ours.get('k')}, red-dwarf {rd.get('k')}, "
                       f"Polis {polis_k})")
    if abs(ours.get("ari", 0) - ours_once.get("ari", 0)) > 0.1:
        reasons.append(f"history matters: one computation on all votes scores "
                       f"{ours_once.get('ari', float('nan')):.2f} (k {ours_once.get('k')}), "
                       "red-dwarf has no replay")
    reasons += replay_moves(stab)
    if not reasons:
        where = "near the boundary" if between >= 0.7 else "widely"
        reasons.append(f"same k; the split differs {where} (red-dwarf: full SVD, "
                       "k-means++ with random_state=0, no carry-over)")
    return "; ".join(reasons)


def conversation_set(dataset: str) -> str:
    return "held out" if dataset in HELD_OUT_CONVERSATIONS else "tuned"


def ari_between(a: dict, b: dict) -> float:
    """ARI between two tools' groups (labels came through JSON, string keys, on both sides)."""
    return ari(a["labels"], b["labels"])[0] if "labels" in a and "labels" in b else float("nan")


def targets(chosen, polis_ks: dict[str, int], ours: str = "ours-replay") -> str:
    """The three targets on Polis parity measured on `chosen` (conversation, results) rows,
    for the tool `ours` names in each row."""
    same_k = sum(int(res[ours].get("k") == polis_ks[ds]) for ds, res in chosen)
    scores = [res[ours].get("ari", float("nan")) for _, res in chosen]
    margins, met = [], True
    for peer, name in (("reddwarf", "red-dwarf"), ("delphi", "delphi")):
        gaps = [(res[ours].get("ari", float("nan")) - res[peer]["ari"], ds)
                for ds, res in chosen if "ari" in res.get(peer, {})]
        worst = min(gaps) if gaps else (float("nan"), "-")
        met &= bool(gaps) and worst[0] >= -0.05
        margins.append(f"smallest margin over {name} {worst[0]:+.3f} ({worst[1]})")
    return (f"same k on {same_k}/{len(chosen)}; mean ARI {np.mean(scores):.3f}; "
            f"{'; '.join(margins)}; none more than 0.05 under red-dwarf or delphi: "
            f"{'yes' if met else 'no'}")


def why_delphi(ours: dict, delphi: dict, polis_k: int, between: float) -> str:
    """The facts behind a disagreement with delphi at cdc238c2, from this run's numbers."""
    reasons = []
    n_delphi, n_ours = len(delphi.get("labels", {})), len(ours.get("labels", {}))
    if delphi.get("k") != polis_k:
        reasons.append(f"k differs (delphi {delphi.get('k')}, ours {ours.get('k')}, Polis "
                       f"{polis_k}): delphi's k comes from its participant count alone "
                       f"({n_delphi} participants), not from the data")
    if n_delphi > n_ours:
        reasons.append(f"delphi groups all {n_delphi} voters, ours (like Polis) only the "
                       f"{n_ours} in the conversation")
    if not reasons:
        where = "near the boundary" if between >= 0.7 else "widely"
        reasons.append(f"same k and voters; the split differs {where}")
    return "; ".join(reasons)


def why_polis(ours: dict, polis_k: int, stab: dict) -> str:
    """Where our replay and Polis's exported groups part, from this run's own numbers."""
    reasons = []
    if ours.get("k") != polis_k:
        reasons.append(f"k differs (ours {ours.get('k')}, Polis {polis_k})")
    sm, blob = ours.get("smoother", {}), ours.get("blob")
    if blob:
        r = min(blob["projection_corr"])
        same = blob["k_on_polis_bases"] == polis_k and blob["ari_on_polis_bases"] > 0.999
        reasons.append(f"our projection against Polis's base-cluster centres: correlation "
                       f"{r:.3f} per axis, up to sign "
                       f"({'the PCA agrees' if r > 0.999 else 'the PCA differs'}); our group "
                       f"level on Polis's own base clusters: k {blob['k_on_polis_bases']}, ARI "
                       f"{blob['ari_on_polis_bases']:.3f} "
                       f"({'it agrees' if same else 'it differs'})")
    if sm and sm["best_k"] != sm["shown_k"]:
        reasons.append(f"replay moment: its last recomputations find k {sm['best_k']} best, "
                       f"but only {sm['wins_in_a_row']} in a row before the log ends, and the "
                       f"k smoother shows a new k after 4 (it shows k {sm['shown_k']})")
    reasons += replay_moves(stab)
    return "; ".join(reasons) or "-"


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--worker")
    p.add_argument("--dataset")
    p.add_argument("--tmp")
    p.add_argument("--sizes", type=int, nargs="*", default=[10000, 100000])
    # red-dwarf pivots the votes into dense float64 frames: several GB at 100k voters.
    p.add_argument("--skip-reddwarf-above", type=int, default=10000)
    p.add_argument("--reddwarf-python", default=sys.executable)
    p.add_argument("--timeout", type=int, default=3600)  # a polling replay: up to ~25 min
    p.add_argument("--meta-sensitivity", action="store_true",
                   help=f"only the section '{META_SECTION[3:]}', rewritten in place")
    p.add_argument("--conversations", nargs="*", help="with --meta-sensitivity: only these")
    args = p.parse_args()
    if args.worker:
        return worker(args)
    argv = " ".join(sys.argv[1:])
    tmp = Path(tempfile.mkdtemp(prefix="opinion-bench-"))
    if args.meta_sensitivity:
        section = meta_section(measure_meta(args, tmp), argv, peer_version(args.reddwarf_python))
        print("\n".join(section))
        return replace_section(RESULTS, META_SECTION, section)
    for n in args.sizes:
        synthetic_file(n, tmp)  # written once, outside every measurement
    rows = []
    for ds in [*CONVERSATIONS, *map(str, args.sizes)]:
        real = ds in CONVERSATIONS
        tools = ["ours-replay", "ours"] if real else ["ours"]
        if real or int(ds) <= args.skip_reddwarf_above:
            tools.append("reddwarf")
        if real:
            tools.append("stability")
        res = {}
        for t in tools:
            python = args.reddwarf_python if t == "reddwarf" else sys.executable
            res[t] = measure(t, ds, tmp, args.timeout, python)
            print(ds, t, {k: v for k, v in res[t].items() if k != "labels"}, flush=True)
        if real:  # frozen, nothing to run
            res["delphi"] = run_delphi(ds)
        rows.append((ds, res))
    write_report(rows, args, argv, meta_section(measure_meta(args, tmp), argv,
                                                peer_version(args.reddwarf_python)))


def measure_meta(args, tmp: Path) -> list[tuple[str, dict]]:
    """Ours (both schedules and once) and red-dwarf, without and with the statements chosen
    by reading as meta, on the conversations that have such a list."""
    chosen = [ds for ds in CONVERSATIONS if (FOLDERS[ds] / META_BY_READING).exists()
              and (not args.conversations or ds in args.conversations)]
    rows = []
    for ds in chosen:
        res = {}
        for tool in [f"meta-{s}" for s in META_SCHEDULES] + ["reddwarf-meta"]:
            python = args.reddwarf_python if tool == "reddwarf-meta" else sys.executable
            res[tool] = measure(tool, ds, tmp, args.timeout, python)
            print(ds, tool, res[tool], flush=True)
        rows.append((ds, res))
    return rows


def meta_section(rows: list[tuple[str, dict]], argv: str, rd_version: str) -> list[str]:
    """The sensitivity check's section of the report (not counted toward the targets), with
    its own header: `--meta-sensitivity` rewrites it alone."""
    lines = [
        f"{META_SECTION} (a sensitivity check, not counted toward the targets)",
        "",
        *report_header(f"PYTHONPATH=. python bench/opinion.py {argv}",
                       f"; red-dwarf {rd_version}"),
        "",
        "A Polis moderator can mark a statement `is_meta` (a statement about the participants "
        "themselves: age, area, role), and Polis's math then treats it as moderated out "
        "(docs/opinion.md). The openData export's comments.csv has no `is-meta` column, so "
        "every figure above is computed as if no statement were meta. Here the statements that "
        f"describe the participants, chosen by reading (`{META_BY_READING}` beside each "
        "conversation; tests/data/opinion/README.md says how), are given as meta "
        "(`job.meta_statements`). Whether Polis's moderator marked them is not known: these "
        "figures show how much the groups depend on it, and are NOT counted toward the "
        "targets, which stay computed from the export alone. red-dwarf is given the same "
        "list as its loader would pass an `is_meta` statement (mod_out_statement_ids and "
        "meta_statement_ids), with the export's moderated-out statements zeroed in both "
        "columns (the table above runs it without them).",
        "",
        "`meta statements`: on the list (of them with votes, the ones that can change "
        "anything).",
        "",
        "| conversation | Polis k | meta statements | tool | export ARI | k | "
        "with meta ARI | k |",
        "|---|---|---|---|---|---|---|---|",
    ]
    names = {"meta-votes": "ours (replay, votes)",
             "meta-polling": "ours (replay, polling: the default)", "meta-once": "ours (once)",
             "reddwarf-meta": "red-dwarf"}
    for ds, res in rows:
        k_polis = polis_k(ds)
        listed = len(meta_by_reading(FOLDERS[ds]))
        voted = next((r["meta"]["n_meta"] for r in res.values() if "n_meta" in r.get("meta", {})),
                     "?")
        for tool, r in res.items():
            if "export" not in r:
                lines.append(f"| {ds} | {k_polis} | {listed} ({voted}) | "
                             f"{names[tool]} | {r.get('error', '-')} | | | |")
                continue
            e, w = r["export"], r["meta"]
            lines.append(f"| {ds} | {k_polis} | {listed} ({voted}) | {names[tool]} | "
                         f"{e['ari']:.3f} | {e['k']} | {w['ari']:.3f} | {w['k']} |")
    if not rows:
        lines.append(f"(no conversation with a `{META_BY_READING}` was chosen)")
    return lines


def replace_section(path: Path, heading: str, section: list[str],
                    before: str = META_BEFORE) -> None:
    """Rewrite the section starting with `heading` in the report at `path` (up to the next
    `## ` heading), or insert it before the heading `before` (else at the end): a partial run
    leaves the other sections alone."""
    lines = path.read_text().splitlines() if path.exists() else []
    start = next((i for i, ln in enumerate(lines) if ln.startswith(heading)), None)
    if start is None:
        at = next((i for i, ln in enumerate(lines) if ln.startswith(before)), len(lines))
        lines = [*lines[:at], *section, "", *lines[at:]]
    else:
        end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")),
                   len(lines))
        lines = [*lines[:start], *section, "", *lines[end:]]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines).rstrip("\n") + "\n")


def report_header(command: str, more_versions: str = "") -> list[str]:
    """The lines an opinion bench report starts with: the command, date and commit, the
    machine and its load, the versions (`more_versions` appended)."""
    import scipy
    import sklearn

    cpu, commit = machine()
    load = os.getloadavg()
    return [
        f"- command: `{command}`",
        f"- date {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, commit {commit}",
        f"- machine: {cpu}, {os.cpu_count()} cores; load average at the end {load[0]:.1f} / "
        f"{load[1]:.1f} / {load[2]:.1f} (1/5/15 min): the cores are shared, so absolute "
        "times are inflated; ratios come from the same run",
        f"- Python {sys.version.split()[0]}, numpy {np.__version__}, scipy {scipy.__version__}, "
        f"scikit-learn {sklearn.__version__}{more_versions}",
    ]


def write_report(rows, args, argv: str, meta_lines: list[str]) -> None:
    rd_version = peer_version(args.reddwarf_python)
    conv_rows = [(ds, res) for ds, res in rows if ds in CONVERSATIONS]
    lines = [
        "# opinion: ours vs Polis's groups, red-dwarf and delphi",
        "",
        *report_header(f"PYTHONPATH=. python bench/opinion.py {argv}",
                       f"; red-dwarf {rd_version}"),
        f"- {DELPHI_NOTE}",
        "",
        "## Agreement with Polis's groups",
        "",
        "`ours (replay)` recomputes along the vote log at Polis's own moments (once per "
        "1-second poll of the votes that brought votes: the `polling` schedule), each run "
        "carrying over the last one's state as Polis's worker does, and restarts the group "
        "level after pauses over 24 h (the job's default for Polis exports; "
        "bench/results/opinion_schedules.md has the `votes` schedule too); `ours (once)` is one "
        "computation on all votes. `tuned`: the conversations those settings were chosen on "
        "(Polis's `group-id` from the export); `held out`: never looked at while choosing "
        "them (tests/data/opinion: Polis's `group-id` from the export, or its groups unfolded "
        "from its math blob).",
        "",
        "| conversation | set | Polis k | ours (replay) ARI | k | ours (once) ARI | k | "
        "red-dwarf ARI | k | delphi ARI | k | compared |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    polis_ks = {}
    for ds, res in conv_rows:
        polis_ks[ds] = polis_k(ds)
        o, once, rd = res["ours-replay"], res["ours"], res.get("reddwarf", {})
        dl = res.get("delphi", {})
        lines.append(f"| {ds} | {conversation_set(ds)} | {polis_ks[ds]} | "
                     f"{fmt(o, 'ari', '.3f')} | {o.get('k', '')} | "
                     f"{fmt(once, 'ari', '.3f')} | {once.get('k', '')} | "
                     f"{fmt(rd, 'ari', '.3f')} | {rd.get('k', '')} | "
                     f"{fmt(dl, 'ari', '.3f')} | {dl.get('k', '')} | "
                     f"{o.get('n_compared', '')} |")
    lines += ["", "`compared`: the participants both ours and Polis grouped; red-dwarf and "
              "delphi are scored on the participants they share with Polis (delphi groups "
              "every voter, so it covers all Polis grouped).",
              "", "Targets (same k as Polis on >= 80 %, mean ARI >= 0.6, none more than 0.05 "
              "under red-dwarf or delphi), per set:", ""]
    for name in ("held out", "tuned"):
        chosen = [(ds, res) for ds, res in conv_rows if conversation_set(ds) == name]
        if chosen:
            lines.append(f"- {name}: {targets(chosen, polis_ks)}")
    held = [f"{ds}: ours k {res['ours-replay'].get('k')}, Polis k {polis_ks[ds]}"
            for ds, res in conv_rows if conversation_set(ds) == "held out"]
    lines += [
        "",
        "The targets are for conversations the job was not tuned on, i.e. the held-out "
        f"set ({'; '.join(held) or 'none here'}). Nothing was tuned on it after it was added.",
        "",
        *meta_lines,
        "",
        f"{META_BEFORE}, and why",
        "",
        "Where a held-out conversation comes with Polis's math blob, its base clusters give "
        "a second check, so the "
        "projection and the group level can be checked apart.",
        "",
        "| conversation | ours vs Polis | k ours / Polis | why |",
        "|---|---|---|---|",
        *[f"| {ds} | {fmt(res['ours-replay'], 'ari', '.3f')} | "
          f"{res['ours-replay'].get('k')} / {polis_ks[ds]} | "
          f"{why_polis(res['ours-replay'], polis_ks[ds], res.get('stability', {}))} |"
          for ds, res in conv_rows],
        "",
        "## Where ours and red-dwarf disagree, and why",
        "",
        "| conversation | ARI ours vs red-dwarf | ours vs Polis | red-dwarf vs Polis | why |",
        "|---|---|---|---|---|",
    ]
    for ds, res in conv_rows:
        o, rd = res["ours-replay"], res.get("reddwarf", {})
        between = ari_between(o, rd)
        lines.append(f"| {ds} | {between:.3f} | {fmt(o, 'ari', '.3f')} | "
                     f"{fmt(rd, 'ari', '.3f')} | "
                     f"{why(o, rd, res['ours'], res.get('stability', {}), polis_ks[ds], between)} |")
    lines += [
        "",
        "## Where ours and delphi disagree, and why",
        "",
        "delphi at commit cdc238c2 differs from Clojure Polis, and from ours, in ways its own "
        "code shows (tests/data/polis/delphi_groups.py): every participant with a vote is "
        "projected and clustered (no in-conversation filter); the groups are one k-means on "
        "those projections (its group clusters are its base clusters: no second level, no "
        "carry-over between recomputes, one computation on all votes, no replay); k is "
        "`determine_k` of the participant count (3 from 32 to 499 participants, 2 from 500 to "
        "1,023), not a silhouette choice; the k-means start is drawn from "
        "`RandomState(42)` over rows sorted by participant id, where Clojure keeps "
        "vote-encounter order; its power-iteration PCA is then flipped and rescaled by "
        "dataset-size rules. The parity work documented later in delphi (silhouette k, "
        "Clojure row order, two levels) is not in this commit.",
        "",
        "| conversation | ARI ours vs delphi | ours vs Polis | delphi vs Polis | "
        "k ours / delphi / Polis | why |",
        "|---|---|---|---|---|---|",
    ]
    for ds, res in conv_rows:
        o, dl = res["ours-replay"], res.get("delphi", {})
        between = ari_between(o, dl)
        lines.append(f"| {ds} | {between:.3f} | {fmt(o, 'ari', '.3f')} | "
                     f"{fmt(dl, 'ari', '.3f')} | {o.get('k')} / {dl.get('k')} / "
                     f"{polis_ks[ds]} | {why_delphi(o, dl, polis_ks[ds], between)} |")
    lines += [
        "",
        "## Stability: the replay against itself",
        "",
        "With the `votes` schedule (a recomputation every 100 votes), whose variants are "
        "cheap to run: ARI of the replay's groups under each change against its own groups "
        "on the full log "
        "(`self`) and against Polis's (`Polis`). Where `self` drops, the groups depend on when "
        "the computation stops or how often it ran: Polis's export is one such moment, so "
        "no replay can be expected to recover it exactly there.",
        "",
        "| conversation | change | self | Polis | k |",
        "|---|---|---|---|---|",
    ]
    for ds, res in conv_rows:
        for name, r in res.get("stability", {}).items():
            if isinstance(r, dict):
                lines.append(f"| {ds} | {name} | {r['self']:.3f} | {r['polis']:.3f} | "
                             f"{r['k']} |")
    lines += [
        "",
        "## Time and memory",
        "",
        "Time: vote columns in memory -> groups + repness + consensus (imports done before). "
        "Peak RSS: each tool in its own process; 'above input': that peak minus the resident "
        "memory once the input was loaded.",
        "",
        "| dataset | tool | seconds | peak RSS MB | peak above input MB | ARI | k | "
        "speed-up vs red-dwarf |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for ds, res in rows:
        rd = res.get("reddwarf", {})
        name = ds if ds in CONVERSATIONS else f"synthetic {int(ds):,} x 1,000"
        for t, r in res.items():
            if t in ("stability", "delphi"):  # delphi: frozen labels, nothing timed
                continue
            speed = (f"{rd['seconds'] / r['seconds']:.1f}x"
                     if "seconds" in rd and "seconds" in r and t != "reddwarf" else "")
            label = {"ours-replay": "ours (replay)", "ours": "ours (once)",
                     "reddwarf": "red-dwarf"}[t]
            above = (f"{r['peak_rss_mb'] - r['rss_loaded_mb']:.0f}"
                     if "rss_loaded_mb" in r else "-")
            lines.append(f"| {name} | {label} | {fmt(r, 'seconds', '.2f')} | "
                         f"{fmt(r, 'peak_rss_mb', '.0f')} | {above} | {fmt(r, 'ari', '.4f')} | "
                         f"{r.get('k', '')} | {speed} |")
    skipped = [ds for ds, res in rows if ds not in CONVERSATIONS and "reddwarf" not in res]
    if skipped:
        lines += ["", f"red-dwarf not run on synthetic {', '.join(skipped)} voters "
                  "(--skip-reddwarf-above): it pivots the votes into a dense voters x "
                  "statements float64 frame and copies it for imputation and PCA."]
    text = "\n".join(lines) + "\n"
    print(text)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(text)


if __name__ == "__main__":
    main()
