"""The replay with the Polis of each conversation's last vote (engine._opinion.polis_versions)
against today's Polis, on the conversations here: k and ARI against Polis's groups.

    PYTHONPATH=. python bench/opinion_polis_versions.py [--only NAME ...] \
        [--schedules once votes polling] [--results PATH.jsonl]

An export's groups are those of Polis's last update, run by the Polis of that day; its math
changed in October 2017 (missing votes as 0 before, and moderated-out columns counted as
votes in the in-conversation filter) and in its iteration counts (December 2017, June 2022).
`today`: the job's options; `as of last vote`: `options_as_of(day of the last vote)`;
`dated` (replays only): each recomputation with the Polis of its own day. Where a
conversation has `meta_statements_by_reading.csv`, both also run with those statements as
meta (a sensitivity check like bench/opinion.py's "What the export leaves out": the export
does not say which statements Polis held as meta). Each (conversation, schedule, variant)
runs in its own subprocess; rows go to --results (JSON lines, by default
bench/results/opinion_polis_versions.jsonl, kept between invocations: a row found there is
not rerun) and the report to bench/results/opinion_polis_versions.md.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.opinion import (  # noqa: E402  (after the path set-up, like bench/opinion.py)
    FOLDERS,
    META_BY_READING,
    ari,
    conversation_set,
    frozen_groups,
    job_options,
    machine,
    meta_by_reading,
    our_groups,
    polis_k,
    polis_reference,
    replay_fit,
    report_header,
)

RESULTS = ROOT / "bench" / "results" / "opinion_polis_versions.md"
MATHS = ("today", "as-of-last-vote", "dated")


def last_vote_day(m):
    from datetime import UTC, datetime

    return datetime.fromtimestamp(int(m.time.max()) * m.ns_per_time_unit / 1e9, UTC).date()


def worker(name: str, schedule: str, math: str, with_meta: str) -> dict:
    from engine._opinion import meta, model, polis_versions
    from engine.jobs.opinion import export_votes

    folder = FOLDERS[name]
    loaded = export_votes(folder)
    m = loaded.matrix
    meta.mark(m, meta_by_reading(folder) if with_meta == "meta" else [], loaded.meta_ids,
              loaded.listed_ids)
    opts = job_options()[1]
    at = None
    if math == "as-of-last-vote" or (math == "dated" and schedule == "once"):
        opts = polis_versions.options_as_of(last_vote_day(m), opts)
    elif math == "dated":
        at = polis_versions.options_at_times(m.ns_per_time_unit, opts)
    t0 = time.perf_counter()
    fit = (model.fit(m, opts)[0] if schedule == "once"
           else replay_fit(m, schedule=schedule, opts=opts, options_at=at))
    score, n = ari(polis_reference(folder), our_groups(m, fit))
    return {"k": int(fit.k), "ari": score, "n_compared": n, "n_in_conv": int(fit.in_conv.sum()),
            "seconds": time.perf_counter() - t0, "last_vote": str(last_vote_day(m))}


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--worker", nargs=4)
    p.add_argument("--only", nargs="*")
    p.add_argument("--schedules", nargs="*", default=["once", "votes", "polling"])
    p.add_argument("--results", default=str(RESULTS.with_suffix(".jsonl")))
    p.add_argument("--timeout", type=int, default=3600)
    args = p.parse_args()
    if args.worker:
        print("RESULT " + json.dumps(worker(*args.worker)))
        return
    done = {}
    if Path(args.results).exists():
        for line in Path(args.results).read_text().splitlines():
            r = json.loads(line)
            done[tuple(r["key"])] = r["result"]
    rows = []
    for name in args.only or list(FOLDERS):
        variants = ["export"] + (["meta"] if (FOLDERS[name] / META_BY_READING).exists() else [])
        for with_meta in variants:
            for schedule in args.schedules:
                for math in MATHS:
                    if math == "dated" and schedule == "once":
                        continue  # one computation: the Polis of the last vote
                    key = (name, schedule, math, with_meta)
                    if key not in done or "error" in done[key]:
                        cmd = [sys.executable, __file__, "--worker", *key]
                        try:
                            out = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT,
                                                 timeout=args.timeout)
                            lines = [x for x in out.stdout.splitlines() if x.startswith("RESULT ")]
                            done[key] = (json.loads(lines[-1][7:]) if lines else
                                         {"error": (out.stderr.strip().splitlines() or ["?"])[-1]})
                        except subprocess.TimeoutExpired:
                            done[key] = {"error": f"timeout {args.timeout}s"}
                        done[key]["run"] = (f"{machine()[1]}, "
                                            f"{time.strftime('%Y-%m-%d %H:%M', time.gmtime())} UTC")
                        print(*key, done[key], flush=True)
                        with open(args.results, "a") as fh:
                            fh.write(json.dumps({"key": key, "result": done[key]}) + "\n")
                    rows.append((key, done[key]))
    write_report(rows, " ".join(sys.argv[1:]))


def write_report(rows, argv: str) -> None:
    def cell(r: dict) -> str:
        return r["error"] + " | |" if "error" in r else f"{r['k']} | {r['ari']:.3f} | {r['n_in_conv']}"

    lines = ["# opinion: the replay with the Polis of each conversation's last vote", "",
             *report_header(f"PYTHONPATH=. python bench/opinion_polis_versions.py {argv}".strip()),
             "", "`today`: the job's settings (Polis since June 2022); `as of last vote`: "
             "engine._opinion.polis_versions.options_as_of(the day of the last vote), i.e. "
             "Polis's math as it ran then; `dated` (replays): each recomputation with the "
             "Polis of its own day (polis_versions.options_at_times), the state carried "
             "across its changes. `export`: the statements as the export has them; "
             "`meta`: with meta_statements_by_reading.csv as meta (not counted toward any "
             "target). `in conv`: voters in the in-conversation set. red-dwarf and delphi: "
             "their frozen groups.", "",
             "| conversation | set | last vote | Polis k | statements | schedule | today k | "
             "today ARI | today in conv | as of last vote k | as of last vote ARI | "
             "as of last vote in conv | dated k | dated ARI | dated in conv | red-dwarf ARI | "
             "delphi ARI |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    by_key = dict(rows)
    for (name, schedule, math, with_meta), r in rows:
        if math != "today":
            continue
        old = by_key[(name, schedule, "as-of-last-vote", with_meta)]
        dated = by_key.get((name, schedule, "dated", with_meta), old)
        rd = frozen_groups(name, "red_dwarf_groups.csv").get("ari", float("nan"))
        de = frozen_groups(name, "delphi_groups.csv").get("ari", float("nan"))
        lines.append(f"| {name} | {conversation_set(name)} | {r.get('last_vote', '')} | "
                     f"{polis_k(name)} | {with_meta} | {schedule} | {cell(r)} | {cell(old)} | "
                     f"{cell(dated)} | "
                     f"{rd:.3f} | {de:.3f} |")
    text = "\n".join(lines) + "\n"
    print(text)
    RESULTS.write_text(text)


if __name__ == "__main__":
    main()
