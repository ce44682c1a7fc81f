"""`job=basins` with evidence: planted basins with reply links read from a file (some
parents absent), evidence.parquet and the combined evidence per basin; bad settings end
in one line naming the key."""

import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from engine._basins.evidence import metastability
from engine.app import run_config
from engine.errors import UserError
from engine.jobs.basins import Params, check
from engine.synthetic import planted
from tests.basins.evidence.test_reply import _replies
from tests.conftest import compose
from tests.test_app import engine_cli

ROWS, ABSENT = 8000, 25
JOB = ("job=basins", "data=files", "job.coords=[x,y]", "job.bin_size_days=14", "job.tune=false",
       "job.n_bootstrap=3", "job.null_draws=3", "job.basin_alpha=0.25",
       "data.reply_column=in_reply_to")


def _planted_file(path, seed=0):
    truth = planted.make_truth(ROWS, seed=seed)
    t = planted.generate(truth, seed)
    basin = t.column("planted_basin").to_numpy()
    parent = _replies(seed, None, basin)
    ids = t.column("id").to_numpy()
    reply = [int(ids[p]) if p >= 0 else None for p in parent]
    for i in np.flatnonzero(parent < 0)[:ABSENT]:
        reply[i] = 10**9 + int(i)  # a parent not in the data
    pq.write_table(t.drop(["planted_basin"]).append_column("in_reply_to",
                                                          pa.array(reply, pa.int64())), path)
    return int(sum(r is not None for r in reply))


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("evidence")
    n_reply = _planted_file(root / "tweets.parquet")
    out = root / "out"
    run_config(compose("backend=cpu", *JOB, f"data.path={root / 'tweets.parquet'}"), str(out))
    return out, json.loads((out / "metrics.json").read_text()), n_reply


def test_evidence_table_and_combined_evidence(run):
    out, m, n_reply = run
    ev = pq.read_table(out / "evidence.parquet").to_pydict()
    assert list(ev) == ["basin_id", "part", "bin", "method", "score", "null_mean", "null_sd",
                        "z"]
    names = {"density", "density_growth", "flow_convergence", *metastability.NAMES,
             "reply_pull", "inward_moves", "escape_barrier", "self_excitation"}
    assert set(ev["method"]) == names
    # Each part's Leiden communities, scored by metastability alone.
    assert set(ev["part"]) == {"train", "test", "train/leiden", "test/leiden"}
    assert {m for m, p in zip(ev["method"], ev["part"], strict=True)
            if p.endswith("/leiden")} == set(metastability.NAMES)
    field = pq.read_table(out / "evidence_field.parquet").to_pydict()
    assert set(field["kind"]) == {"density", "drift"}
    assert "Basin evidence against the null" in (out / "report.html").read_text()
    assert m["evidence_reply_parents_absent"] == ABSENT
    assert m["evidence_replies"] == n_reply - ABSENT
    bins = pq.read_table(out / "bins.parquet").to_pydict()
    for part in ("train", "test"):
        s = pq.read_table(out / f"{part}_basins_summary.parquet").to_pydict()
        z, sig = np.asarray(s["evidence_z"], float), np.asarray(s["significant"], bool)
        assert np.isfinite(np.asarray(s["evidence_growth_z"], float)).any()
        # Significant (planted) basins carry more evidence than the rest.
        assert sig.any() and np.nanmean(z[sig]) > np.nanmean(z[~sig]) + 0.5, (part, z, sig)
        # Every cluster but those of the part's last bin is scored by every method.
        mine = np.asarray(bins["part"]) == part
        last = np.asarray(bins["bin"])[mine].max()
        scored = int((np.asarray(bins["bin"])[mine] < last).sum())
        assert sum(p == part for p in ev["part"]) == len(names) * scored


def test_unknown_method_is_one_error_line_with_exit_2(tmp_path):
    result = engine_cli("job=basins", "backend=cpu", "job.evidence=[density,drift]",
                        f"hydra.run.dir={tmp_path / 'out'}")
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip() == ("error: job.evidence=['density', 'drift']: 'drift' is "
                                     "not a method (valid: density, transport, metastability, "
                                     "reply, barrier, hawkes)")
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").glob("*.parquet"))


@pytest.mark.parametrize("settings, message", [
    ({"evidence_tau_bins": [1.0, 0.0]}, r"job.evidence_tau_bins=\[1,0\]: 0.0 is not > 0"),
    ({"evidence_bandwidths": []}, r"job.evidence_bandwidths=\[\]: name at least one value"),
    ({"evidence_landmarks": 1}, r"job.evidence_landmarks=1: must be >= 3"),
])
def test_bad_evidence_settings_are_refused_up_front(settings, message):
    with pytest.raises(UserError, match=message):
        check(Params(**settings))


def test_no_evidence_needs_no_candidates():
    check(Params(evidence=[], evidence_bandwidths=[]))


def test_a_tau_that_leaves_no_rows_ends_the_job_before_any_output(tmp_path):
    path = tmp_path / "tweets.parquet"
    _planted_file(path)
    out = tmp_path / "out"
    with pytest.raises(UserError, match=r"job.evidence_tau_bins=\[1e-06\]: tau = 1e-06"):
        run_config(compose("backend=cpu", *JOB, f"data.path={path}",
                           "job.evidence_tau_bins=[1e-6]"), str(out))
    assert not list(out.glob("*.parquet")) and not (out / "metrics.json").exists()
