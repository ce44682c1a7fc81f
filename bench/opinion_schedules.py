"""The replay's two schedules on every Polis conversation here: k and ARI against Polis's groups.

    PYTHONPATH=. python bench/opinion_schedules.py [--only NAME ...] [--schedules votes polling]

`votes`: a recomputation every `replay_every` (100) votes; `polling`: at Clojure Polis's own
moments, once per poll of its votes table (every 1000 ms) that brought the conversation votes
(engine._opinion.model.polling_ends). Both restart the group level after pauses over 24 h.
Each (conversation, schedule) runs in its own subprocess; results go to stdout and to
bench/results/opinion_schedules.md. The schedule is not chosen by these numbers: see
docs/opinion.md for what Polis's source says.
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
    ari,
    conversation_set,
    frozen_groups,
    machine,
    our_groups,
    polis_k,
    polis_reference,
    replay_fit,
    report_header,
    run_delphi,
    smoother_at_end,
    targets,
)


def worker(name: str, schedule: str) -> dict:
    from engine._opinion import readers

    m = readers.read_polis_export(FOLDERS[name]).matrix
    t0 = time.perf_counter()
    fit = replay_fit(m, schedule=schedule)
    seconds = time.perf_counter() - t0
    score, n = ari(polis_reference(FOLDERS[name]), our_groups(m, fit))
    return {"k": int(fit.k), "ari": score, "n_compared": n, "seconds": seconds,
            "recomputations": len(fit.k_history), "smoother": smoother_at_end(fit.k_history)}


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--worker", nargs=2)
    p.add_argument("--only", nargs="*")
    p.add_argument("--schedules", nargs="*", default=["votes", "polling"])
    p.add_argument("--timeout", type=int, default=7200)
    # Results are kept (one JSON line per run) so that runs split over several invocations,
    # e.g. in parallel, make one report; a (conversation, schedule) found there is not rerun.
    p.add_argument("--results", default=str(ROOT / "bench" / "results" / "opinion_schedules.jsonl"))
    p.add_argument("--report-only", action="store_true", help="write the report from --results")
    args = p.parse_args()
    if args.worker:
        print("RESULT " + json.dumps(worker(*args.worker)))
        return
    done = {}
    if Path(args.results).exists():
        for line in Path(args.results).read_text().splitlines():
            r = json.loads(line)
            done[(r["conversation"], r["schedule"])] = r["result"]
    rows = []
    for name in args.only or list(FOLDERS):
        res = {}
        for schedule in args.schedules:
            if "error" not in done.get((name, schedule), {"error": ""}):
                res[schedule] = done[(name, schedule)]
                continue
            if args.report_only:
                res[schedule] = {"error": "not run"}
                continue
            cmd = [sys.executable, __file__, "--worker", name, schedule]
            try:
                out = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT,
                                     timeout=args.timeout)
                lines = [x for x in out.stdout.splitlines() if x.startswith("RESULT ")]
                res[schedule] = (json.loads(lines[-1][7:]) if lines
                                 else {"error": (out.stderr.strip().splitlines() or ["?"])[-1]})
            except subprocess.TimeoutExpired:
                res[schedule] = {"error": f"timeout {args.timeout}s"}
            # Which code and when: rows of one report may come from different runs.
            res[schedule]["run"] = f"{machine()[1]}, {time.strftime('%Y-%m-%d %H:%M', time.gmtime())} UTC"
            print(name, schedule, res[schedule], flush=True)
            with open(args.results, "a") as fh:
                fh.write(json.dumps({"conversation": name, "schedule": schedule,
                                     "result": res[schedule]}) + "\n")
        rows.append((name, res))
    write_report(rows, args.schedules, " ".join(sys.argv[1:]))


def write_report(rows, schedules, argv: str) -> None:
    def cell(r: dict) -> str:
        if "error" in r:
            return f"{r['error']} | | | "
        run = f" ({r['run']})" if "run" in r else ""
        return f"{r['k']} | {r['ari']:.3f} | {r['recomputations']} | {r['seconds']:.0f}{run}"

    head = " | ".join(f"{s} k | {s} ARI | {s} recomputations | {s} s" for s in schedules)
    lines = ["# opinion: the replay's schedules against Polis's groups", "",
             *report_header(f"PYTHONPATH=. python bench/opinion_schedules.py {argv}".strip()),
             "- results of each run: bench/results/opinion_schedules.jsonl (kept between "
             "invocations: a row's seconds come from the run named after them, commit and "
             "date, or from an earlier one where none is named); not run: no result there", "",
             f"| conversation | set | Polis k | {head} |",
             "|---|---|---|" + "---|" * (4 * len(schedules))]
    for name, res in rows:
        k_polis = polis_k(name)
        cells = " | ".join(cell(res[s]) for s in schedules)
        lines.append(f"| {name} | {conversation_set(name)} | {k_polis} | {cells} |")
    lines += ["", "Targets (same k as Polis on >= 80 %, mean ARI >= 0.6, none more than 0.05 under "
              "red-dwarf or delphi; their groups frozen beside each conversation), per set and "
              "schedule, over the conversations run with every schedule:", ""]
    for part in ("held out", "tuned"):
        chosen = [(name, {**res, "reddwarf": frozen_groups(name, "red_dwarf_groups.csv"),
                          "delphi": run_delphi(name)})
                  for name, res in rows if conversation_set(name) == part
                  and all("k" in res[s] for s in schedules)]
        polis_ks = {name: polis_k(name) for name, _ in chosen}
        for s in schedules:
            lines.append(f"- {part}, {s} ({len(chosen)} conversations): "
                         f"{targets(chosen, polis_ks, ours=s)}")
    text = "\n".join(lines) + "\n"
    print(text)
    out = ROOT / "bench" / "results" / "opinion_schedules.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)


if __name__ == "__main__":
    main()
