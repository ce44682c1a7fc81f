"""Votes: validation, re-votes (the latest stands) and the sparse voters x statements matrix.

A vote is +1 (agree), -1 (disagree) or 0 (pass); a missing entry means "not voted". Passes are
cast votes, so the matrix keeps them as explicit entries: `cast` (the sparsity pattern) and
`values` are separate CSR matrices sharing one pattern. Nothing here is ever made dense.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import scipy.sparse as sp

from engine.errors import UserError


@dataclass
class VoteMatrix:
    """Resolved votes of `n_voters` x `n_statements` in CSR form (rows in data order)."""

    values: sp.csr_matrix  # int8 votes in {-1, 0, 1}; passes are explicit zeros
    voter_ids: np.ndarray  # original ids, row order
    statement_ids: np.ndarray  # original ids, column order
    moderated_out: np.ndarray  # bool per statement: a zero column for PCA, never selected
    time: np.ndarray | None = field(repr=False, default=None)  # per stored vote (CSR order)
    n_raw_votes: int = 0  # before re-votes were resolved
    n_dropped_statements: int = 0  # listed (e.g. in comments.csv) but never voted on
    ns_per_time_unit: int = 1  # times are ns (tables), ms (Polis exports) or s (synthetic)
    meta: np.ndarray | None = None  # bool per statement (engine._opinion.meta.mark)

    @property
    def is_meta(self) -> np.ndarray:
        return np.zeros(self.shape[1], bool) if self.meta is None else self.meta

    @property
    def shape(self) -> tuple[int, int]:
        return self.values.shape

    # The resolved votes as triplets in CSR (voter, statement) order, without copies.
    @property
    def voter(self) -> np.ndarray:
        return np.repeat(np.arange(self.shape[0], dtype=np.int32), np.diff(self.values.indptr))

    @property
    def statement(self) -> np.ndarray:
        return self.values.indices

    @property
    def vote(self) -> np.ndarray:
        return self.values.data


def factorize(ids: np.ndarray | pa.Array, order: str) -> tuple[np.ndarray, np.ndarray]:
    """(codes, uniques): `order="first"` numbers ids by first appearance, `"sorted"` by value."""
    if order == "sorted":
        uniques, codes = np.unique(np.asarray(ids), return_inverse=True)
        return codes.astype(np.int32), uniques
    arr = ids if isinstance(ids, (pa.Array, pa.ChunkedArray)) else pa.array(ids)
    enc = pc.dictionary_encode(arr)
    if isinstance(enc, pa.ChunkedArray):
        enc = enc.combine_chunks()
    codes = enc.indices.to_numpy(zero_copy_only=False).astype(np.int32, copy=False)
    return codes, enc.dictionary.to_numpy(zero_copy_only=False)


def encounter_codes(voter_ids, statement_codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(codes, uniques) numbering voters as Polis's rating matrix adds them: it reads the
    votes ordered by (statement, voter), so voters come in order of the lowest statement
    they voted on, then by id."""
    codes, uniques = factorize(voter_ids, "sorted")
    lowest = np.full(len(uniques), np.iinfo(np.int64).max)
    np.minimum.at(lowest, codes, statement_codes)
    order = np.lexsort((np.arange(len(uniques)), lowest))
    rank = np.empty(len(order), np.int32)
    rank[order] = np.arange(len(order), dtype=np.int32)
    return rank[codes], uniques[order]


def check_votes(vote: np.ndarray, where: str, row_ids=None) -> np.ndarray:
    """Votes as int8; a UserError naming the first row whose vote is not -1, 0 or 1."""
    v = np.asarray(vote)
    if v.dtype.kind == "f":
        bad = ~np.isin(v, (-1.0, 0.0, 1.0))  # NaN is bad too
    elif v.dtype.kind in "iub":
        bad = (v < -1) | (v > 1)
    else:
        raise UserError(f"{where}: votes must be numbers -1, 0 or 1, got type {v.dtype}")
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        at = f"row {row_ids[i]}" if row_ids is not None else f"row {i}"
        raise UserError(f"{where}: vote {v[i].item()!r} at {at} is not -1 (disagree), 0 (pass) "
                        "or 1 (agree)")
    return v.astype(np.int8)


def latest_votes(voter: np.ndarray, statement: np.ndarray, n_statements: int,
                 time: np.ndarray | None) -> np.ndarray:
    """Indices of the votes that stand, in (voter, statement) order: per cell the latest by
    time, ties (and votes without times) broken by position in the input.

    Only cells voted more than once are sorted by time (re-votes are rare), so the cost is
    one sort by cell (cheap when the input is grouped by voter, as exports usually are).
    """
    n = len(voter)
    n_cells = (int(voter.max()) + 1 if n else 1) * n_statements
    key_type = np.int32 if n_cells < 2**31 else np.int64  # half the memory when it fits
    key = voter.astype(key_type) * key_type(n_statements) + statement.astype(key_type)
    order = np.argsort(key, kind="stable")  # equal cells stay in input order
    key = key[order]
    starts = np.ones(n, bool)
    np.not_equal(key[1:], key[:-1], out=starts[1:])
    del key
    if starts.all():
        return order
    cell = np.cumsum(starts, dtype=np.int32 if n < 2**31 else np.int64) - 1
    repeated = np.flatnonzero(np.bincount(cell)[cell] > 1)  # sorted positions in re-voted cells
    keep = starts.copy()
    keep[repeated] = False
    if time is None:
        last = np.ones(len(repeated), bool)  # the last in input order stands
    else:
        sub = repeated[np.lexsort((repeated, time[order[repeated]], cell[repeated]))]
        repeated = sub
        last = np.ones(len(sub), bool)
    last[:-1] = cell[repeated][1:] != cell[repeated][:-1]
    keep[repeated[last]] = True
    return order[keep]


def build_matrix(voter: np.ndarray, statement: np.ndarray, vote: np.ndarray,
                 time: np.ndarray | None, voter_ids: np.ndarray, statement_ids: np.ndarray,
                 moderated_out: np.ndarray | None = None, n_dropped_statements: int = 0
                 ) -> VoteMatrix:
    """The matrix from coded triplets (row/column codes), keeping the latest vote per cell."""
    n_raw = len(vote)
    shape = (len(voter_ids), len(statement_ids))
    keep = latest_votes(voter, statement, shape[1], time)  # row-major cell order
    indptr = np.zeros(shape[0] + 1, np.int64)
    np.cumsum(np.bincount(voter[keep], minlength=shape[0]), out=indptr[1:])
    # CSR by hand (cells sorted by row, then column) so explicit zeros (passes) stay.
    values = sp.csr_matrix((vote[keep], statement[keep].astype(np.int32, copy=False), indptr),
                           shape=shape)
    mod = np.zeros(shape[1], bool) if moderated_out is None else np.asarray(moderated_out, bool)
    return VoteMatrix(values, np.asarray(voter_ids), np.asarray(statement_ids), mod,
                      None if time is None else time[keep], n_raw, n_dropped_statements)


def from_columns(voter_ids, statement_ids, votes, times=None, where: str = "votes",
                 order: str = "first", moderated_ids=None) -> VoteMatrix:
    """Validate raw vote columns and build the matrix.

    `order="first"` keeps voters and statements in order of first appearance (data order),
    `"sorted"` sorts ids, `"encounter"` sorts statements and puts voters in the order
    Polis's rating matrix has them (`encounter_codes`): that row order decides its k-means
    starts.
    """
    if len(votes) == 0:  # before the checks of the votes' type (an empty CSV column has none)
        raise UserError(f"{where}: no votes")
    for name, col in (("voter id", voter_ids), ("statement id", statement_ids)):
        arr = col if isinstance(col, (pa.Array, pa.ChunkedArray)) else pa.array(col)
        if arr.null_count:
            row = int(np.flatnonzero(arr.is_null().to_numpy(zero_copy_only=False))[0])
            raise UserError(f"{where}: missing {name} at row {row}")
    vote = check_votes(votes if not isinstance(votes, (pa.Array, pa.ChunkedArray))
                       else votes.to_numpy(zero_copy_only=False), where)
    t = None if times is None else np.asarray(times).astype("int64", copy=False)
    if order == "encounter":
        s_codes, s_ids = factorize(statement_ids, "sorted")
        v_codes, v_ids = encounter_codes(voter_ids, s_codes)
    else:
        v_codes, v_ids = factorize(voter_ids, order)
        s_codes, s_ids = factorize(statement_ids, order)
    mod = None
    if moderated_ids is not None:
        mod = np.isin(s_ids, np.asarray(moderated_ids))
    return build_matrix(v_codes, s_codes, vote, t, v_ids, s_ids, mod)


def check_size(m: VoteMatrix, min_voters: int, where: str) -> None:
    """Bad input that no clustering can handle: too few voters or statements."""
    n_voters, n_statements = m.shape
    active = int((~m.moderated_out).sum())
    if n_voters < min_voters:
        raise UserError(f"{where}: {n_voters} voters with votes; need at least {min_voters} "
                        "(job.min_voters)")
    if active < 2:
        raise UserError(f"{where}: {active} statement(s) with votes (not moderated out); "
                        "need at least 2 for a 2-D projection")
