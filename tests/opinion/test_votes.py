"""Votes: re-votes (the latest stands), readers, and bad input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from engine._opinion import readers
from engine._opinion.votes import check_size, from_columns, latest_votes
from engine.errors import UserError

POLIS = Path(__file__).resolve().parents[1] / "data" / "polis"


def test_latest_vote_by_time_wins_not_file_order():
    # (voter a, statement s) voted three times; the file lists the latest first.
    m = from_columns(["a", "a", "a", "b"], ["s", "s", "s", "s"], [1, -1, 0, 1],
                     times=[30, 10, 20, 5])
    assert m.values.toarray().tolist() == [[1], [1]]
    assert m.n_raw_votes == 4 and len(m.vote) == 2


def test_latest_vote_without_times_is_the_last_row():
    m = from_columns(["a", "b", "a"], ["s", "s", "s"], [1, -1, -1])
    assert m.values.toarray()[:, 0].tolist() == [-1, -1]


def test_passes_stay_cast_votes():
    m = from_columns(["a", "a", "b"], ["s", "t", "t"], [0, 1, 0])
    assert m.values.nnz == 3  # explicit zeros kept
    assert np.diff(m.values.indptr).tolist() == [2, 1]


def test_latest_votes_matches_brute_force():
    rng = np.random.default_rng(1)
    voter = rng.integers(0, 30, 2000)
    stmt = rng.integers(0, 20, 2000)
    time = rng.integers(0, 50, 2000)  # ties on purpose: input position breaks them
    keep = latest_votes(voter, stmt, 20, time)
    expect = {}
    for i in range(2000):
        cell = (voter[i], stmt[i])
        if cell not in expect or time[i] >= time[expect[cell]]:
            expect[cell] = i
    assert sorted(keep.tolist()) == sorted(expect.values())
    cells = voter[keep] * 20 + stmt[keep]
    assert np.all(np.diff(cells) > 0)  # row-major order, one per cell


def test_first_appearance_order_is_data_order():
    m = from_columns([7, 3, 7, 5], ["y", "x", "x", "z"], [1, 1, 1, 1])
    assert m.voter_ids.tolist() == [7, 3, 5]
    assert m.statement_ids.tolist() == ["y", "x", "z"]


@pytest.mark.parametrize("bad", [2, -2, 0.5, np.nan])
def test_votes_outside_minus_one_zero_one(bad):
    with pytest.raises(UserError, match="row 2"):
        from_columns(["a", "b", "c"], ["s", "s", "s"], np.array([1.0, 0.0, bad]))


def test_missing_ids_name_the_row():
    with pytest.raises(UserError, match="missing voter id at row 1"):
        from_columns(pa.array(["a", None]), ["s", "t"], [1, 1])


def test_fewer_than_15_voters_and_one_statement():
    few = from_columns([f"v{i}" for i in range(14)], ["s"] * 7 + ["t"] * 7, [1] * 14)
    with pytest.raises(UserError, match="14 voters"):
        check_size(few, 15, "votes.csv")
    one = from_columns([f"v{i}" for i in range(20)], ["s"] * 20, [1] * 20)
    with pytest.raises(UserError, match="need at least 2"):
        check_size(one, 15, "votes.csv")


def test_polis_export_reader_resolves_revotes_and_moderation():
    export = readers.read_polis_export(POLIS / "canadian-electoral-reform")
    m = export.matrix
    assert m.shape == (448, 174)
    assert m.n_raw_votes == 12018 and m.n_raw_votes - len(m.vote) == 68
    assert m.moderated_out.sum() == 22
    assert m.statement_ids.tolist() == sorted(m.statement_ids.tolist())
    # Spot-check re-votes against a direct scan of votes.csv.
    import csv

    latest = {}
    with open(POLIS / "canadian-electoral-reform" / "votes.csv") as fh:
        for row in csv.DictReader(fh):
            key = (int(row["voter-id"]), int(row["comment-id"]))
            t = int(row["timestamp"])
            if key not in latest or t >= latest[key][0]:
                latest[key] = (t, int(row["vote"]))
    # Rows as Polis reads the votes (ordered by comment, then participant): by the lowest
    # comment each participant voted on, then by participant id.
    lowest = {}
    for v, c in latest:
        lowest[v] = min(c, lowest.get(v, c))
    assert m.voter_ids.tolist() == sorted(lowest, key=lambda v: (lowest[v], v))
    dense = m.values.toarray()
    row_of = {v: i for i, v in enumerate(m.voter_ids.tolist())}
    col_of = {s: j for j, s in enumerate(m.statement_ids.tolist())}
    cast = np.zeros_like(dense, bool)
    cast[m.voter, m.statement] = True
    assert cast.sum() == len(latest)
    for (v, s), (_, vote) in latest.items():
        assert dense[row_of[v], col_of[s]] == vote
    assert len(export.polis_groups) == 281


def test_polis_export_errors(tmp_path):
    with pytest.raises(UserError, match="no votes.csv"):
        readers.read_polis_export(tmp_path)
    (tmp_path / "votes.csv").write_text("timestamp,comment-id,voter-id\n1,0,0\n")
    with pytest.raises(UserError, match="missing column 'vote'"):
        readers.read_polis_export(tmp_path)
    (tmp_path / "votes.csv").write_text("timestamp,comment-id,voter-id,vote\n1,0,0,1\n2,0,1,3\n")
    with pytest.raises(UserError, match="vote 3 at row 1"):
        readers.read_polis_export(tmp_path)


def test_vote_files_csv_and_parquet(tmp_path):
    table = pa.table({"voter_id": ["a", "b", "a"], "statement_id": [1, 1, 1],
                      "vote": [1, -1, -1], "time": ["2024-01-02", "2024-01-01", "2024-01-01"]})
    pq.write_table(table, tmp_path / "v.parquet")
    m = readers.read_vote_files(str(tmp_path / "v.parquet"), "voter_id", "statement_id", "vote",
                                "time")
    assert m.values.toarray()[:, 0].tolist() == [1, -1]  # a's later vote (Jan 2) stands
    (tmp_path / "v.csv").write_text("voter_id,statement_id,vote\na,1,1\nb,1,\n")
    with pytest.raises(UserError, match="missing vote at row 1"):
        readers.read_vote_files(str(tmp_path / "v.csv"), "voter_id", "statement_id", "vote", None)
    (tmp_path / "w.csv").write_text("who,statement_id,vote\na,1,1\n")
    with pytest.raises(UserError, match="missing column 'voter_id'"):
        readers.read_vote_files(str(tmp_path / "w.csv"), "voter_id", "statement_id", "vote", None)



def test_rows_in_polis_rating_matrix_order():
    # Polis reads votes ordered by (comment, participant): voter 9 and 2 voted on statement
    # "a" (the lowest), 5 only on "b"; ids order voters with the same lowest statement.
    m = from_columns([5, 9, 2, 2, 5], ["b", "a", "c", "a", "c"], [1, 1, -1, 0, 1],
                     times=[0, 1, 2, 3, 4], order="encounter")
    assert m.voter_ids.tolist() == [2, 9, 5]
    assert m.statement_ids.tolist() == ["a", "b", "c"]
    dense = m.values.toarray()
    assert dense.tolist() == [[0, 0, -1], [1, 0, 0], [0, 1, 1]]


def test_polis_export_timestamps_in_seconds_or_milliseconds(tmp_path):
    # Older exports write milliseconds, newer ones (whole-second `datetime`) seconds: a day
    # must be a day either way, or the replay's pauses and polls are off by 1000.
    rows = "".join(f"{t},x,{c},{v},1\n" for v in range(3) for c, t in enumerate((0, 86_400)))
    for unit, scale in ((1_000_000_000, 1), (1_000_000, 1000)):
        start = 1_700_000_000 * scale
        (tmp_path / "votes.csv").write_text(
            "timestamp,datetime,comment-id,voter-id,vote\n"
            + "".join(f"{start + int(t) * scale},{rest}" for t, rest in
                      (line.split(",", 1) for line in rows.splitlines(keepends=True))))
        m = readers.read_polis_export(tmp_path).matrix
        assert m.ns_per_time_unit == unit
        day = (m.time.max() - m.time.min()) * m.ns_per_time_unit
        assert day == 86_400 * 10**9
