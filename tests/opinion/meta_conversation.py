"""A small constructed conversation with meta statements, shared by the opinion tests.

60 voters in two opinion groups (alternating ids) vote on 8 opinion statements (85 % of them,
5 % against their group); every voter also answers 6 statements about themselves ("I am under
30", ids 100-105) by a trait that crosses the opinion groups. Left on the map, the trait splits
the voters as much as their opinions do.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

META = list(range(100, 106))
OPINION = list(range(8))


def conversation(seed: int = 0, n: int = 60, density: float = 0.85, noise: float = 0.05):
    """(voter, statement, vote) arrays and each voter's opinion group and trait (by id)."""
    rng = np.random.default_rng(seed)
    opinion = np.arange(n) % 2
    trait = (np.arange(n) // 2) % 2
    rows = []
    for v in range(n):
        for s in OPINION:
            if rng.random() < density:
                stance = 1 if (s < len(OPINION) // 2) == (opinion[v] == 0) else -1
                rows.append((v, s, -stance if rng.random() < noise else stance))
        for s in META:
            rows.append((v, s, 1 if trait[v] == 0 else -1))
    voter, statement, vote = (np.array(c) for c in zip(*rows, strict=True))
    return voter, statement, vote, opinion, trait


def write_export(folder: Path, flag_meta: bool) -> Path:
    """The conversation as a Polis export folder: votes.csv, and comments.csv with the math
    export's header (its `is-meta` column set for the meta statements, or all false)."""
    voter, statement, vote, _, _ = conversation()
    folder.mkdir(parents=True, exist_ok=True)
    t0 = 1_600_000_000_000  # milliseconds, a vote a minute
    with (folder / "votes.csv").open("w") as fh:
        fh.write("timestamp,datetime,comment-id,voter-id,vote\n")
        for i, (v, s, x) in enumerate(zip(voter, statement, vote, strict=True)):
            fh.write(f"{t0 + 60_000 * i},x,{s},{v},{x}\n")
    with (folder / "comments.csv").open("w") as fh:
        # As compdemocracy/polis math/src/polismath/darwin/export.clj (csv-format) writes it.
        fh.write("timestamp,comment-id,author-id,agrees,disagrees,moderated,is-meta,is-seed,"
                 "group-informed-consensus,comment-body\n")
        for s in OPINION + META:
            is_meta = "true" if flag_meta and s in META else "false"
            fh.write(f"{t0},{s},0,0,0,1,{is_meta},true,0.5,Statement {s}\n")
    return folder
