"""The held-out Polis conversation is what Polis itself computed on: its votes and its groups.

tests/data/opinion/*/ hold an openData votes.csv and the group-deciding keys of Clojure Polis's
math blob for the same conversation (see tests/data/opinion/README.md). These tests tie the
two together independently of the engine, so that the held-out ARIs measure the engine and
not a transcription slip.
"""

from __future__ import annotations

import csv
import json
from collections import defaultdict
from pathlib import Path

import pytest

HELD_OUT = Path(__file__).resolve().parents[1] / "data" / "opinion"
CONVERSATIONS = sorted(p.name for p in HELD_OUT.iterdir() if (p / "votes.csv").exists())


def blob(conversation: str) -> dict:
    return json.loads((HELD_OUT / conversation / "math_blob_clusters.json").read_text())


def voted_comments(conversation: str) -> dict[int, set[int]]:
    seen: dict[int, set[int]] = defaultdict(set)
    with (HELD_OUT / conversation / "votes.csv").open() as fh:
        for row in csv.DictReader(fh):
            seen[int(row["voter-id"])].add(int(row["comment-id"]))
    return seen


@pytest.mark.parametrize("conversation", CONVERSATIONS)
def test_votes_are_the_ones_polis_counted(conversation):
    b = blob(conversation)
    seen = voted_comments(conversation)
    # Polis's user-vote-counts: distinct comments each participant voted on (passes included).
    assert {int(p): n for p, n in b["user-vote-counts"].items()} == {
        p: len(c) for p, c in seen.items()}
    assert len(seen) == b["n"]
    assert len(set().union(*seen.values())) == b["n-cmts"]


@pytest.mark.parametrize("conversation", CONVERSATIONS)
def test_in_conversation_set_follows_polis_rule(conversation):
    b = blob(conversation)
    counts = {int(p): n for p, n in b["user-vote-counts"].items()}
    in_conv = set(b["in-conv"])
    threshold = min(7, b["n-cmts"])
    # Everyone with enough votes is in; the others Polis let in were topped up early on
    # (fewer than 15 in the conversation) and, once in, stay in.
    assert {p for p, n in counts.items() if n >= threshold} <= in_conv
    topped_up = [p for p in in_conv if counts[p] < threshold]
    assert len(topped_up) < 15


@pytest.mark.parametrize("conversation", CONVERSATIONS)
def test_polis_groups_unfold_the_math_blob(conversation):
    b = blob(conversation)
    base = dict(zip(b["base-clusters"]["id"], b["base-clusters"]["members"], strict=True))
    expected = {}
    for group in b["group-clusters"]:
        for base_id in group["members"]:
            for participant in base[base_id]:
                assert participant not in expected  # each participant in one base cluster
                expected[participant] = (group["id"], base_id)
    with (HELD_OUT / conversation / "polis_groups.csv").open() as fh:
        frozen = {int(r["participant"]): (int(r["group"]), int(r["base"]))
                  for r in csv.DictReader(fh)}
    assert frozen == expected
    # Polis groups exactly the participants in the conversation.
    assert set(frozen) == set(b["in-conv"])


@pytest.mark.parametrize("conversation", CONVERSATIONS)
def test_group_centres_are_their_base_centres_weighted_mean(conversation):
    # A k-means fixed point: each Polis group sits at the count-weighted mean of its base
    # clusters (a check on the transcribed coordinates too).
    import numpy as np

    b = blob(conversation)
    bc = b["base-clusters"]
    where = {i: (x, y, n) for i, x, y, n in zip(bc["id"], bc["x"], bc["y"], bc["count"],
                                               strict=True)}
    for group in b["group-clusters"]:
        pts = np.array([where[i] for i in group["members"]])
        centre = np.average(pts[:, :2], axis=0, weights=pts[:, 2])
        np.testing.assert_allclose(centre, group["center"], rtol=0, atol=1e-12)
