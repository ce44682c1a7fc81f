"""The held-out Polis conversations are what Polis itself computed on: its votes and its groups.

tests/data/opinion/*/ hold an openData votes.csv and, for each conversation, Polis's own groups:
either the group-deciding keys of Clojure Polis's math blob (math_blob_clusters.json) or the
export's participants-votes.csv (group-id, with every participant's vote counts and votes), see
tests/data/opinion/README.md. These tests tie the vote log to Polis's side independently of
the engine, so that the held-out ARIs measure the engine and not a transcription slip.
"""

from __future__ import annotations

import csv
import json
from collections import defaultdict
from pathlib import Path

import pytest

HELD_OUT = Path(__file__).resolve().parents[1] / "data" / "opinion"
CONVERSATIONS = sorted(p.name for p in HELD_OUT.iterdir()
                       if (p / "math_blob_clusters.json").exists())
EXPORTS = sorted(p.name for p in HELD_OUT.iterdir() if (p / "participants-votes.csv").exists())


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


def latest_votes(conversation: str) -> dict[tuple[int, int], int]:
    """(participant, comment) -> the vote that stands: the latest by timestamp (ties: the
    later row), independently of the engine's reader."""
    with (HELD_OUT / conversation / "votes.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    order = sorted(range(len(rows)), key=lambda i: (int(rows[i]["timestamp"]), i))
    return {(int(rows[i]["voter-id"]), int(rows[i]["comment-id"])): int(rows[i]["vote"])
            for i in order}


def participants(conversation: str) -> list[dict]:
    with (HELD_OUT / conversation / "participants-votes.csv").open() as fh:
        return list(csv.DictReader(fh))


@pytest.mark.parametrize("conversation", EXPORTS)
def test_vote_log_gives_polis_participant_counts_and_votes(conversation):
    latest = latest_votes(conversation)
    rows = participants(conversation)
    comment_columns = [c for c in rows[0] if c.isdigit()]
    by_participant: dict[int, dict[int, int]] = defaultdict(dict)
    for (p, c), v in latest.items():
        by_participant[p][c] = v
    # Everyone in the log is a row of participants-votes.csv and the other way round.
    assert {int(r["participant"]) for r in rows} == set(by_participant)
    for r in rows:
        mine = by_participant[int(r["participant"])]
        values = list(mine.values())
        assert (int(r["n-votes"]), int(r["n-agree"]), int(r["n-disagree"])) == (
            len(values), values.count(1), values.count(-1))
        # Each comment column holds that participant's standing vote (blank: none).
        assert {int(c): int(r[c]) for c in comment_columns if r[c] != ""} == {
            c: v for c, v in mine.items() if str(c) in comment_columns}


@pytest.mark.parametrize("conversation", EXPORTS)
def test_summary_agrees_with_polis_groups(conversation):
    with (HELD_OUT / conversation / "summary.csv").open() as fh:
        summary = {row[0]: row[1] for row in csv.reader(fh) if len(row) >= 2}
    rows = participants(conversation)
    groups = {r["group-id"] for r in rows if r["group-id"] != ""}
    assert int(summary["voters"]) == len(rows)
    assert int(summary["groups"]) == len(groups) >= 2


BY_READING = sorted(p.name for p in HELD_OUT.iterdir()
                    if (p / "meta_statements_by_reading.csv").exists())


@pytest.mark.parametrize("conversation", BY_READING)
def test_meta_statements_by_reading_quote_comments_csv(conversation):
    # The lists chosen by reading (README) carry each statement's text and moderation as the
    # export has them, so what was chosen can be checked against what was read.
    with (HELD_OUT / conversation / "comments.csv").open(newline="") as fh:
        comments = {int(r["comment-id"]): r for r in csv.DictReader(fh)}
    with (HELD_OUT / conversation / "meta_statements_by_reading.csv").open(newline="") as fh:
        chosen = list(csv.DictReader(fh))
    assert chosen
    for row in chosen:
        comment = comments[int(row["statement_id"])]
        assert row["comment_body"] == comment["comment-body"]
        assert row["moderated_in_export"] == comment["moderated"]
        assert row["reason"]
