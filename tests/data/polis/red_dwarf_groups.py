"""Freeze red-dwarf's groups for the Polis conversations here (the opinion job's reference).

red-dwarf is not a dependency of the engine, so its labels are frozen rather than run in the
tests. Reproduce (in a separate virtualenv):

    python -m venv /tmp/rd && /tmp/rd/bin/pip install red-dwarf==0.4.0
    /tmp/rd/bin/python tests/data/polis/red_dwarf_groups.py [FOLDER ...]

Without arguments it runs on every conversation beside this script; with folders (e.g. the
held-out tests/data/opinion/r6vbnhffkxbd7ifmfbdrd-vw), on those. For each conversation it keeps the latest vote per (participant, comment) from votes.csv (ties:
the later row; red-dwarf's pivot needs one vote per cell), runs
reddwarf.implementations.polis.run_pipeline(votes=..., random_state=0) and writes
red_dwarf_groups.csv: participant, group (only participants red-dwarf grouped). A second run
with the comments moderated out in comments.csv (mod_out_statement_ids, as Polis zeroes
them) writes red_dwarf_statements.csv: statement, x, y (its projected statements). A folder
without comments.csv has nothing moderated out.
"""

import csv
import sys
from pathlib import Path

from reddwarf.implementations.polis import run_pipeline

HERE = Path(__file__).resolve().parent


def latest_votes(path: Path) -> list[dict]:
    rows = list(csv.DictReader(path.open()))
    order = sorted(range(len(rows)), key=lambda i: (int(rows[i]["timestamp"]), i))
    latest = {}
    for i in order:
        r = rows[i]
        latest[(int(r["voter-id"]), int(r["comment-id"]))] = (int(r["vote"]), int(r["timestamp"]))
    return [{"participant_id": p, "statement_id": s, "vote": v, "modified": t}
            for (p, s), (v, t) in latest.items()]


def moderated_out(conv: Path) -> list[int]:
    if not (conv / "comments.csv").exists():
        return []
    comments = list(csv.DictReader((conv / "comments.csv").open()))
    return [int(c["comment-id"]) for c in comments if c["moderated"] == "-1"]


def main(folders: list[str]) -> None:
    convs = ([Path(f) for f in folders] if folders
             else sorted(p for p in HERE.iterdir() if (p / "votes.csv").exists()))
    for conv in convs:
        labels = run_pipeline(votes=latest_votes(conv / "votes.csv"),
                              random_state=0).participants_df["cluster_id"].dropna()
        with (conv / "red_dwarf_groups.csv").open("w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["participant", "group"])
            for pid in sorted(labels.index):
                w.writerow([int(pid), int(labels[pid])])
        print(conv.name, len(labels), labels.nunique())
        st = run_pipeline(votes=latest_votes(conv / "votes.csv"), random_state=0,
                          mod_out_statement_ids=moderated_out(conv)).statements_df
        with (conv / "red_dwarf_statements.csv").open("w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["statement", "x", "y"])
            for sid in sorted(st.index):
                w.writerow([int(sid), repr(float(st.loc[sid, "x"])), repr(float(st.loc[sid, "y"]))])


if __name__ == "__main__":
    main(sys.argv[1:])
