"""`engine.opinion`: Polis-style opinion groups from agree / disagree / pass votes."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from engine.api import inputs
from engine.api.result import Result
from engine.api.running import job_params, run_job


def opinion(votes: Any, *, voter_column: str = "voter_id",
            statement_column: str = "statement_id", vote_column: str = "vote",
            time_column: str = "time", max_groups: int = 5, min_votes: int = 7,
            base_k: int = 100, meta_statements: Sequence | None = None,
            random_state: int = 0, backend: str = "auto", **options: Any) -> Result:
    """Opinion groups of voters, representative and consensus statements, as ``job=opinion``
    (Polis's definitions).

    Parameters
    ----------
    votes : DataFrame, path or sparse matrix
        One row per vote: `voter_column`, `statement_column`, `vote_column` (+1 agree,
        -1 disagree, 0 pass) and optionally `time_column` (a later vote on the same statement
        replaces an earlier one); a CSV/Parquet file, folder or glob of such rows; a Polis
        export folder (with ``polis_export=True``); or a scipy sparse matrix (voters x
        statements) whose stored entries are the votes (explicit zeros: passes).
    max_groups : int
        Groups are chosen among k = 2..max_groups by silhouette.
    min_votes : int
        Votes a voter needs to be clustered (capped at the number of statements).
    base_k : int
        Base clusters (Polis: 100, fewer when there are fewer voters).
    meta_statements : list of statement ids, optional
        Statements about the participants themselves (Polis's `is_meta`: "I am under 30"),
        treated as Polis treats them: as moderated out (they leave the map and the groups;
        votes on them still count towards the in-conversation filter). A Polis export's own
        `is-meta` flags in comments.csv are added to them. An id the votes (or the export's
        comments) do not have is a ValueError.
    random_state : int
        Recorded with the run (the clustering is deterministic).
    backend : {"auto", "cpu", "gpu"}
    **options
        Any other setting of ``job=opinion`` (``min_in_conv``, ``pick_max``, ``z``,
        ``replay``, ``replay_schedule``, ``polis_math`` for the Polis of a given day, ...).

    Returns
    -------
    Result
        Tables ``voters`` (voter_id, x, y, n_votes, base, group, subgroup, ...; the main
        table), ``clusters``, ``repness``, ``consensus``, ``patterns``, ``agreement``,
        ``bridges`` (and ``voter_agreement`` for small conversations); metrics ``n_groups``,
        ``silhouette``, ...
    """
    from engine.jobs import opinion as job

    polis_export = bool(options.pop("polis_export", False))
    params = job_params(job.Params, {"voter_column": voter_column,
                                     "statement_column": statement_column,
                                     "vote_column": vote_column, "time_column": time_column,
                                     "max_groups": max_groups, "min_votes": min_votes,
                                     "base_k": base_k,
                                     "meta_statements": (None if meta_statements is None
                                                         else list(meta_statements))},
                                    options, "opinion")

    def core(ctx) -> float:
        job.check(params)
        with ctx.stage("load"):
            loaded = vote_matrix(votes, params, polis_export)
        return job.compute(params, loaded, ctx)

    return run_job("opinion", core, backend=backend, random_state=random_state)


def vote_matrix(votes: Any, params: Any, polis_export: bool = False):
    """`engine.jobs.opinion.Votes` of a table, a path or a sparse matrix."""
    import scipy.sparse as sp

    from engine._opinion import readers
    from engine._opinion.votes import from_columns
    from engine.jobs.opinion import Votes, export_votes

    if inputs.is_path(votes):
        if polis_export:
            return export_votes(votes)
        return Votes(readers.read_vote_files(str(votes), params.voter_column,
                                             params.statement_column, params.vote_column,
                                             params.time_column or None), str(votes))
    if sp.issparse(votes):
        coo = sp.coo_matrix(votes)
        # Rows as Polis's rating matrix would hold these votes (see votes.encounter_codes).
        return Votes(from_columns(coo.row, coo.col, coo.data, where="votes",
                                  order="encounter"), "votes")
    table = inputs.as_table(votes, "votes")
    return Votes(readers.votes_from_table(table, "votes", params.voter_column,
                                          params.statement_column, params.vote_column,
                                          params.time_column or None), "votes")
