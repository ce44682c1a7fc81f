"""Readers of votes: a Polis export folder, or tables of (voter, statement, vote[, time]).

Polis export (`data=polis_export data.path=DIR`): `votes.csv` (timestamp, datetime, comment-id,
voter-id, vote; agree = +1), optional `comments.csv` (comment-id, moderated: -1 = moderated
out; `is-meta`, true/false, where the export has it: Polis's math export writes it, the
openData/report export does not) and `participants-votes.csv` (participant, group-id: Polis's
own groups).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from engine._opinion.votes import VoteMatrix, from_columns
from engine.errors import UserError
from engine.io.embeddings import check_csv_text
from engine.io.times import epoch_ns_per_unit, to_datetime64

POLIS_VOTE_COLUMNS = ("timestamp", "comment-id", "voter-id", "vote")
META_COLUMN = "is-meta"  # Polis's math export (darwin/export.clj, csv-format); red-dwarf reads it


@dataclass
class PolisExport:
    matrix: VoteMatrix
    polis_groups: dict[int, int]  # participant -> Polis group-id (assigned participants only)
    n_comments_listed: int
    comment_text: dict[int, str]
    warnings: list[str] = field(default_factory=list)  # what was missing but not needed
    listed_ids: list[int] = field(default_factory=list)  # comments.csv's comment ids
    meta_ids: list[int] = field(default_factory=list)  # flagged `is-meta` in comments.csv


def _read_csv(path: Path, **options) -> pa.Table:
    try:
        table = pacsv.read_csv(path, **options)
    except (pa.ArrowInvalid, OSError) as exc:
        raise UserError(f"{path}: cannot read CSV ({str(exc).splitlines()[0]})") from None
    check_csv_text(table.schema, path)
    return table


def _require(table: pa.Table, columns, where: Path) -> None:
    missing = [c for c in columns if c not in table.column_names]
    if missing:
        raise UserError(f"{where}: missing column {missing[0]!r} "
                        f"(has {', '.join(table.column_names)})")


def read_polis_export(folder: str | Path) -> PolisExport:
    folder = Path(folder)
    votes_path = folder / "votes.csv"
    if not votes_path.is_file():
        raise UserError(f"data.path={folder}: no votes.csv (expected a Polis export folder)")
    votes = _read_csv(votes_path)
    _require(votes, POLIS_VOTE_COLUMNS, votes_path)
    if votes.num_rows == 0:  # before the type checks: empty columns have no integer type
        raise UserError(f"{votes_path}: no votes")
    for c in POLIS_VOTE_COLUMNS:
        if not pa.types.is_integer(votes[c].type) and not (
                c == "vote" and pa.types.is_floating(votes[c].type)):
            raise UserError(f"{votes_path}: column {c!r} must hold integers, "
                            f"got {votes[c].type}")
    moderated, listed, text, warnings = None, 0, {}, []
    listed_ids, meta_ids = [], []
    comments_path = folder / "comments.csv"
    if not comments_path.is_file():
        warnings.append(f"{comments_path}: missing; no statement is moderated out")
    else:
        comments = _read_csv(comments_path)
        _require(comments, ("comment-id",), comments_path)
        cid = comments["comment-id"].to_numpy()
        listed_ids = np.unique(cid).tolist()
        listed = len(listed_ids)
        if META_COLUMN in comments.column_names:
            meta_ids = cid[_flags(comments[META_COLUMN], comments_path)].tolist()
        if "moderated" in comments.column_names:
            mod = comments["moderated"].to_numpy(zero_copy_only=False)
            moderated = cid[mod == -1]
        if "comment-body" in comments.column_names:
            text = dict(zip(cid.tolist(), comments["comment-body"].to_pylist(), strict=True))
    # Participants in the order their first vote arrived, as in Polis's rating matrix.
    matrix = from_columns(votes["voter-id"], votes["comment-id"], votes["vote"],
                          votes["timestamp"].to_numpy(), where=str(votes_path),
                          order="encounter", moderated_ids=moderated)
    matrix.n_dropped_statements = max(0, listed - matrix.shape[1])
    # Older exports write `timestamp` in milliseconds, newer ones (whole-second `datetime`)
    # in seconds.
    matrix.ns_per_time_unit = epoch_ns_per_unit(votes["timestamp"].to_numpy())
    groups: dict[int, int] = {}
    pv_path = folder / "participants-votes.csv"
    if pv_path.is_file():
        pv = _read_csv(pv_path, convert_options=pacsv.ConvertOptions(
            include_columns=["participant", "group-id"]))
        pid = pv["participant"].to_pylist()
        gid = pv["group-id"].to_pylist()
        groups = {int(p): int(g) for p, g in zip(pid, gid, strict=True) if g is not None}
    return PolisExport(matrix, groups, listed, text, warnings, listed_ids, meta_ids)


def _flags(column: pa.ChunkedArray, where: Path) -> np.ndarray:
    """A true/false column as a bool array; a UserError naming the first other value."""
    if not pa.types.is_boolean(column.type) or column.null_count:
        values = column.cast(pa.string()).to_pylist()
        row = next(i for i, v in enumerate(values) if v not in ("true", "false"))
        raise UserError(f"{where}: column {META_COLUMN!r}: {values[row]!r} at row {row} is "
                        "not true or false")
    return column.to_numpy(zero_copy_only=False).astype(bool)


def _read_table(path: Path, columns: list[str]) -> pa.Table:
    if path.suffix == ".parquet":
        names = pq.read_schema(path).names
        return pq.read_table(path, columns=[c for c in columns if c in names])
    if path.suffix in (".csv", ".tsv"):
        opts = pacsv.ParseOptions(delimiter="\t" if path.suffix == ".tsv" else ",")
        table = _read_csv(path, parse_options=opts)
        return table.select([c for c in columns if c in table.column_names])
    raise UserError(f"{path}: votes must be .csv, .tsv or .parquet")


def read_vote_files(path: str, voter_column: str, statement_column: str, vote_column: str,
                    time_column: str | None) -> VoteMatrix:
    """Votes from one file, a directory or a glob of CSV/Parquet files (concatenated)."""
    p = Path(path)
    if p.is_dir():
        files = sorted(f for f in p.iterdir() if f.suffix in (".csv", ".tsv", ".parquet"))
    elif p.exists():
        files = [p]
    else:
        files = sorted(Path(p.anchor or ".").glob(str(p.relative_to(p.anchor or "."))))
    if not files:
        raise UserError(f"data.path={path}: no vote files found")
    wanted = [voter_column, statement_column, vote_column]
    tables = []
    for f in files:
        t = _read_table(f, wanted + ([time_column] if time_column else []))
        _require(t, wanted, f)
        tables.append(t)
    has_time = bool(time_column) and all(time_column in t.column_names for t in tables)
    where = str(files[0]) if len(files) == 1 else f"{path} ({len(files)} files)"
    try:
        table = pa.concat_tables(tables, promote_options="permissive")
    except pa.ArrowInvalid as exc:
        raise UserError(f"{where}: files disagree on column types ({exc})") from None
    return votes_from_table(table, where, voter_column, statement_column, vote_column,
                            time_column if has_time else None)


def votes_from_table(table: pa.Table, where: str, voter_column: str, statement_column: str,
                     vote_column: str, time_column: str | None) -> VoteMatrix:
    """The vote matrix of a table of votes (one row per vote; the time column is used where
    the table has it)."""
    _require(table, [voter_column, statement_column, vote_column], where)
    times = None
    if time_column and time_column in table.column_names:
        times = to_datetime64(table[time_column], f"{where}: column {time_column!r}")
        times = times.astype("int64")
    vote = table[vote_column].combine_chunks()
    if vote.null_count:
        row = int(np.flatnonzero(vote.is_null().to_numpy(zero_copy_only=False))[0])
        raise UserError(f"{where}: column {vote_column!r}: missing vote at row {row}")
    return from_columns(table[voter_column].combine_chunks(),
                        table[statement_column].combine_chunks(), vote, times,
                        where=f"{where}: column {vote_column!r}", order="first")
