"""`job=opinion`: Polis-style opinion groups from agree / disagree / pass votes (seed 003).

Inputs: `data=polis_export data.path=DIR` (a Polis export folder), `data=files data.path=...`
(CSV/Parquet with voter_id, statement_id, vote[, time]) or `data=synthetic` (planted groups).
Outputs: voters.parquet, statements.parquet (statements on the opinion map),
clusters.parquet, repness.parquet, consensus.parquet,
patterns.parquet, agreement.parquet (between groups), bridges.parquet, and
voter_agreement.parquet (voter pairs, when the conversation is small).
Objective: the silhouette (on the base-cluster centres) of the chosen number of groups.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import numpy as np
import pyarrow as pa

from engine.config import DataConfig
from engine.errors import UserError
from engine.run import RunContext

log = logging.getLogger("engine")
VOTE_NAMES = {1: "agree", -1: "disagree", 0: "pass"}


@dataclass
class Params:
    name: str = "opinion"
    voter_column: str = "voter_id"  # data=files columns
    statement_column: str = "statement_id"
    vote_column: str = "vote"
    time_column: str = "time"  # optional: later votes replace earlier ones by time
    min_voters: int = 15  # fewer voters with votes is an error
    min_votes: int = 7  # in-conversation: votes cast, capped at the number of statements
    min_in_conv: int = 15  # top the in-conversation voters up to this many (most active)
    base_k: int = 100  # Polis: min(100, in-conversation voters)
    base_k_per_voter: float = 0.0  # > 0: base k = min(base_k, voters x this); seed 003: 0.1
    max_groups: int = 5
    tol: float = 0.01  # k-means stops when every centre moves less than this
    max_iter: int = 100  # base k-means steps (Polis's base-iters)
    group_iter: int = 20  # group k-means steps (what Polis runs: its group-iters is never read)
    pca_iters: int = 100  # Polis's power-iteration steps; 0: the converged PCA
    # true | false | auto: replay Polis exports (up to replay_max_votes), as Polis ran live
    replay: str = "auto"
    replay_every: int = 100  # votes between recomputations when replaying
    # A pause in the votes longer than this (hours) means Polis's worker reloaded the
    # conversation (it restarts at least daily): the group level starts afresh. 0: never.
    replay_reload_hours: float = 24.0
    # When the replay recomputes: `polling`, at Clojure Polis's own moments: its math worker
    # polls the votes table every replay_vote_polling_interval_ms (Polis's
    # vote-polling-interval, default 1000) and recomputes a conversation once per poll that
    # brought it votes (about once per vote: seconds to minutes per conversation); `votes`,
    # every replay_every votes (tens of times cheaper, further from Polis's groups on
    # conversations it was not tuned on: bench/results/opinion_schedules.md).
    replay_schedule: str = "polling"
    replay_vote_polling_interval_ms: float = 1000.0
    # Above this many votes `polling` gives way to `votes`: its cost grows with the number of
    # votes times the size of the conversation (~15 CPU minutes at 33,000 votes here).
    replay_polling_max_votes: int = 50000
    replay_max_votes: int = 200000
    pick_max: int = 5  # representative statements per group; consensus per direction
    z: float = 1.2816  # significance: one-sided 90 %
    n_bridges: int = 20
    pairs_max_voters: int = 1000  # voter_agreement.parquet only up to this many voters
    # Statements about the participants themselves (Polis's `is_meta`): treated as Polis's
    # math treats them, i.e. as moderated out (engine._opinion.meta). Added to those an
    # export's comments.csv flags in its `is-meta` column.
    meta_statements: list[Any] = field(default_factory=list)
    # Whose math: `today` (Polis since June 2022); a day, YYYY-MM-DD, for the Polis that ran
    # then (before October 2017 missing votes counted as 0 and moderated-out statements as
    # votes for the in-conversation filter: engine._opinion.polis_versions); `last_vote`, the
    # day of the last vote (an export of a closed conversation holds that Polis's groups).
    polis_math: str = "today"


@dataclass
class Votes:
    """Loaded votes, with what the job compares its groups to."""

    matrix: Any  # engine._opinion.votes.VoteMatrix
    where: str  # named in errors
    reference: np.ndarray | None = None  # reference group per voter (-1: none)
    reference_name: str | None = None  # "polis" or "planted"
    warnings: list[str] = field(default_factory=list)  # what the reader went on without
    polis_export: bool = False  # replay=auto replays Polis exports
    listed_ids: list = field(default_factory=list)  # statements known without votes
    meta_ids: list = field(default_factory=list)  # flagged meta by the input itself


def export_votes(path) -> Votes:
    """A Polis export folder's votes, Polis's own groups and its flags."""
    from engine._opinion import readers

    export = readers.read_polis_export(path)
    m = export.matrix
    ref = np.array([export.polis_groups.get(int(v), -1) for v in m.voter_ids])
    return Votes(m, str(path), ref if export.polis_groups else None,
                 "polis" if export.polis_groups else None, export.warnings, True,
                 export.listed_ids, export.meta_ids)


def load_votes(data: DataConfig, params: Params, seed: int) -> Votes:
    """The votes of `data`, with what the job compares its groups to."""
    from engine._opinion import readers, votes

    if data.name == "polis_export":
        if not data.path:
            raise UserError("data.path: a Polis export folder is required with data=polis_export")
        return export_votes(data.path)
    if data.name == "files":
        if not data.path:
            raise UserError("data.path: a votes file, folder or glob is required with data=files")
        m = readers.read_vote_files(data.path, params.voter_column, params.statement_column,
                                    params.vote_column, params.time_column or None)
        return Votes(m, str(data.path))
    if data.name == "synthetic":
        from engine.synthetic.votes import make_votes

        s = make_votes(data.n_voters, data.n_statements, data.n_opinion_groups,
                       data.vote_density, seed)
        # Voters or statements that drew no votes are left out (ids keep their numbers).
        used_v = np.flatnonzero(np.bincount(s.voter, minlength=s.n_voters))
        used_s = np.flatnonzero(np.bincount(s.statement, minlength=s.n_statements))
        code_v = np.full(s.n_voters, -1, np.int32)
        code_v[used_v] = np.arange(len(used_v))
        code_s = np.full(s.n_statements, -1, np.int32)
        code_s[used_s] = np.arange(len(used_s))
        m = votes.build_matrix(code_v[s.voter], code_s[s.statement], s.vote, s.time,
                               used_v, used_s)
        m.ns_per_time_unit = 1_000_000_000  # seconds
        return Votes(m, data.name, s.truth.groups[used_v], "planted")
    raise UserError(f"data={data.name}: job=opinion reads data=polis_export, files or synthetic")


def run(params: Params, data: DataConfig, ctx: RunContext) -> float:
    check(params, data)
    with ctx.stage("load"):
        loaded = load_votes(data, params, ctx.seed)
    return compute(params, loaded, ctx)


def compute(params: Params, loaded: Votes, ctx: RunContext) -> float:
    """Groups, statistics and tables of loaded votes: the job after `load`, shared by
    `python -m engine job=opinion` and `engine.opinion` (both `check` the settings first)."""
    from engine._opinion import meta, model, polis_versions, repness, votes

    created = datetime.now(UTC)
    t0 = time.perf_counter()
    m, reference, ref_name = loaded.matrix, loaded.reference, loaded.reference_name
    meta.mark(m, params.meta_statements, loaded.meta_ids, loaded.listed_ids)
    for w in loaded.warnings:
        log.warning("%s", w)
    ctx.record(input_warnings=loaded.warnings)
    votes.check_size(m, params.min_voters, loaded.where)
    opts = model.Options(params.min_votes, params.min_in_conv, params.base_k,
                         params.max_groups, params.tol, params.max_iter,
                         params.base_k_per_voter, params.pca_iters, params.group_iter)
    day = polis_math_day(params, m)
    if day is not None:
        opts = polis_versions.options_as_of(day, opts)
    ctx.record(polis_math=day.isoformat() if day else "today")
    do_replay = _replay_wanted(params, m, loaded.polis_export)
    with ctx.stage("cluster"):
        if do_replay:
            schedule = replay_schedule(params, m)
            if schedule != str(params.replay_schedule).lower():
                log.warning("%d votes, more than job.replay_polling_max_votes=%d: the replay "
                            "recomputes every job.replay_every=%d votes instead of at Polis's "
                            "polling moments", len(m.vote), params.replay_polling_max_votes,
                            params.replay_every)
            ctx.record(replay_schedule=schedule)
            gap, polling = replay_times(params, m)
            fit = model.replay(m, opts, params.replay_every, ctx.backend.xp, ctx.progress, gap,
                               polling)
        else:
            fit, _ = model.fit(m, opts, ctx.backend.xp)
    group = fit.group_of_voter()
    subgroup = fit.subgroup_of_voter()
    n_groups = int(group.max()) + 1
    with ctx.stage("statistics"):
        # One pass over the votes for the base clusters; groups and subgroups are sums of them.
        xp = ctx.backend.xp
        on_device = model.device_votes(m.values) if ctx.backend.gpu else m.values
        base_counts = repness.group_counts(on_device, fit.base_of_voter, len(fit.base.centres),
                                           xp)
        counts = repness.merge_counts(base_counts, fit.group_of_base, n_groups)
        everyone = repness.group_counts(on_device, np.zeros(m.shape[0], np.int32), 1, xp)
        eligible = ~m.moderated_out
        stats = repness.repness_stats(counts)
        tables = {
            "repness.parquet": _repness_table(m, stats, eligible, params),
            "consensus.parquet": _consensus_table(m, counts, everyone, eligible, params),
            "patterns.parquet": _patterns_table(m, counts),
            "agreement.parquet": _agreement_table(counts),
        }
        centres = fit.groups.centres
        nearest, bridge = repness.bridge_scores(fit.pca.projection, centres)
        tables["bridges.parquet"] = _bridges_table(m, fit, bridge, counts, params.n_bridges)
        in_rows = np.flatnonzero(fit.in_conv)
        if len(in_rows) <= params.pairs_max_voters:
            tables["voter_agreement.parquet"] = _pairs_table(m, in_rows)
    with ctx.stage("write"):
        ctx.write_table("voters.parquet", _voters_table(m, fit, group, subgroup, bridge))
        ctx.write_table("statements.parquet", _statements_table(m, fit))
        ctx.write_table("clusters.parquet", _clusters_table(fit, group, subgroup, base_counts))
        for name, table in tables.items():
            ctx.write_table(name, table)
    metrics = _metrics(m, fit, group, reference, ref_name, do_replay)
    seconds = time.perf_counter() - t0
    ctx.record(n_rows=int(m.shape[0]), **metrics, run={
        "created_at": created.isoformat(), "completed_at": datetime.now(UTC).isoformat(),
        "status": "completed", "n_voters": int(m.shape[0]), "n_statements": int(m.shape[1]),
        "n_clusters": int(len(fit.base.centres)), "n_groups": n_groups,
        "computation_time": round(seconds, 4), "parameters": asdict(params), "error_message": ""})
    return fit.silhouette


def check(params: Params, data: DataConfig | None = None) -> None:
    """Settings the clustering cannot run with, refused before the votes are read."""
    if params.base_k < 1:
        raise UserError(f"job.base_k={params.base_k}: must be at least 1 (base clusters)")
    if params.max_groups < 2:  # groups are chosen among k = 2..max_groups
        raise UserError(f"job.max_groups={params.max_groups}: must be at least 2")
    if params.max_iter < 1 or params.group_iter < 1:
        raise UserError(f"job.max_iter={params.max_iter}, job.group_iter={params.group_iter}: "
                        "k-means needs at least 1 step")
    if params.pca_iters < 0:
        raise UserError(f"job.pca_iters={params.pca_iters}: must be >= 0 (0: converged PCA)")
    if params.replay_reload_hours < 0:
        raise UserError(f"job.replay_reload_hours={params.replay_reload_hours}: must be >= 0 "
                        "(0: never)")
    mode = str(params.replay).lower()
    if mode not in ("true", "false", "auto"):
        raise UserError(f"job.replay={params.replay!r}: expected true, false or auto")
    if mode != "false" and params.replay_every < 1:
        raise UserError(f"job.replay_every={params.replay_every}: must be >= 1")
    if str(params.replay_schedule).lower() not in ("votes", "polling"):
        raise UserError(f"job.replay_schedule={params.replay_schedule!r}: expected votes or "
                        "polling")
    _polis_math(params)
    if params.replay_polling_max_votes < 0:
        raise UserError(f"job.replay_polling_max_votes={params.replay_polling_max_votes}: "
                        "must be >= 0")
    if not params.replay_vote_polling_interval_ms > 0:
        raise UserError("job.replay_vote_polling_interval_ms="
                        f"{params.replay_vote_polling_interval_ms}: must be > 0 (milliseconds)")


def _polis_math(params: Params) -> str | date:
    """job.polis_math as `today`, `last_vote` or a day; a UserError for anything else."""
    asked = str(params.polis_math).strip().lower()
    if asked in ("today", "last_vote"):
        return asked
    try:
        return date.fromisoformat(asked)
    except ValueError:
        raise UserError(f"job.polis_math={params.polis_math!r}: expected today, last_vote or "
                        "a day as YYYY-MM-DD") from None


def polis_math_day(params: Params, m) -> date | None:
    """The day whose Polis math job.polis_math asks for; None for today's."""
    asked = _polis_math(params)
    if asked == "today":
        return None
    if isinstance(asked, date):
        return asked
    if m.time is None:
        raise UserError("job.polis_math=last_vote: the votes have no times (job.time_column); "
                        "give the day, YYYY-MM-DD")
    last = int(np.max(m.time)) * m.ns_per_time_unit / 1e9
    return datetime.fromtimestamp(last, UTC).date()


def replay_schedule(params: Params, m) -> str:
    """The schedule a replay of `m` runs: job.replay_schedule, but `votes` where `polling` is
    asked for and `m` holds more than job.replay_polling_max_votes votes."""
    asked = str(params.replay_schedule).lower()
    return "votes" if asked == "polling" and len(m.vote) > params.replay_polling_max_votes \
        else asked


def replay_times(params: Params, m) -> tuple[float | None, float | None]:
    """(reload gap, polling interval) in the votes' time unit; None where not used."""
    gap = (params.replay_reload_hours * 3.6e12 / m.ns_per_time_unit
           if params.replay_reload_hours > 0 else None)
    if replay_schedule(params, m) != "polling":
        return gap, None
    if m.time is None:
        raise UserError("job.replay_schedule=polling: the votes have no times to poll by "
                        "(job.time_column); job.replay_schedule=votes replays without them")
    return gap, params.replay_vote_polling_interval_ms * 1e6 / m.ns_per_time_unit


def _replay_wanted(params: Params, m, polis_export: bool) -> bool:
    mode = str(params.replay).lower()
    return mode == "true" or (mode == "auto" and polis_export
                              and len(m.vote) <= params.replay_max_votes)


def _metrics(m, fit, group, reference, ref_name, replayed) -> dict:
    from sklearn.metrics import adjusted_rand_score

    out = {
        "n_voters": int(m.shape[0]), "n_statements": int(m.shape[1]),
        "n_votes": int(len(m.vote)), "n_raw_votes": int(m.n_raw_votes),
        "n_replaced_votes": int(m.n_raw_votes - len(m.vote)),
        "n_moderated_out": int(m.moderated_out.sum()),  # meta statements included
        "n_meta": int(m.is_meta.sum()),
        "meta_statements": np.asarray(m.statement_ids)[m.is_meta].tolist(),
        "n_statements_without_votes": int(m.n_dropped_statements),
        "n_in_conv": int(fit.in_conv.sum()), "n_base_clusters": int(len(fit.base.centres)),
        "base_iterations": int(fit.base.n_iter), "n_groups": int(fit.k),
        "silhouette": float(fit.silhouette),
        "silhouette_by_k": {str(k): float(s) for k, (_, s) in fit.candidates.items()},
        "explained_variance_ratio": [float(v) for v in fit.pca.explained_variance_ratio],
        "replay": bool(replayed),
    }
    if replayed:
        out["k_history"] = fit.k_history
    if reference is not None:
        both = (reference >= 0) & (group >= 0)
        out[f"ari_{ref_name}"] = float(adjusted_rand_score(reference[both], group[both]))
        out[f"n_compared_{ref_name}"] = int(both.sum())
    return out


def _ids(values) -> pa.Array:
    return pa.array(np.asarray(values).tolist())


def _nullable(values: np.ndarray) -> pa.Array:
    return pa.array(values, mask=values < 0, type=pa.int32())


def _voters_table(m, fit, group, subgroup, bridge) -> pa.Table:
    proj = fit.pca.projection
    return pa.table({
        "voter_id": _ids(m.voter_ids), "x": proj[:, 0], "y": proj[:, 1],
        "n_votes": np.diff(m.values.indptr).astype(np.int32),
        "base": _nullable(fit.base_of_voter), "group": _nullable(group),
        "subgroup": _nullable(subgroup), "in_conv": fit.in_conv,
        "bridge_score": pa.array(bridge, mask=group < 0),
    })


def _statements_table(m, fit) -> pa.Table:
    """Each statement's position on the opinion map (moderated-out ones, meta statements
    among them, sit at the origin)."""
    xy = fit.pca.statement_projection()
    return pa.table({"statement_id": _ids(m.statement_ids), "x": xy[:, 0], "y": xy[:, 1],
                     "extremity": np.hypot(xy[:, 0], xy[:, 1]),
                     "n_votes": np.diff(m.values.tocsc().indptr).astype(np.int32),
                     "moderated_out": m.moderated_out, "is_meta": m.is_meta})


def _clusters_table(fit, group, subgroup, base_counts) -> pa.Table:
    """One row per base cluster, group and subgroup: size, centre, within-cluster consensus
    (share of its members' votes that equal the cluster's majority, pooled over statements)."""
    from engine._opinion import repness

    proj = fit.pca.projection
    n_base = len(fit.base.centres)
    sub_key = fit.group_of_base * 100 + fit.subgroup_of_base  # subgroup ids within groups
    sub_ids, sub_of_base = np.unique(sub_key, return_inverse=True)
    levels = (
        ("base", fit.base_of_voter, np.arange(n_base), fit.group_of_base),
        ("group", group, fit.group_of_base, None),
        ("subgroup", np.where(group >= 0, sub_of_base[np.maximum(fit.base_of_voter, 0)], -1),
         sub_of_base, sub_ids // 100),
    )
    rows = []
    for level, labels, of_base, parent in levels:
        n = int(of_base.max()) + 1
        c = repness.merge_counts(base_counts, of_base, n)
        top = np.maximum(np.maximum(c.agree, c.disagree), c.passed).sum(1)
        cast = c.cast.sum(1)
        size = np.bincount(labels[labels >= 0], minlength=n)
        sums = np.stack([np.bincount(labels[labels >= 0], weights=proj[labels >= 0, j],
                                     minlength=n) for j in range(2)], 1)
        for cid in range(n):
            rows.append({
                "level": level,
                "cluster_id": int(sub_ids[cid] % 100) if level == "subgroup" else cid,
                "parent": None if parent is None else int(parent[cid]),
                "size": int(size[cid]),
                "x": float(sums[cid, 0] / size[cid]), "y": float(sums[cid, 1] / size[cid]),
                "consensus_score": float(top[cid] / cast[cid]) if cast[cid] else None,
                "silhouette": float(fit.silhouette) if level == "group" else None,
            })
    return pa.Table.from_pylist(rows)


def _repness_table(m, st, eligible, params) -> pa.Table:
    from engine._opinion import repness

    n_groups, n_stmt = st["na"].shape
    rank = np.zeros((n_groups, n_stmt), np.int32)
    best = np.zeros((n_groups, n_stmt), bool)
    for g in range(n_groups):
        chosen = repness.select_representative(st, g, eligible, params.pick_max, params.z)
        for r, (j, _, is_best) in enumerate(chosen, 1):
            rank[g, j], best[g, j] = r, is_best
    agree_for = st["rat"] > st["rdt"]
    significant = (((st["pat"] > params.z) & (st["rat"] > params.z))
                   | ((st["pdt"] > params.z) & (st["rdt"] > params.z)))
    cols = {
        "group": np.repeat(np.arange(n_groups, dtype=np.int32), n_stmt),
        "statement_id": _ids(np.tile(m.statement_ids, n_groups)),
    }
    for key in ("na", "nd", "ns"):
        cols[key] = st[key].ravel().astype(np.int64)
    for key in ("pa", "pd", "pat", "pdt", "ra", "rd", "rat", "rdt"):
        cols[key] = st[key].ravel()
    cols["repful_for"] = np.where(agree_for, "agree", "disagree").ravel()
    cols["significant"] = (significant & eligible[None, :]).ravel()
    cols["rank"] = pa.array(rank.ravel(), mask=rank.ravel() == 0)
    cols["best_agree"] = best.ravel()
    return pa.table(cols)


def _consensus_table(m, counts, everyone, eligible, params) -> pa.Table:
    from engine._opinion import repness

    cons = repness.consensus(everyone, eligible, params.pick_max, params.z)
    gac_agree, gac_disagree = repness.group_aware_consensus(counts)
    cols = {"statement_id": _ids(m.statement_ids), "moderated_out": m.moderated_out}
    for key, values in cons.items():
        if key.endswith("_rank"):
            cols[key] = pa.array(values, mask=values == 0)
        else:
            cols[key] = values
    cols["group_aware_agree"] = gac_agree
    cols["group_aware_disagree"] = gac_disagree
    return pa.table(cols)


def _patterns_table(m, counts) -> pa.Table:
    from engine._opinion import repness

    pat = repness.patterns(counts)
    n_groups, n_stmt = counts.agree.shape
    majority = pat["majority"].ravel()
    names = np.array([VOTE_NAMES.get(int(v)) for v in majority], dtype=object)
    return pa.table({
        "group": np.repeat(np.arange(n_groups, dtype=np.int32), n_stmt),
        "statement_id": _ids(np.tile(m.statement_ids, n_groups)),
        "n_agree": counts.agree.ravel(), "n_disagree": counts.disagree.ravel(),
        "n_pass": counts.passed.ravel(), "n_votes": counts.cast.ravel(),
        "majority": pa.array(names.tolist(), type=pa.string()),
        "consensus_score": pa.array(pat["consensus_score"].ravel(), from_pandas=True),
    })


def _agreement_table(counts) -> pa.Table:
    from engine._opinion import repness

    co, share = repness.group_agreement(counts)
    g = np.arange(len(co), dtype=np.int32)
    a, b = np.meshgrid(g, g, indexing="ij")
    return pa.table({"group_a": a.ravel(), "group_b": b.ravel(), "co_votes": co.ravel(),
                     "agreement": pa.array(share.ravel(), from_pandas=True)})


def _bridges_table(m, fit, bridge, counts, n_bridges) -> pa.Table:
    """The in-conversation voters closest to being equidistant from two group centres, with
    their agreement with each group."""
    from engine._opinion import repness

    cand = np.flatnonzero(fit.in_conv)
    top = cand[np.argsort(-bridge[cand], kind="stable")[:n_bridges]]
    agree = repness.agreement_with_groups(m.values[top], counts)
    cols = {"voter_id": _ids(m.voter_ids[top]), "bridge_score": bridge[top],
            "group": fit.group_of_voter()[top]}
    for g in range(agree.shape[1]):
        cols[f"agreement_group_{g}"] = pa.array(agree[:, g], from_pandas=True)
    return pa.table(cols)


def _pairs_table(m, rows) -> pa.Table:
    from engine._opinion import repness

    co, share = repness.pairwise_agreement(m.values, rows)
    i, j = np.triu_indices(len(rows), k=1)
    ok = co[i, j] > 0
    i, j = i[ok], j[ok]
    return pa.table({"voter_a": _ids(m.voter_ids[rows[i]]), "voter_b": _ids(m.voter_ids[rows[j]]),
                     "co_voted": co[i, j].astype(np.int32), "agreement": share[i, j]})
