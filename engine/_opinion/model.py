"""The Polis clustering of one vote matrix: in-conversation filter, PCA, base clusters,
groups (k by silhouette, optionally smoothed along a replay of the votes) and subgroups."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from engine._opinion import kmeans
from engine._opinion.pca import PcaResult, sparsity_aware_pca
from engine._opinion.votes import VoteMatrix

K_SMOOTHING = 4  # Polis keeps a new k only after it wins this many recomputations in a row


@dataclass
class Options:
    min_votes: int = 7  # in-conversation: votes cast (passes included), capped at n_statements
    min_in_conv: int = 15  # top up with the most active voters to this many
    base_k: int = 100
    max_groups: int = 5
    tol: float = 0.01  # every centre moves less than this: converged
    max_iter: int = 100  # base k-means steps (Polis's base-iters)
    base_k_per_voter: float = 0.0  # > 0: k = min(base_k, voters x this) (seed 003: 0.1)
    pca_iters: int = 100  # > 0: Polis's power iteration (100 steps); 0: the converged PCA
    group_iter: int = 20  # group k-means steps: Polis's default (its group-iters is never read)
    # Polis before October 2017 (engine._opinion.polis_versions): missing votes as 0 in the
    # PCA ("zero"; since then "mean"), and the moderated-out statements' zeroed columns
    # counted as votes of every voter for the in-conversation filter.
    missing_votes: str = "mean"
    in_conv_counts_moderated: bool = False


@dataclass
class Fit:
    pca: PcaResult
    in_conv: np.ndarray  # bool per voter
    base: kmeans.Clustering  # of the in-conversation voters
    base_of_voter: np.ndarray  # -1 outside the conversation
    candidates: dict[int, tuple[kmeans.Clustering, float]]  # k -> (groups of bases, silhouette)
    k: int
    group_of_base: np.ndarray
    subgroup_of_base: np.ndarray
    k_history: list[dict] = field(default_factory=list)  # replay: one entry per recomputation

    @property
    def groups(self) -> kmeans.Clustering:
        return self.candidates[self.k][0]

    @property
    def silhouette(self) -> float:
        return self.candidates[self.k][1]

    def group_of_voter(self) -> np.ndarray:
        return np.where(self.base_of_voter >= 0, self.group_of_base[self.base_of_voter], -1)

    def subgroup_of_voter(self) -> np.ndarray:
        return np.where(self.base_of_voter >= 0, self.subgroup_of_base[self.base_of_voter], -1)


def in_conversation(n_votes: np.ndarray, n_statements: int, min_votes: int = 7,
                    min_in_conv: int = 15) -> np.ndarray:
    """Voters with >= min(min_votes, n_statements) votes; if fewer than `min_in_conv`
    qualify, the most active others (ties: data order) are added up to that many."""
    mask = n_votes >= min(min_votes, n_statements)
    missing = min(min_in_conv, int((n_votes > 0).sum())) - int(mask.sum())
    if missing > 0:
        rest = np.flatnonzero(~mask)
        rest = rest[np.argsort(-n_votes[rest], kind="stable")]
        mask[rest[:missing]] = True
    return mask


def scale_votes(values: sp.csr_matrix, moderated_out: np.ndarray) -> np.ndarray:
    """Per voter, the vote count in the projection's scaling: cast votes on statements still
    in, plus the moderated-out statements (zero columns hold a 0 for everyone, as in Polis)."""
    if not moderated_out.any():
        return np.diff(values.indptr)
    on_mod = np.bincount(np.repeat(np.arange(values.shape[0]), np.diff(values.indptr)),
                         weights=moderated_out[values.indices], minlength=values.shape[0])
    return np.diff(values.indptr) - on_mod + int(moderated_out.sum())


def fit(m: VoteMatrix, opts: Options, xp=np, state: dict | None = None,
        n_statements: int | None = None, with_subgroups: bool = True) -> tuple[Fit, dict]:
    """One recomputation; `state` carries the previous one's (warm starts, k smoothing).
    `with_subgroups=False` leaves the subgroups empty: nothing in `state` depends on them, so
    a replay computes them for its last recomputation only (`add_subgroups`)."""
    state = state or {}
    values = m.values
    n_votes = np.diff(values.indptr)
    n_stmt = values.shape[1] if n_statements is None else n_statements
    dev_values = values if xp is np else _to_device(values)
    seen = np.bincount(values.indices, minlength=values.shape[1]) > 0
    new = seen & ~state["seen"] if "seen" in state else None
    n_scale = scale_votes(values, m.moderated_out)
    pca = sparsity_aware_pca(dev_values, m.moderated_out, n_scale, xp, state.get("components"),
                             n_stmt, power_iters=opts.pca_iters, new_statements=new,
                             missing=opts.missing_votes)
    # Polis counted votes for the filter on the matrix with moderated-out columns set to 0
    # (a 0 is a vote) until October 2017, on the raw votes since.
    counted = n_scale if opts.in_conv_counts_moderated else n_votes
    in_conv = in_conversation(counted, n_stmt, opts.min_votes, opts.min_in_conv)
    if "in_conv" in state:  # once in, a voter stays in (Polis keeps the set between runs)
        in_conv |= state["in_conv"]
    rows = np.flatnonzero(in_conv)
    x = pca.projection[rows]
    k_max = opts.base_k
    if opts.base_k_per_voter > 0:
        k_max = max(2, min(k_max, int(len(rows) * opts.base_k_per_voter)))
    base = kmeans.base_clusters(xp.asarray(x), k_max, opts.tol, opts.max_iter, xp,
                                names=rows, last=state.get("base"))
    base_of_voter = np.full(values.shape[0], -1, np.int32)
    base_of_voter[rows] = base.labels
    weights = base.sizes.astype(np.float64)
    cands = kmeans.group_candidates(base.centres, weights, opts.max_groups, opts.tol,
                                    opts.group_iter, base.ids, state.get("groups"))
    this_k = kmeans.best_k(cands)
    if this_k is None:  # too few base clusters to split: one group
        labels = np.zeros(len(base.centres), np.int32)
        cands = {1: (kmeans.Clustering(labels, np.average(base.centres, 0, weights)[None],
                                       np.array([weights.sum()]), 0), 0.0)}
        this_k = 1
    # Polis's k smoother: a new k replaces the shown one after K_SMOOTHING wins in a row.
    last_k, count, shown = state.get("last_k"), state.get("k_count", 0), state.get("k")
    count = count + 1 if this_k == last_k else 1
    k = this_k if count >= K_SMOOTHING or shown is None or shown not in cands else shown
    group_of_base = cands[k][0].labels
    sub = np.zeros(len(base.centres), np.int32)
    new_state = {
        "components": pca.components,
        "in_conv": in_conv, "seen": seen,
        "base": base.memberships(rows),
        "groups": {kk: c.memberships(base.ids) for kk, (c, _) in cands.items()
                   if c.ids is not None},
        "last_k": this_k, "k_count": count, "k": k,
    }
    out = Fit(pca, in_conv, base, base_of_voter, cands, k, group_of_base, sub)
    if with_subgroups:
        add_subgroups(out, opts)
    return out, new_state


def add_subgroups(f: Fit, opts: Options) -> None:
    """The subgroups of `f`'s groups (k-means of each group's base clusters)."""
    f.subgroup_of_base = kmeans.subgroups(f.base.centres, f.base.sizes.astype(np.float64),
                                          f.group_of_base, opts.max_groups, opts.tol,
                                          opts.group_iter)


# What Polis keeps when its math worker reloads a conversation (a restart): the PCA, the base
# clusters and the in-conversation set are stored with the results; the group clusterings
# of every k and the k smoother are not, so the next run starts them afresh.
RELOAD_DROPS = ("groups", "last_k", "k_count", "k")


def polling_ends(order_time: np.ndarray, polling_interval: float) -> list[int]:
    """Clojure Polis's recompute moments (poller.clj, conv_man.clj): the math worker polls the
    votes table every `polling_interval` for votes created since its last poll, and each
    conversation's actor runs one update on every batch that brought it votes. So the ends are
    the vote counts at the close of each polling window holding a vote. Windows are multiples
    of the interval on the clock: the poller's phase is not in an export."""
    window = np.floor_divide(order_time, polling_interval)
    return (np.flatnonzero(np.diff(window) != 0) + 1).tolist() + [len(order_time)]


def replay_ends(order_time: np.ndarray, every: int, reload_gap: float | None,
                polling_interval: float | None = None) -> tuple[list[int], set[int]]:
    """(ends, reloads): recompute after every `every` votes in time order (or, given a
    `polling_interval`, at Polis's polling moments, `polling_ends`), and after the last vote
    before each pause longer than `reload_gap` (same unit as the times); `reloads` are the
    ends whose recomputation follows such a pause (its group level starts afresh)."""
    total = len(order_time)
    if polling_interval is None:
        ends = set(range(every, total, every)) | {total}
    else:
        ends = set(polling_ends(order_time, polling_interval))
    reloads: set[int] = set()
    if reload_gap is not None and total > 1:
        pauses = np.flatnonzero(np.diff(order_time) > reload_gap) + 1  # votes before a pause
        ends |= set(pauses.tolist())
        ordered = sorted(ends)
        for p in pauses.tolist():
            reloads.add(ordered[ordered.index(p) + 1])
    return sorted(ends), reloads


def replay(m: VoteMatrix, opts: Options, every: int, xp=np, progress=None,
           reload_gap: float | None = None, polling_interval: float | None = None,
           options_at: Callable[[int], Options] | None = None,
           reload_drops: tuple[str, ...] = RELOAD_DROPS,
           observe: Callable[[int, Fit, bool], None] | None = None) -> Fit:
    """Recompute along the votes' time order as Polis did live: every `every` votes, or with a
    `polling_interval` (vote time units) at Polis's own moments (`polling_ends`), each run
    carrying over the last one's state (PCA start, base and group memberships, k smoother),
    with the group level restarted after pauses longer than `reload_gap` (vote time units).
    `options_at(time of the last vote in)`, given vote times: the options of each
    recomputation instead of `opts`, for the Polis that ran then (`polis_versions`): its
    state carries over from one version to the next, as Polis's stored state did.
    For analysis: `reload_drops`, the state a reload forgets; `observe(votes in, fit,
    reloaded)`, called after each recomputation."""
    if m.time is None:
        if polling_interval is not None or options_at is not None:
            raise ValueError("a polling schedule or dated options need vote times")
        rank = np.arange(len(m.vote))
        ends, reloads = replay_ends(rank, every, None)
    else:
        by_time = np.argsort(m.time, kind="stable")
        rank = np.empty(len(m.vote), np.int64)
        rank[by_time] = np.arange(len(m.vote))
        ends, reloads = replay_ends(m.time[by_time], every, reload_gap, polling_interval)
    voter = m.voter
    state: dict = {}
    history = []
    fit_ = None
    steps = ends if progress is None else progress(ends, len(ends), "replay")
    for end in steps:
        keep = rank < end  # triplets stay in (voter, statement) order: CSR directly
        seen_stmt = np.zeros(m.shape[1], bool)
        seen_stmt[m.statement[keep]] = True
        values = _csr(voter[keep], m.statement[keep], m.vote[keep], m.shape)
        if (np.diff(values.indptr) > 0).sum() < 3 or seen_stmt.sum() < 2:
            continue
        runs = 1
        if end in reloads:
            state = {k: v for k, v in state.items() if k not in reload_drops}
            # Polis's conversation actor recomputes once as it loads, then again for the
            # batch that woke it (conv_man.clj, conv-actor): two wins for the k smoother.
            runs = 2 if polling_interval is not None else 1
        sub = VoteMatrix(values, m.voter_ids, m.statement_ids, m.moderated_out & seen_stmt)
        if options_at is not None:
            opts = options_at(int(m.time[by_time[end - 1]]))
        for _ in range(runs):
            fit_, state = fit(sub, opts, xp, state, n_statements=int(seen_stmt.sum()),
                              with_subgroups=False)
            history.append({"votes": int(end), "best_k": int(state["last_k"]),
                            "k": int(state["k"]),
                            "silhouette": float(fit_.candidates[state["last_k"]][1]),
                            "reload": end in reloads})
        if observe is not None:
            observe(int(end), fit_, end in reloads)
    add_subgroups(fit_, opts)
    fit_.k_history = history
    return fit_


def _csr(voter, statement, vote, shape) -> sp.csr_matrix:
    indptr = np.zeros(shape[0] + 1, np.int64)
    np.cumsum(np.bincount(voter, minlength=shape[0]), out=indptr[1:])
    return sp.csr_matrix((vote, statement, indptr), shape=shape)


def device_votes(values: sp.csr_matrix):
    """The CSR arrays on the GPU as they are (int8 votes), for counting."""
    import types

    import cupy

    return types.SimpleNamespace(shape=values.shape, indptr=cupy.asarray(values.indptr),
                                 indices=cupy.asarray(values.indices),
                                 data=cupy.asarray(values.data))


def _to_device(values: sp.csr_matrix):
    import cupy
    import cupyx.scipy.sparse as csp

    return csp.csr_matrix((cupy.asarray(values.data.astype(np.float64)),
                           cupy.asarray(values.indices), cupy.asarray(values.indptr)),
                          shape=values.shape)
