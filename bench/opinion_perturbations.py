"""How much Polis's own groups depend on the history of a conversation: the replay under tiny
perturbations of the vote log, and its last recomputations, against Polis's groups.

    PYTHONPATH=. python bench/opinion_perturbations.py [--seeds 20] [--last 20]

For each case (conversation, schedule, Polis version, statements; see CASES): the replay on the
full log; with 1 % of the votes dropped at random (one run per seed); with the last 1, 2, 5 or
10 votes dropped (an earlier moment of export); with the poller's phase moved (polling only);
and, over its last recomputations, the ARI of the group level as carried over between
recomputations (what the replay shows) and of a fresh group k-means of the same base clusters
(what a worker that just restarted would show). Results: bench/results/opinion_perturbations.md.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.opinion import (  # noqa: E402  (after the path set-up, like bench/opinion.py)
    FOLDERS,
    ari,
    job_options,
    meta_by_reading,
    our_groups,
    polis_reference,
    replay_fit,
    report_header,
)
from bench.opinion_polis_versions import last_vote_day  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "opinion_perturbations.md"
# (conversation, schedule, Polis version, statements): the two held-out conversations that fell
# short of red-dwarf or delphi, each with the settings that explain it best (docs/opinion.md).
CASES = [("25ptpt-3gp-no-strict-with-meta", "polling", "today", "export"),
         ("scoop-hivemind.ubi", "votes", "as-of-last-vote", "meta")]


def load(name: str, math: str, with_meta: str):
    from engine._opinion import meta, polis_versions
    from engine.jobs.opinion import export_votes

    loaded = export_votes(FOLDERS[name])
    m = loaded.matrix
    meta.mark(m, meta_by_reading(FOLDERS[name]) if with_meta == "meta" else [],
              loaded.meta_ids, loaded.listed_ids)
    opts = job_options()[1]
    if math == "as-of-last-vote":
        opts = polis_versions.options_as_of(last_vote_day(m), opts)
    return m, opts


def subset(m, keep, time=None):
    from engine._opinion.votes import build_matrix

    out = build_matrix(m.voter[keep], m.statement[keep], m.vote[keep],
                       (m.time if time is None else time)[keep], m.voter_ids, m.statement_ids,
                       m.moderated_out)
    out.ns_per_time_unit, out.meta = m.ns_per_time_unit, m.meta
    return out


def last_recomputations(m, opts, schedule: str, ref: dict, n: int) -> list[tuple]:
    """(votes in, carried ARI, fresh ARI, fresh k) for the replay's last `n` recomputations."""
    from engine._opinion import kmeans, model
    from engine.jobs.opinion import replay_times

    p = job_options()[0]
    gap, polling = replay_times(replace(p, replay_schedule=schedule), m)
    by_time = np.argsort(m.time, kind="stable")
    rank = np.empty(len(m.vote), np.int64)
    rank[by_time] = np.arange(len(m.vote))
    ends, reloads = model.replay_ends(m.time[by_time], p.replay_every, gap, polling)
    state, out = {}, []
    for end in ends:  # model.replay's loop, keeping every recomputation's fit
        keep = rank < end
        seen = np.zeros(m.shape[1], bool)
        seen[m.statement[keep]] = True
        values = model._csr(m.voter[keep], m.statement[keep], m.vote[keep], m.shape)
        if (np.diff(values.indptr) > 0).sum() < 3 or seen.sum() < 2:
            continue
        runs = 1
        if end in reloads:
            state = {k: v for k, v in state.items() if k not in model.RELOAD_DROPS}
            runs = 2 if polling is not None else 1
        sub = model.VoteMatrix(values, m.voter_ids, m.statement_ids, m.moderated_out & seen)
        for _ in range(runs):
            fit, state = model.fit(sub, opts, np, state, n_statements=int(seen.sum()),
                                   with_subgroups=False)
        if end not in ends[-n:]:
            continue
        rows = np.flatnonzero(fit.in_conv)
        fresh = kmeans.group_candidates(fit.base.centres, fit.base.sizes.astype(np.float64),
                                        opts.max_groups, opts.tol, opts.group_iter, fit.base.ids)
        k = kmeans.best_k(fresh)
        ids = m.voter_ids[rows]
        carried = {int(v): int(g) for v, g in zip(ids, fit.group_of_base[fit.base.labels],
                                                   strict=True)}
        new = {int(v): int(g) for v, g in zip(ids, fresh[k][0].labels[fit.base.labels],
                                               strict=True)}
        out.append((int(end), ari(ref, carried)[0], ari(ref, new)[0], int(k)))
    return out


def case_lines(name, schedule, math, with_meta, seeds, last) -> list[str]:
    m, opts = load(name, math, with_meta)
    ref = polis_reference(FOLDERS[name])

    def run(c):
        fit = replay_fit(c, schedule=schedule, opts=opts)
        return ari(ref, our_groups(c, fit))[0], int(fit.k)

    full = run(m)
    lines = [f"## {name}: {schedule}, Polis {math}, statements {with_meta}", "",
             f"- full log: ARI {full[0]:.3f}, k {full[1]}"]
    drops = [run(subset(m, np.random.default_rng(s).random(len(m.vote)) >= 0.01))
             for s in range(seeds)]
    a = np.array([d[0] for d in drops])
    lines.append(f"- 1 % of the votes dropped at random, seeds 0-{seeds - 1}: ARI min "
                 f"{a.min():.3f}, median {np.median(a):.3f}, max {a.max():.3f}; exactly "
                 f"Polis's groups on {(a > 0.9999).sum()}; k "
                 f"{', '.join(str(d[1]) for d in drops)}; ARIs "
                 f"{', '.join(f'{x:.3f}' for x in a)}")
    by_time = np.argsort(m.time, kind="stable")
    for n in (1, 2, 5, 10):
        keep = np.ones(len(m.vote), bool)
        keep[by_time[-n:]] = False
        lines.append("- the last {} votes dropped: ARI {:.3f}, k {}".format(n, *run(subset(m, keep))))
    if schedule == "polling":
        per_ms = 1e6 / m.ns_per_time_unit
        for off in (250, 500, 750):
            shifted = subset(m, np.ones(len(m.vote), bool), m.time + int(off * per_ms))
            lines.append("- poller's phase +{} ms: ARI {:.3f}, k {}".format(off, *run(shifted)))
    lines += ["", f"The last {last} recomputations: the group level carried over (what the "
              "replay shows) and a fresh group k-means of the same base clusters (what a "
              "worker that had just restarted would show).", "",
              "| votes in | carried ARI | fresh ARI | fresh k |", "|---|---|---|---|"]
    lines += [f"| {e} | {c:.3f} | {f:.3f} | {k} |"
              for e, c, f, k in last_recomputations(m, opts, schedule, ref, last)]
    return lines + [""]


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--seeds", type=int, default=20)
    p.add_argument("--last", type=int, default=20)
    args = p.parse_args()
    lines = ["# opinion: Polis's groups against the replay under tiny perturbations", "",
             *report_header("PYTHONPATH=. python bench/opinion_perturbations.py "
                            + " ".join(sys.argv[1:])), ""]
    for case in CASES:
        lines += case_lines(*case, args.seeds, args.last)
        print("\n".join(lines[-8:]), flush=True)
    RESULTS.write_text("\n".join(lines))


if __name__ == "__main__":
    main()
