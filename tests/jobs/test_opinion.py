"""job=opinion end to end: agreement with Polis on real conversations, outputs, errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow.parquet as pq
import pytest
from sklearn.metrics import adjusted_rand_score

from engine.errors import UserError

POLIS = Path(__file__).resolve().parents[1] / "data" / "polis"

CONVERSATIONS = sorted(p.name for p in POLIS.iterdir() if (p / "votes.csv").exists())
# Never used to choose the job's settings (tests/data/opinion/README.md).
HELD_OUT = Path(__file__).resolve().parents[1] / "data" / "opinion"
HELD_OUT_CONVERSATIONS = sorted(p.name for p in HELD_OUT.iterdir() if (p / "votes.csv").exists())
# A little under the default replay's ARI (0.883 with `polling`; 0.368 with `votes`, red-dwarf
# 0.082; bench/results/opinion_schedules.md): a floor against regressions, not a target.
HELD_OUT_FLOOR = {"r6vbnhffkxbd7ifmfbdrd-vw": 0.85}


def polis_groups(conversation: str) -> pl.DataFrame:
    """Polis's own groups (participants-votes.csv `group-id`), participants it grouped."""
    return (pl.read_csv(POLIS / conversation / "participants-votes.csv",
                        columns=["participant", "group-id"])
            .drop_nulls().rename({"group-id": "group"}))


def ari_with_polis(conversation: str, groups: pl.DataFrame) -> tuple[float, int]:
    """ARI of (participant, group) rows against Polis's groups, over participants both grouped."""
    both = polis_groups(conversation).join(groups, on="participant", suffix="_other")
    return adjusted_rand_score(both["group"], both["group_other"]), len(both)


def red_dwarf_ari(conversation: str) -> float:
    # red-dwarf 0.4.0's groups, frozen by tests/data/polis/red_dwarf_groups.py (its docstring
    # holds the command); the ARI itself is recomputed here.
    rd = pl.read_csv(POLIS / conversation / "red_dwarf_groups.csv")
    return ari_with_polis(conversation, rd)[0]


def delphi_groups(folder: Path) -> pl.DataFrame:
    # delphi's groups (Polis's Python port at commit cdc238c2 of compdemocracy/polis), frozen
    # by tests/data/polis/delphi_groups.py (its docstring holds the command).
    return pl.read_csv(folder / "delphi_groups.csv")


def delphi_ari(conversation: str) -> float:
    return ari_with_polis(conversation, delphi_groups(POLIS / conversation))[0]


def our_groups(out) -> pl.DataFrame:
    return (pl.read_parquet(out / "voters.parquet").filter(pl.col("group").is_not_null())
            .select(pl.col("voter_id").alias("participant"), "group"))


@pytest.mark.parametrize("conversation", CONVERSATIONS)
def test_groups_agree_with_polis_at_least_as_well_as_red_dwarf_and_delphi(run_job, conversation):
    # The `votes` schedule (a recomputation every 100 votes), on which the settings were
    # chosen: the default `polling` schedule recomputes about once per vote here, 1-25 CPU
    # minutes a conversation (bench/results/opinion_schedules.md has both).
    objective, out, metrics = run_job("job=opinion", "data=polis_export",
                                      f"data.path={POLIS / conversation}",
                                      "job.replay_schedule=votes")
    assert metrics["replay"] is True
    ours, n_compared = ari_with_polis(conversation, our_groups(out))
    assert ours >= red_dwarf_ari(conversation) and ours >= 0.6
    assert ours >= delphi_ari(conversation)
    # The job's own figure is this same ARI over the same participants.
    assert metrics["ari_polis"] == pytest.approx(ours, abs=1e-12)
    assert metrics["n_compared_polis"] == n_compared
    assert metrics["n_groups"] == polis_groups(conversation)["group"].n_unique()
    assert objective == metrics["silhouette"] > 0
    voters = pl.read_parquet(out / "voters.parquet")
    assert voters.columns[:7] == ["voter_id", "x", "y", "n_votes", "base", "group", "subgroup"]
    # Everyone Polis grouped is in the conversation; once in, a voter stays in, so the only
    # others are a few who were topped up early on (fewer than 7 votes) at moments that the
    # replay's schedule does not hit exactly.
    grouped = voters.filter(pl.col("group").is_not_null())
    extra = grouped.join(polis_groups(conversation), left_on="voter_id", right_on="participant",
                         how="anti")
    assert len(grouped) - len(extra) == len(polis_groups(conversation))
    assert len(extra) <= 5 and (extra["n_votes"] < 7).all()
    assert (voters["group"].is_null() == ~voters["in_conv"]).all()
    # Statements on the map where red-dwarf 0.4.0 projects them (frozen with the command in
    # tests/data/polis/red_dwarf_groups.py), up to each axis's sign: Polis's 100-step power
    # iteration lands within 1e-3 of red-dwarf's full SVD.
    ours = pl.read_parquet(out / "statements.parquet").rename({"statement_id": "statement"})
    both = ours.join(pl.read_csv(POLIS / conversation / "red_dwarf_statements.csv"),
                     on="statement", suffix="_rd")
    assert len(both) == len(ours) == metrics["n_statements"]
    for axis in ("x", "y"):
        sign = np.sign((both[axis] * both[f"{axis}_rd"]).sum())
        np.testing.assert_allclose(both[axis] * sign, both[f"{axis}_rd"], atol=1e-3)
    assert (both.filter(pl.col("moderated_out"))[["x", "y"]].to_numpy() == 0).all()


ONCE_PICKS_ANOTHER_K = pytest.mark.xfail(
    strict=True, reason="computed once on all votes, the best silhouette is at k = 3 where "
    "Polis, which carried its groups along the conversation, kept 2: the replay (the default "
    "for exports) recovers it")


@pytest.mark.parametrize("conversation", [
    pytest.param(c, marks=ONCE_PICKS_ANOTHER_K) if c == "canadian-electoral-reform" else c
    for c in CONVERSATIONS])
def test_without_replay_at_least_red_dwarf_and_polis_k(run_job, conversation):
    _, out, metrics = run_job("job=opinion", "data=polis_export", "job.replay=false",
                              f"data.path={POLIS / conversation}")
    assert metrics["replay"] is False
    assert metrics["n_groups"] == polis_groups(conversation)["group"].n_unique()
    assert ari_with_polis(conversation, our_groups(out))[0] >= red_dwarf_ari(conversation)


def test_outputs_on_synthetic(run_job):
    objective, out, metrics = run_job("job=opinion", "data=synthetic", "data.n_voters=1500",
                                      "data.n_statements=50", "data.vote_density=0.4")
    assert metrics["ari_planted"] > 0.85 and metrics["n_groups"] == 3
    assert metrics["n_rows"] == metrics["n_voters"] == 1500
    assert metrics["n_replaced_votes"] > 0
    run = metrics["run"]
    assert run["status"] == "completed" and run["n_clusters"] == metrics["n_base_clusters"]
    for name in ("voters", "clusters", "repness", "consensus", "patterns", "agreement",
                 "bridges"):
        assert (out / f"{name}.parquet").exists()
    clusters = pl.read_parquet(out / "clusters.parquet")
    assert set(clusters["level"]) == {"base", "group", "subgroup"}
    groups = clusters.filter(pl.col("level") == "group")
    assert groups["size"].sum() == metrics["n_in_conv"]
    rep = pl.read_parquet(out / "repness.parquet")
    assert len(rep) == 3 * 50
    assert rep.group_by("group").agg(pl.col("rank").count())["rank"].max() <= 5
    assert rep.filter(pl.col("rank") == 1)["group"].n_unique() == 3  # each group has one
    cons = pl.read_parquet(out / "consensus.parquet")
    assert cons["agree_rank"].count() <= 5
    patterns = pl.read_parquet(out / "patterns.parquet")
    assert set(patterns["majority"].drop_nulls()) <= {"agree", "disagree", "pass"}
    agreement = pl.read_parquet(out / "agreement.parquet")
    within = agreement.filter(pl.col("group_a") == pl.col("group_b"))["agreement"]
    between = agreement.filter(pl.col("group_a") != pl.col("group_b"))["agreement"]
    assert within.min() > between.max()  # planted groups agree more inside than across


def test_same_seed_same_outputs(run_job):
    args = ("job=opinion", "data=synthetic", "data.n_voters=400", "data.n_statements=30")
    _, a, _ = run_job(*args)
    _, b, _ = run_job(*args)
    for name in ("voters", "repness", "clusters"):
        assert pq.read_table(a / f"{name}.parquet").equals(pq.read_table(b / f"{name}.parquet"))


def test_files_input_with_revotes(run_job, tmp_path):
    import pyarrow as pa

    rng = np.random.default_rng(0)
    n, m = 60, 12
    side = np.where(np.arange(n) < 30, 1, -1)
    rows = []
    for v in range(n):
        for s in range(1, m):  # two camps, each voter off their camp's line now and then
            vote = side[v] * (1 if s % 2 else -1) * (-1 if rng.random() < 0.1 else 1)
            rows.append((f"u{v}", f"s{s}", int(vote), 10))
        rows.append((f"u{v}", "s0", int(-side[v]), 10))
    # A first, opposite vote one second earlier, which must be replaced.
    rows += [(f"u{v}", "s0", int(side[v]), 9) for v in range(n)]
    order = rng.permutation(len(rows))
    cols = list(zip(*[rows[i] for i in order], strict=True))
    pq.write_table(pa.table({"voter_id": cols[0], "statement_id": cols[1], "vote": cols[2],
                             "time": pa.array(cols[3], pa.int64())}), tmp_path / "votes.parquet")
    _, out, metrics = run_job("job=opinion", "data=files", f"data.path={tmp_path / 'votes.parquet'}")
    assert metrics["n_replaced_votes"] == n and metrics["replay"] is False
    voters = pl.read_parquet(out / "voters.parquet")
    g = dict(zip(voters["voter_id"], voters["group"], strict=True))
    assert len({g[f"u{v}"] for v in range(30)}) == 1
    assert len({g[f"u{v}"] for v in range(30, 60)}) == 1
    assert g["u0"] != g["u59"]
    pat = pl.read_parquet(out / "patterns.parquet").filter(pl.col("statement_id") == "s0")
    assert pat["consensus_score"].to_list() == [1.0, 1.0]  # the re-votes were replaced


def one_participant_a_second(folder: Path) -> Path:
    """20 participants in two camps (each off their camp's line on one comment), each casting
    all 8 votes within one second, one participant a second (milliseconds, as older exports)."""
    def vote(v, c):
        return (1 if v % 2 else -1) * (1 if c % 2 else -1) * (-1 if c == v % 8 else 1)

    rows = [f"{1_600_000_000_000 + 1000 * v + 100 * c},x,{c},{v},{vote(v, c)}\n"
            for v in range(20) for c in range(8)]
    (folder / "votes.csv").write_text("timestamp,datetime,comment-id,voter-id,vote\n"
                                      + "".join(rows))
    return folder


def test_polling_replay_recomputes_once_per_second_that_holds_votes(run_job, tmp_path):
    # Polis's worker, polling every second, updates once per participant. The first update
    # with 3 voters is the first the job can cluster, so 18 recomputations, the last after all
    # 160 votes. `polling` is the default schedule.
    _, out, metrics = run_job("job=opinion", "data=polis_export",
                              f"data.path={one_participant_a_second(tmp_path)}")
    assert metrics["replay"] is True and metrics["replay_schedule"] == "polling"
    assert [h["votes"] for h in metrics["k_history"]] == [8 * v for v in range(3, 21)]
    groups = pl.read_parquet(out / "voters.parquet").sort("voter_id")["group"].to_list()
    assert groups[0::2] == [groups[0]] * 10 and groups[1::2] == [groups[1]] * 10
    assert groups[0] != groups[1]


def test_polling_gives_way_to_votes_above_its_vote_limit(run_job, tmp_path, caplog):
    folder = one_participant_a_second(tmp_path)
    _, _, metrics = run_job("job=opinion", "data=polis_export", f"data.path={folder}",
                            "job.replay_polling_max_votes=159", "job.replay_every=40")
    assert metrics["replay_schedule"] == "votes"
    assert [h["votes"] for h in metrics["k_history"]] == [40, 80, 120, 160]
    assert "160 votes, more than job.replay_polling_max_votes=159" in caplog.text
    _, _, at_limit = run_job("job=opinion", "data=polis_export", f"data.path={folder}",
                             "job.replay_polling_max_votes=160")
    assert at_limit["replay_schedule"] == "polling" and len(at_limit["k_history"]) == 18


def test_polling_without_vote_times_is_one_user_error(run_job, tmp_path):
    path = tmp_path / "votes.csv"
    path.write_text("voter_id,statement_id,vote\n"
                    + "".join(f"v{i},s{i % 3},{1 - 2 * (i % 2)}\n" for i in range(40)))
    with pytest.raises(UserError, match="job.replay_schedule=polling: the votes have no times"):
        run_job("job=opinion", "data=files", f"data.path={path}", "job.replay=true",
                "job.replay_schedule=polling")


@pytest.mark.parametrize("content, message", [
    ("voter_id,statement_id,vote\n" + "".join(f"v{i},s{i % 3},2\n" for i in range(20)),
     "vote 2 at row 0"),
    ("voter_id,statement_id,vote\n" + "".join(f"v{i},s{i % 3},1\n" for i in range(10)),
     "10 voters with votes; need at least 15"),
    ("voter_id,statement_id,vote\n" + "".join(f"v{i},s0,1\n" for i in range(30)),
     "need at least 2"),
    ("voter_id,statement_id,vote\nv1,s1,1\nv2,s1,\n", "missing vote at row 1"),
    ("voter_id,statement_id,vote\n", "votes.csv: column .vote.: no votes"),
])
def test_bad_input_is_one_user_error(run_job, tmp_path, content, message):
    path = tmp_path / "votes.csv"
    path.write_text(content)
    with pytest.raises(UserError, match=message):
        run_job("job=opinion", "data=files", f"data.path={path}")
    assert not list(tmp_path.glob("run*/*.parquet"))  # nothing half-written


def test_statements_without_votes_are_dropped_and_counted(run_job, tmp_path):
    import shutil

    folder = tmp_path / "export"
    shutil.copytree(POLIS / "15-per-hour-seattle", folder)
    with open(folder / "comments.csv", "a") as fh:
        fh.write("1403067224363,x,999,1,0,0,1,A statement nobody voted on\n")
    _, _, metrics = run_job("job=opinion", "data=polis_export", f"data.path={folder}",
                            "job.replay=false")
    assert metrics["n_statements_without_votes"] == 1
    assert metrics["n_statements"] == 54


def test_empty_polis_export_is_one_user_error(run_job, tmp_path):
    (tmp_path / "votes.csv").write_text("timestamp,datetime,comment-id,voter-id,vote\n")
    with pytest.raises(UserError, match="votes.csv: no votes"):
        run_job("job=opinion", "data=polis_export", f"data.path={tmp_path}")


@pytest.mark.parametrize("override, message", [
    ("job.base_k=0", "job.base_k=0: must be at least 1"),  # was: argmin of an empty sequence
    ("job.max_groups=0", "job.max_groups=0: must be at least 2"),  # was: one group, silently
    ("job.replay_schedule=often", "job.replay_schedule='often': expected votes or polling"),
    ("job.replay_vote_polling_interval_ms=0", "must be > 0"),
    ("job.replay_polling_max_votes=-1", "job.replay_polling_max_votes=-1: must be >= 0"),
    ("job.polis_math=yesterday", "job.polis_math='yesterday': expected today, last_vote or a "
                                 "day as YYYY-MM-DD"),
])
def test_impossible_settings_are_refused(run_job, override, message):
    with pytest.raises(UserError, match=message):
        run_job("job=opinion", "data.n_voters=200", override)


def test_polis_export_without_comments_warns_and_counts(run_job, tmp_path, caplog):
    import shutil

    folder = tmp_path / "export"
    shutil.copytree(POLIS / "15-per-hour-seattle", folder)
    (folder / "comments.csv").unlink()
    _, _, metrics = run_job("job=opinion", "data=polis_export", f"data.path={folder}",
                            "job.replay=false")
    assert len(metrics["input_warnings"]) == 1
    assert "comments.csv: missing; no statement is moderated out" in metrics["input_warnings"][0]
    assert metrics["n_moderated_out"] == 0
    assert "comments.csv: missing" in caplog.text


def test_vote_csv_that_is_not_utf8_names_the_file(run_job, tmp_path):
    path = tmp_path / "votes.csv"
    path.write_bytes(b"voter_id,statement_id,vote\n"
                     + b"".join(b"v\xe9%d,s%d,1\n" % (i, i % 3) for i in range(20)))  # Latin-1
    with pytest.raises(UserError, match=r"votes.csv: column 'voter_id' is not UTF-8 text"):
        run_job("job=opinion", "data=files", f"data.path={path}")


def held_out_polis_groups(conversation: str) -> pl.DataFrame:
    """Clojure Polis's groups: the export's participants-votes.csv `group-id`, or unfolded
    from its math blob (polis_groups.csv)."""
    folder = HELD_OUT / conversation
    if (folder / "participants-votes.csv").exists():
        return (pl.read_csv(folder / "participants-votes.csv",
                            columns=["participant", "group-id"])
                .drop_nulls().rename({"group-id": "group"}))
    return pl.read_csv(folder / "polis_groups.csv", columns=["participant", "group"])


def held_out_ari(conversation: str, groups: pl.DataFrame) -> tuple[float, int]:
    both = held_out_polis_groups(conversation).join(groups, on="participant",
                                                    suffix="_other")
    return adjusted_rand_score(both["group"], both["group_other"]), len(both)


def held_out_run(run_job_once, conversation: str):
    """The job's default run on a held-out export (the `polling` replay, run once per session
    for all the tests below): (ARI with Polis's groups, out, metrics)."""
    _, out, metrics = run_job_once("job=opinion", "data=polis_export",
                                   f"data.path={HELD_OUT / conversation}")
    return held_out_ari(conversation, our_groups(out))[0], out, metrics


def held_out_marked(missed: dict[str, str]):
    """The held-out conversations, a strict xfail on each that misses a target; `missed`:
    conversation -> why (the numbers as bench/opinion.py measured them when it was added)."""
    return [pytest.param(c, marks=pytest.mark.xfail(strict=True, reason=f"held out: {missed[c]}; "
                                                    "the target is not met here"))
            if c in missed else c for c in HELD_OUT_CONVERSATIONS]


@pytest.mark.parametrize("conversation", HELD_OUT_CONVERSATIONS)
def test_held_out_groups_cover_those_polis_grouped(run_job_once, conversation):
    ours, out, metrics = held_out_run(run_job_once, conversation)
    assert metrics["replay"] is True
    folder = HELD_OUT / conversation
    if (folder / "participants-votes.csv").exists():
        assert metrics["ari_polis"] == pytest.approx(ours, abs=1e-12)  # the job's own figure
        # Everyone Polis grouped with 7+ votes passes our in-conversation rule too (older
        # Polis, e.g. 2017's freshwater, also grouped participants with a single vote).
        pv = pl.read_csv(folder / "participants-votes.csv",
                         columns=["participant", "group-id", "n-votes"]).drop_nulls()
        active = set(pv.filter(pl.col("n-votes") >= 7)["participant"].to_list())
        assert active <= set(our_groups(out)["participant"].to_list())
    else:
        blob = json.loads((folder / "math_blob_clusters.json").read_text())
        votes = {int(p): n for p, n in blob["user-vote-counts"].items()}
        polis = held_out_polis_groups(conversation)["participant"].to_list()
        active = {p for p in polis if votes[p] >= min(7, blob["n-cmts"])}
        assert active <= set(our_groups(out)["participant"].to_list())
        n_compared = held_out_ari(conversation, our_groups(out))[1]
        # All Polis grouped, but where Polis topped up participants with a vote or two that
        # the replay does not take in (the measured count compared, of len(polis)).
        assert n_compared == NOT_ALL_TOPPED_UP_GROUPED.get(conversation, len(polis))
    if conversation in HELD_OUT_FLOOR:
        assert ours >= HELD_OUT_FLOOR[conversation]


NOT_ALL_TOPPED_UP_GROUPED = {
    "above-100-ptpts": 177,  # of 208: 31 of Polis's 32 topped up with 1-6 votes
}


UNDER_RED_DWARF = {
    "25ptpt-3gp-no-strict-with-meta": "ARI 0.633 against red-dwarf's 0.699, all with Polis's "
                                      "3 groups, over 27 participants",
}


@pytest.mark.parametrize("conversation", held_out_marked(UNDER_RED_DWARF))
def test_held_out_groups_not_more_than_0_05_under_red_dwarf(run_job_once, conversation):
    ours = held_out_run(run_job_once, conversation)[0]
    # red-dwarf 0.4.0's groups, frozen by tests/data/polis/red_dwarf_groups.py FOLDER.
    red_dwarf = pl.read_csv(HELD_OUT / conversation / "red_dwarf_groups.csv")
    assert ours >= held_out_ari(conversation, red_dwarf)[0] - 0.05


UNDER_DELPHI = {
    "scoop-hivemind.ubi": "ARI 0.060 against delphi's 0.137, both with 3 groups where Polis "
                          "kept 4 (the fourth of 9 participants); delphi groups every voter, the "
                          "replay only those in the conversation",
}


@pytest.mark.parametrize("conversation", held_out_marked(UNDER_DELPHI))
def test_held_out_groups_not_more_than_0_05_under_delphi(run_job_once, conversation):
    ours = held_out_run(run_job_once, conversation)[0]
    assert ours >= held_out_ari(conversation, delphi_groups(HELD_OUT / conversation))[0] - 0.05


@pytest.mark.parametrize("folder", [POLIS / c for c in CONVERSATIONS]
                         + [HELD_OUT / c for c in HELD_OUT_CONVERSATIONS], ids=lambda f: f.name)
def test_frozen_delphi_groups_cover_every_voter(folder):
    # delphi at cdc238c2 projects and clusters every participant with a vote (no
    # in-conversation filter) and numbers its groups by size, largest first: a truncated,
    # shuffled or foreign file fails here.
    delphi = delphi_groups(folder)
    voters = pl.read_csv(folder / "votes.csv", columns=["voter-id"])["voter-id"].unique()
    assert delphi["participant"].is_unique().all()
    assert set(delphi["participant"]) == set(voters)
    sizes = delphi["group"].value_counts().sort("group")
    assert sizes["group"].to_list() == list(range(len(sizes)))
    assert sizes["count"].to_list() == sorted(sizes["count"], reverse=True)


K_MISSED = {
    "scoop-hivemind.ubi": "the replay settles on 3 groups where Polis kept 4",
    "below-100-ptpts": "the replay settles on 4 groups where Polis kept 3 (ARI 0.841; "
                       "red-dwarf and delphi keep 3, at 0.513 and 0.166)",
}


@pytest.mark.parametrize("conversation", held_out_marked(K_MISSED))
def test_held_out_k_is_polis_k(run_job_once, conversation):
    metrics = held_out_run(run_job_once, conversation)[2]
    assert metrics["n_groups"] == held_out_polis_groups(conversation)["group"].n_unique()


def test_meta_statements_from_the_setting_or_the_export_flag(run_job, tmp_path):
    from tests.opinion.meta_conversation import META, conversation, write_export

    flagged = write_export(tmp_path / "flagged", flag_meta=True)
    plain = write_export(tmp_path / "plain", flag_meta=False)
    setting = "job.meta_statements=[" + ",".join(map(str, META)) + "]"
    _, by_flag, m_flag = run_job("job=opinion", "data=polis_export", f"data.path={flagged}")
    _, by_setting, m_setting = run_job("job=opinion", "data=polis_export",
                                       f"data.path={plain}", setting)
    _, unmarked, m_none = run_job("job=opinion", "data=polis_export", f"data.path={plain}")
    assert m_flag["meta_statements"] == m_setting["meta_statements"] == META
    assert m_none["meta_statements"] == [] and m_none["n_meta"] == 0
    for name in ("voters.parquet", "statements.parquet"):
        assert pq.read_table(by_flag / name).equals(pq.read_table(by_setting / name))
    statements = pl.read_parquet(by_flag / "statements.parquet")
    assert statements.filter("is_meta")["statement_id"].to_list() == META
    assert statements.filter("is_meta")["moderated_out"].all()
    assert (statements.filter("is_meta").select("x", "y").to_numpy() == 0).all()  # off the map
    opinion = conversation()[3]
    for out, expected in ((by_flag, 1.0), (unmarked, None)):
        voters = pl.read_parquet(out / "voters.parquet").filter(pl.col("group").is_not_null())
        score = adjusted_rand_score(opinion[voters["voter_id"].to_numpy()], voters["group"])
        assert score == expected if expected else score < 0.6


def test_unknown_meta_statement_is_one_error_line_with_exit_2(tmp_path):
    from tests.opinion.meta_conversation import write_export
    from tests.test_app import engine_cli

    folder = write_export(tmp_path / "export", flag_meta=False)
    out = tmp_path / "out"
    result = engine_cli("job=opinion", "backend=cpu", "data=polis_export",
                        f"data.path={folder}", "job.meta_statements=[100,777]",
                        f"hydra.run.dir={out}")
    assert result.returncode == 2, result.stderr
    errors = [ln for ln in result.stderr.splitlines() if ln.startswith("error: ")]
    assert errors == ["error: job.meta_statements: statement 777 is not in the votes or the "
                      "comments"], result.stderr
    assert "Traceback" not in result.stderr
    assert not list(out.glob("*.parquet")) and not (out / "metrics.json").exists()


def test_polis_math_of_2017_recovers_polis_groups_on_a_2017_conversation(run_job):
    # freshwater closed on 2017-08-04, when Polis filled missing votes with 0 and counted
    # moderated-out statements (29 here have votes) as votes for the in-conversation filter;
    # with its statements about the participants as meta (chosen by reading, listed beside it)
    # that Polis's groups come back exactly (docs/opinion.md), today's math does not.
    folder = HELD_OUT / "scoop-hivemind.freshwater"
    meta = pl.read_csv(folder / "meta_statements_by_reading.csv")["statement_id"].to_list()
    runs = {}
    for math in ("last_vote", "2017-08-04", "today"):
        _, out, metrics = run_job("job=opinion", "data=polis_export", f"data.path={folder}",
                                  "job.replay=false", f"job.polis_math={math}",
                                  "job.meta_statements=[" + ",".join(map(str, meta)) + "]")
        runs[math] = (held_out_ari("scoop-hivemind.freshwater", our_groups(out))[0], metrics)
    assert runs["last_vote"][1]["polis_math"] == runs["2017-08-04"][1]["polis_math"] == \
        "2017-08-04"
    assert runs["last_vote"][0] == runs["2017-08-04"][0] == 1.0
    assert runs["last_vote"][1]["n_in_conv"] == 117  # every voter, as Polis grouped them
    assert runs["today"][1]["polis_math"] == "today" and runs["today"][0] < 0.5


def test_polis_math_of_the_last_vote_needs_vote_times(run_job, tmp_path):
    path = tmp_path / "votes.csv"
    path.write_text("voter_id,statement_id,vote\n"
                    + "".join(f"v{i},s{i % 3},{1 - 2 * (i % 2)}\n" for i in range(40)))
    with pytest.raises(UserError, match="job.polis_math=last_vote: the votes have no times"):
        run_job("job=opinion", "data=files", f"data.path={path}", "job.polis_math=last_vote")
