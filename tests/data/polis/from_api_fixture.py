"""Turn a Polis API download (red-dwarf's test fixtures) into the export layout the job reads.

red-dwarf's `tests/fixtures/<name>/` hold what Polis's API serves: `votes.json` (one row per
participant-comment pair, the standing vote with its `modified` time in milliseconds, agree =
+1), `comments.json` (`moderated` or `mod`, `is_meta`) and `math-pca2.json` (Clojure Polis's
math blob). Older downloads name the ids `pid`/`tid`, newer ones `participant_id`/
`statement_id`.

    python tests/data/polis/from_api_fixture.py SOURCE_FIXTURE DEST   # copy, then derive
    python tests/data/polis/from_api_fixture.py DEST                  # derive again

The first form copies votes.json and comments.json verbatim into DEST and keeps, verbatim in
value, the math blob's keys that decide the groups (math_blob_clusters.json, as for the VW
conversation). Both forms then write, deterministically, from DEST alone:
- votes.csv: the export's columns (timestamp in milliseconds, datetime, comment-id, voter-id,
  vote), rows by (time, voter, comment): each vote appears once, at its last change;
- comments.csv: comment-id, author-id, agrees, disagrees, moderated (-1 for every comment in
  the blob's `mod-out`, else the download's value), is-meta (true/false), comment-body;
- polis_groups.csv: participant, group, base, each group's base clusters unfolded.
tests/opinion/test_heldout_data.py rederives all three and compares.
"""

from __future__ import annotations

import csv
import io
import json
import shutil
import sys
from datetime import UTC, datetime
from pathlib import Path

# Keys of math-pca2.json that decide Polis's groups and let the vote log be checked.
BLOB_KEYS = ("n", "n-cmts", "lastVoteTimestamp", "mod-out", "meta-tids", "user-vote-counts",
             "in-conv", "base-clusters", "group-clusters")


def _field(row: dict, *names: str):
    return next(row[n] for n in names if n in row)


def _json(path: Path):
    return json.loads(path.read_text(encoding="utf-8"))


def _csv(header: list[str], rows: list[list]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue()


def _datetime(ms: int) -> str:
    when = datetime.fromtimestamp(ms / 1000, tz=UTC)
    return when.strftime("%a %b %d %Y %H:%M:%S GMT+0000 (Coordinated Universal Time)")


def votes_csv(votes: list[dict]) -> str:
    rows = sorted((int(float(v["modified"])), int(_field(v, "pid", "participant_id")),
                   int(_field(v, "tid", "statement_id")), int(v["vote"])) for v in votes)
    return _csv(["timestamp", "datetime", "comment-id", "voter-id", "vote"],
                [[t, _datetime(t), c, p, vote] for t, p, c, vote in rows])


def comments_csv(comments: list[dict], mod_out: list[int]) -> str:
    rows = []
    for c in sorted(comments, key=lambda c: int(_field(c, "tid", "statement_id"))):
        cid = int(_field(c, "tid", "statement_id"))
        moderated = -1 if cid in mod_out else int(_field(c, "mod", "moderated"))
        rows.append([cid, _field(c, "pid", "participant_id"), c["agree_count"],
                     c["disagree_count"], moderated, "true" if c["is_meta"] else "false",
                     c["txt"]])
    return _csv(["comment-id", "author-id", "agrees", "disagrees", "moderated", "is-meta",
                 "comment-body"], rows)


def polis_groups_csv(blob: dict) -> str:
    base = dict(zip(blob["base-clusters"]["id"], blob["base-clusters"]["members"], strict=True))
    rows = sorted([p, g["id"], b] for g in blob["group-clusters"] for b in g["members"]
                  for p in base[b])
    return _csv(["participant", "group", "base"], rows)


def derive(folder: Path) -> dict[str, str]:
    """The export files (name -> text) that DEST's json files give."""
    blob = _json(folder / "math_blob_clusters.json")
    return {
        "votes.csv": votes_csv(_json(folder / "votes.json")),
        "comments.csv": comments_csv(_json(folder / "comments.json"), blob["mod-out"]),
        "polis_groups.csv": polis_groups_csv(blob),
    }


def copy_fixture(source: Path, dest: Path) -> None:
    dest.mkdir(parents=True, exist_ok=True)
    for name in ("votes.json", "comments.json"):
        shutil.copyfile(source / name, dest / name)
    blob = _json(source / "math-pca2.json")
    kept = {k: blob[k] for k in BLOB_KEYS}
    (dest / "math_blob_clusters.json").write_text(json.dumps(kept, indent=1) + "\n",
                                                  encoding="utf-8")


def main(argv: list[str]) -> None:
    if len(argv) == 2:
        copy_fixture(Path(argv[0]), Path(argv[1]))
    elif len(argv) != 1:
        sys.exit("usage: from_api_fixture.py [SOURCE_FIXTURE] DEST")
    dest = Path(argv[-1])
    for name, text in derive(dest).items():
        (dest / name).write_text(text, encoding="utf-8", newline="")


if __name__ == "__main__":
    main(sys.argv[1:])
