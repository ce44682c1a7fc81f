"""`job=basins` on planted basins in noise (seed 001's own test): the strongest significant
basins are planted ones, and the same rows with shuffled times give (almost) none."""

import json

import numpy as np
import pyarrow.parquet as pq
import pytest

from engine.app import run_config
from engine.synthetic import planted
from tests.conftest import compose

PLANTED = ("job=basins", "data.planted=true", "data.n_rows=15000", "job.bin_size_days=14",
           "job.tune=false", "job.n_bootstrap=5", "seed=1")


def _run(out, *overrides):
    run_config(compose("backend=cpu", *overrides), str(out))
    return json.loads((out / "metrics.json").read_text())


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    real = tmp_path_factory.mktemp("planted")
    noise = tmp_path_factory.mktemp("noise")
    return (real, _run(real, *PLANTED)), (noise, _run(noise, *PLANTED,
                                                      "data.planted_shuffle=true"))


def _significant(out, part):
    t = pq.read_table(out / f"{part}_basins_summary.parquet").to_pydict()
    keep = np.asarray(t["significant"], bool)
    order = np.argsort(-np.asarray(t["strength"])[keep])
    pick = {k: np.asarray(v)[keep][order] for k, v in t.items()}
    bins = pq.read_table(out / "bins.parquet", columns=["part", "bin_start_day"]).to_pydict()
    days = np.asarray(bins["bin_start_day"])[np.asarray(bins["part"]) == part]
    return pick, (days.min(), days.max() + 14)


def test_strongest_significant_basins_are_planted(runs):
    (out, m), _ = runs
    truth = planted.make_truth(15000, seed=1)
    recovered = set()
    for part in ("train", "test"):
        sig, span = _significant(out, part)
        assert len(sig["strength"]) >= 1, part
        centres = np.stack([sig["core_x"], sig["core_y"]], 1)
        match = planted.match_basins(truth, centres, sig["active_first_day"], sig["active_last_day"], span)
        assert match["found_to_planted"][0] >= 0, part  # the strongest is a planted basin
        recovered |= set(match["found_to_planted"][match["found_to_planted"] >= 0].tolist())
        # Significant basins are stronger than every one left out.
        t = pq.read_table(out / f"{part}_basins_summary.parquet").to_pydict()
        rest = np.asarray(t["strength"])[~np.asarray(t["significant"], bool)]
        assert sig["strength"].min() >= rest.max(initial=0)
    assert len(recovered) >= 3
    assert m["forecast_skill_vs_global"] > 0 and m["forecast_skill_vs_null"] > 0
    assert m["train_forecast_skill_vs_null"] > 0


def test_shuffled_times_give_no_strong_basin(runs):
    (_, real), (out, noise) = runs
    assert noise["n_significant_basins"] + noise["train_n_significant_basins"] <= 1
    assert noise["max_basin_strength"] < 0.5 * real["max_basin_strength"]
    assert noise["train_max_basin_strength"] < 0.5 * real["train_max_basin_strength"]
