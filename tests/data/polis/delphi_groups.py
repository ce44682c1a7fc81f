"""Freeze delphi's groups for the Polis conversations here (a reference for the opinion job).

delphi is Polis's own Python port of its Clojure math (compdemocracy/polis, `delphi/`). It is
not on PyPI and not a dependency of the engine, so its labels are frozen rather than run in
the tests. The version used is delphi at commit cdc238c2 of compdemocracy/polis
(cdc238c27e0357cd5c92436e9fcaf8465c901959): `polismath/conversation/conversation.py`,
`polismath/pca_kmeans_rep/pca.py`, `clusters.py` and `corr.py` as they are at that commit;
`repness.py`, `named_matrix.py` and `utils/general.py` as they are at commit
f8f76b25b4dbfed0f2ec76d75197e4051e4c6f44, versions that provide what conversation.py and
clusters.py import (agree, disagree, pass_vote, weighted_mean(s)); empty `__init__.py`
files. Its `polismath` package must sit in the folder given as --delphi.

Reproduce (general.py at f8f76b25 needs Python 3.12; delphi's code is AGPL-3.0 and stays
outside this repository):

    python3.12 -m venv /tmp/delphi-venv
    /tmp/delphi-venv/bin/pip install pandas==2.3.3 numpy==2.5.5 scipy==1.18.1 natsort==8.4.0
    /tmp/delphi-venv/bin/python tests/data/polis/delphi_groups.py --delphi /path/to/delphi \\
        [FOLDER ...]

Without folders it runs on every conversation beside this script; with folders (e.g. the
held-out tests/data/opinion/r6vbnhffkxbd7ifmfbdrd-vw), on those. For each conversation it
does what delphi's own test helper at that commit (`tests/common_utils.py`,
create_test_conversation) does with an openData export: votes.csv read in export row order,
pid = voter-id, tid = comment-id, the vote as exported (openData's agree = +1 is delphi's
convention too, so no sign flip; a later row for the same cell overwrites an earlier one),
rows and columns the sorted ids as strings. Comments with comments.csv `moderated` = -1 are
then moderated out with delphi's Conversation.update_moderation({'mod_out_tids': ...}),
which rebuilds the rating matrix (its rows and columns then sorted as strings). Then the two
steps of Conversation.recompute() that decide the groups: _compute_pca() and
_compute_clusters(). The later steps (repness, participant info) are left out: repness.py is
not from commit cdc238c2, and its NamedMatrix API does not take the DataFrame that
conversation.py passes. At this commit the group clusters are the base clusters: one k-means
on the 2-D projection of every participant with a vote, k = determine_k(participant count).

Writes delphi_groups.csv (participant, group: delphi's group-cluster id, for every
participant in its group clusters' members). A conversation delphi fails on is reported with
its error and the others go on; the script exits 1 if any failed.
"""

import argparse
import csv
import sys
import traceback
from pathlib import Path

HERE = Path(__file__).resolve().parent


def load_like_delphi(conv_dir: Path, conversation_cls):
    """An openData export into a Conversation, as delphi's create_test_conversation does."""
    import numpy as np
    import pandas as pd

    votes = pd.read_csv(conv_dir / "votes.csv")
    ptpt_ids = sorted(votes["voter-id"].unique())
    cmt_ids = sorted(votes["comment-id"].unique())
    row_of = {p: i for i, p in enumerate(ptpt_ids)}
    col_of = {c: j for j, c in enumerate(cmt_ids)}
    matrix = np.full((len(ptpt_ids), len(cmt_ids)), np.nan)
    # Export row order, a later row overwriting an earlier one for the same cell (the
    # helper's loop); sign() is its normalisation to -1 / 0 / +1.
    votes = votes.drop_duplicates(["voter-id", "comment-id"], keep="last")
    rows = votes["voter-id"].map(row_of).to_numpy()
    cols = votes["comment-id"].map(col_of).to_numpy()
    matrix[rows, cols] = np.sign(votes["vote"].to_numpy(dtype=float))
    frame = pd.DataFrame(matrix, index=[str(p) for p in ptpt_ids],
                         columns=[str(c) for c in cmt_ids], dtype=float)
    conv = conversation_cls(conv_dir.name)
    conv.raw_rating_mat = frame
    conv.rating_mat = frame
    conv.participant_count, conv.comment_count = frame.shape
    return conv


def moderated_out(conv_dir: Path) -> list[str]:
    path = conv_dir / "comments.csv"
    if not path.exists():
        return []
    with path.open() as fh:
        return [r["comment-id"] for r in csv.DictReader(fh) if r["moderated"] == "-1"]


def delphi_groups(conv_dir: Path, conversation_cls) -> dict[int, int]:
    conv = load_like_delphi(conv_dir, conversation_cls)
    mod_out = moderated_out(conv_dir)
    if mod_out:
        conv = conv.update_moderation({"mod_out_tids": mod_out}, recompute=False)
    conv._compute_pca()
    conv._compute_clusters()
    return {int(member): int(group["id"]) for group in conv.group_clusters
            for member in group["members"]}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--delphi", required=True, type=Path,
                   help="folder holding delphi's polismath package")
    p.add_argument("folders", nargs="*", type=Path)
    args = p.parse_args()
    sys.path.insert(0, str(args.delphi.resolve()))
    from polismath.conversation.conversation import Conversation

    convs = args.folders or sorted(p for p in HERE.iterdir() if (p / "votes.csv").exists())
    failed = []
    for conv_dir in convs:
        try:
            groups = delphi_groups(conv_dir, Conversation)
        except Exception:  # one conversation's failure is recorded, the others go on
            failed.append(conv_dir.name)
            print(f"{conv_dir.name}: delphi failed\n{traceback.format_exc()}", file=sys.stderr)
            continue
        with (conv_dir / "delphi_groups.csv").open("w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(["participant", "group"])
            w.writerows(sorted(groups.items()))
        print(conv_dir.name, len(groups), "participants,", len(set(groups.values())), "groups")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
