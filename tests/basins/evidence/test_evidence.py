"""The evidence frame: method names, z against the null draws, combined evidence."""

import numpy as np
import pytest

from engine._basins import evidence
from engine._basins.evidence import communities, metastability
from engine._basins.evidence.regions import of_part
from engine.errors import UserError
from engine.jobs.basins import Params
from tests.basins.evidence import planted_regions as pr


def test_an_unknown_method_is_refused_listing_the_valid_ones():
    with pytest.raises(UserError, match=r"job.evidence=.*'drift'.*valid: density, "
                                        r"transport, metastability, reply, barrier, hawkes"):
        evidence.check_methods(["density", "drift"])
    assert evidence.check_methods(["reply", "density", "reply"]) == ["reply", "density"]


def test_columns_z_and_combined_evidence():
    rows, _, regions, label = pr.case(1)
    sample = evidence.of_rows(rows, 1.0)
    draws = pr.null_days(rows, 1, 3)
    cols, info = evidence.evaluate(sample, {"test": regions}, Params().evidence,
                                   evidence.Options(pr.BIN, seed=1), draws)
    assert tuple(cols) == evidence.COLUMNS
    # No reply links: reply is left out, the rest scored once per region.
    assert info["evidence_methods"] == ["density", "transport", "metastability", "barrier",
                                        "hawkes"]
    names = {"density", "density_growth", "flow_convergence", *metastability.NAMES,
             "escape_barrier", "self_excitation"}
    assert set(cols["method"]) == names
    assert set(cols["part"]) == {"test", "test" + communities.SUFFIX}
    cols = {c: v[cols["part"] == "test"] for c, v in cols.items()}  # the regions' rows
    assert len(cols["z"]) == len(names) * len(regions)
    sd = cols["null_sd"]
    floor = {m: np.nanmedian(sd[cols["method"] == m]) for m in np.unique(cols["method"])}
    expect = (cols["score"] - cols["null_mean"]) / np.fmax(
        sd, [floor[m] for m in cols["method"]])
    assert np.allclose(cols["z"], expect, equal_nan=True)
    ids = np.unique(regions.basin_id)
    comb = evidence.combined(cols, "test", ids)
    for b, c in zip(ids, comb, strict=True):
        assert c == pytest.approx(np.nanmean(cols["z"][cols["basin_id"] == b]))
    assert comb[ids >= 0].min() > comb[ids < 0][0]  # every planted basin over the background
    peak = evidence.combined(cols, "test", ids, "density_growth", np.max)
    for b, c in zip(ids, peak, strict=True):
        mine = (cols["basin_id"] == b) & (cols["method"] == "density_growth")
        assert c == pytest.approx(np.nanmax(cols["z"][mine]))


def test_regions_of_a_part_table_skip_its_last_bin():
    table = {"bin": np.array([0, 1, 2]), "basin_id": np.array([5, 5, 6]),
             "core_centre": np.arange(6.0).reshape(3, 2), "core_radius": np.array([1, 0, 2.0])}
    r = of_part(table, np.array([0.0, 7.0, 14.0]), 7.0)
    assert r.bin.tolist() == [0, 1] and r.window(1) == (14.0, 21.0)
    assert r.radius[1] > 0  # a zero radius is kept positive
