"""Synthetic Polis-like votes: planted opinion groups, most votes missing.

Ground truth (`VoteTruth`): every voter belongs to one of `n_opinion_groups` groups; every
group has a stance (+1 / -1) on each statement, shared by all groups on a share of
*consensus* statements. A voter votes on a random subset of statements (activity is
heavy-tailed around `vote_density`; popular statements are seen more often); a vote follows
the group's stance with probability `FOLLOW`, is a pass with probability `PASS`, else the
opposite. Voters are in random order (ids 0..n-1), votes have increasing times, and a share
of votes is cast twice (the first vote differs; the later one stands).
Generated in chunks of voters so 100k x 1,000 never needs a dense matrix.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

FOLLOW = 0.8
PASS = 0.1
CONSENSUS_SHARE = 0.15
REVOTE_SHARE = 0.01
CHUNK = 8192


@dataclass
class VoteTruth:
    groups: np.ndarray  # (n_voters,) planted group per voter
    stances: np.ndarray  # (n_groups, n_statements) in {-1, +1}
    consensus: np.ndarray  # (n_statements,) bool: every group shares the stance


@dataclass
class SyntheticVotes:
    voter: np.ndarray  # int32 voter index (= id)
    statement: np.ndarray  # int32 statement index (= id)
    vote: np.ndarray  # int8
    time: np.ndarray  # int64 (seconds), increasing with the vote's position
    truth: VoteTruth
    n_voters: int
    n_statements: int


def make_votes(n_voters: int = 2000, n_statements: int = 60, n_groups: int = 3,
               density: float = 0.3, seed: int = 0) -> SyntheticVotes:
    if n_groups < 1 or n_statements < 2 or not 0 < density <= 1:
        raise ValueError("synthetic votes need n_opinion_groups >= 1, n_statements >= 2 and "
                         "0 < vote_density <= 1")
    rng = np.random.default_rng([seed, 3])
    stances = rng.choice(np.array([-1, 1], np.int8), size=(n_groups, n_statements))
    consensus = rng.random(n_statements) < CONSENSUS_SHARE
    stances[:, consensus] = stances[0, consensus]
    # Group sizes unequal (as in real conversations), voters in random order.
    share = rng.dirichlet(np.full(n_groups, 4.0))
    groups = rng.choice(n_groups, size=n_voters, p=share).astype(np.int32)
    popularity = rng.gamma(4.0, size=n_statements)
    popularity /= popularity.mean()
    activity = np.clip(rng.lognormal(0.0, 0.5, n_voters), 0.2, 1 / density)
    parts = []
    for lo in range(0, n_voters, CHUNK):
        hi = min(lo + CHUNK, n_voters)
        crng = np.random.default_rng([seed, 3, lo])
        p_seen = np.clip(density * activity[lo:hi, None] * popularity[None, :], 0, 1)
        seen = crng.random((hi - lo, n_statements), dtype=np.float32) < p_seen
        rows, cols = np.nonzero(seen)
        u = crng.random(len(rows))
        stance = stances[groups[lo + rows], cols]
        vote = np.where(u < FOLLOW, stance, np.where(u < FOLLOW + PASS, 0, -stance))
        parts.append((rows.astype(np.int32) + lo, cols.astype(np.int32), vote.astype(np.int8)))
    voter = np.concatenate([p[0] for p in parts])
    statement = np.concatenate([p[1] for p in parts])
    vote = np.concatenate([p[2] for p in parts])
    # Re-votes: an earlier, different vote on the same cell, placed before the final one.
    n_re = int(REVOTE_SHARE * len(vote))
    re = rng.choice(len(vote), size=n_re, replace=False)
    early = ((vote[re].astype(np.int16) + 2) % 3 - 1).astype(np.int8)  # a different value
    voter = np.concatenate([voter[re], voter])
    statement = np.concatenate([statement[re], statement])
    vote = np.concatenate([early, vote])
    # Votes arrive in a random interleaving; the re-votes come first by time.
    order = np.concatenate([rng.permutation(n_re), n_re + rng.permutation(len(vote) - n_re)])
    time = np.empty(len(vote), np.int64)
    time[order] = 1_700_000_000 + np.arange(len(vote), dtype=np.int64)
    return SyntheticVotes(voter, statement, vote, time, VoteTruth(groups, stances, consensus),
                          n_voters, n_statements)
