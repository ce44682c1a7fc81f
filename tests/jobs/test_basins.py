"""End-to-end `job=basins` on the synthetic tweets: planted basins, outputs, tuning, bad input."""

import json
from collections import Counter

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from engine.app import run_config
from engine.errors import UserError
from engine.synthetic import tweets
from tests.conftest import compose

# Three null draws at alpha 0.25 keep significance on at a fraction of the default's cost.
FEW_DRAWS = ("job.null_draws=3", "job.basin_alpha=0.25")
# The evidence stage has its own tests (tests/basins/evidence); the many-run tests here are
# about clustering, tracking and forecasting, and leave it out to keep the suite short.
NO_EVIDENCE = "job.evidence=[]"
SMALL = ("job=basins", "data.n_rows=8000", "data.n_topics=8", "data.n_basins=3",
         "job.n_bootstrap=5", "job.early_N=[2,3]", "job.early_S=[1]", "job.early_Tq=[0.5]",
         *FEW_DRAWS)


def _run(out, *overrides, backend="cpu"):
    run_config(compose(f"backend={backend}", *overrides), str(out))
    return out, json.loads((out / "metrics.json").read_text())


def _read(path):
    t = pq.read_table(path)
    return {k: t.column(k).to_numpy(zero_copy_only=False) for k in t.column_names}


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    return _run(tmp_path_factory.mktemp("basins"), *SMALL, "job.tune=false",
                "job.bin_size_days=14")


def test_outputs_and_metrics(planted):
    out, m = planted
    for name in ("bins.parquet", "train_basins_summary.parquet", "test_basins_summary.parquet",
                 "early_detection.parquet", "lifecycle_events.parquet", "assignments.parquet",
                 "validation_summary.parquet"):
        assert (out / name).exists(), name
    for key in ("continuation_auroc", "continuation_brier", "continuation_logloss", "size_mae"):
        assert np.isfinite(m[key]) and np.isfinite(m[f"null_{key}"]), key
    assert m["n_rows"] == 8000 and m["backend"] == "cpu"
    summary = _read(out / "train_basins_summary.parquet")
    assert {"duration_bins", "avg_size", "total_size", "stability", "trend_slope", "trend_r2",
            "direction", "confidence"} <= set(summary)
    bins = _read(out / "bins.parquet")
    assert {"size", "confidence", "basin_id", "p_cont", "expected_next_size", "bin_start",
            "centre_sincerity"} <= set(bins)
    scored = ~np.isnan(bins["p_cont"])
    assert np.all((bins["p_cont"][scored] > 0) & (bins["p_cont"][scored] < 1))
    events = set(_read(out / "lifecycle_events.parquet")["event"])
    assert {"birth", "continuation", "death"} <= events
    # Significance and forecast outputs; the report lists significant basins apart.
    summary = _read(out / "test_basins_summary.parquet")
    assert {"strength", "p_value", "significant", "active_first_day", "core_sincerity"} \
        <= set(summary)
    assert np.all((summary["p_value"] > 0) & (summary["p_value"] <= 1))
    assert {"region_count", "region_expected", "cluster_llr", "basin_significant"} <= set(bins)
    assert (out / "forecast.parquet").exists() and np.isfinite(m["forecast_loglik"])
    report = (out / "report.html").read_text()
    assert f"{m['n_significant_basins']} significant of" in report


def test_planted_basins_found_with_their_lifetimes(planted):
    out, m = planted
    data = tweets.generate(n_rows=8000, n_topics=8, n_basins=3)
    topic = data.topic
    windows = data.truth.windows
    a = _read(out / "assignments.parquet")
    bins = _read(out / "bins.parquet")
    days = (data.batch.table.column("datetime").to_numpy().astype("datetime64[ns]")
            - np.datetime64("2024-01-01", "ns")) / np.timedelta64(1, "D")
    found = 0
    for b in range(3):
        seen_days, chains = [], Counter()
        for part in ("train", "test"):
            p = (a["part"] == part) & (a["cluster"] >= 0)
            keys = set(zip(a["bin"][p].tolist(), a["cluster"][p].tolist(), strict=True))
            for t, c in keys:
                r = p & (a["bin"] == t) & (a["cluster"] == c)
                top, count = Counter(topic[a["id"][r]]).most_common(1)[0]
                if top == b and count >= 0.8 * r.sum():
                    seen_days.append(np.median(days[a["id"][r]]))
                    chains[(part, int(a["basin_id"][r][0]))] += 1
        if len(seen_days) < 2:
            continue
        found += 1
        # A cluster's median day lies inside the window, and the first and last ones come
        # within 1.5 fourteen-day bins of its edges despite the trapezoid's thin ramps
        # (measured: 8-14 days after the start, 8-16 days before the end).
        assert windows[b, 0] <= min(seen_days) < windows[b, 0] + 21
        assert windows[b, 1] - 21 < max(seen_days) <= windows[b, 1]
        # Tracking keeps it in one chain per part (at most one break elsewhere).
        assert len(chains) <= 3
        assert max(chains.values()) >= 0.6 * sum(chains.values())
    assert found == 3
    assert int(bins["size"].size) > 0


def test_forecasts_have_skill_and_early_detection_applies_the_train_choice(planted):
    out, m = planted
    # Continuation forecasts rank continuing clusters above dying ones, on train and test.
    assert m["train_continuation_auroc"] > 0.6 and m["continuation_auroc"] > 0.6
    ed = _read(out / "early_detection.parquet")
    # Too few fledglings here to tell a lift from chance (16 test candidates): the lift is
    # tested against a random-pick null on crowded data below. Here: test runs the setting
    # with train's best lift.
    train = np.flatnonzero(ed["part"] == "train")
    best = train[ed["chosen"][train]]
    assert len(best) == 1 and ed["kappa_lift"][best[0]] == np.nanmax(ed["kappa_lift"][train])
    test_row = ed["part"] == "test"
    for key in ("N", "S", "T", "k_frac"):
        assert ed[key][test_row][0] == ed[key][best[0]], key
    # Test fledglings are scored from test's first bins on (train's outcomes are history).
    assert ed["n_candidates"][test_row][0] >= 5 and np.isfinite(ed["kappa_lift"][test_row][0])
    # The null model keeps positions but loses the planted time windows: its clusters are
    # steadier, so sizes are easier to carry forward than in the real data.
    assert m["baseline_persistence_size_mae"] > m["null_baseline_persistence_size_mae"]


# Ground truth vs the time-shuffled null: many short planted basins over two years (windows
# of 4-8% of the range: 2-4 fourteen-day bins), so each part holds several basin endings,
# after which the next bin has no cluster near the basin and p_cont falls. At 80k rows every
# topic still has ~60 tweets per bin once times are shuffled, so the null's deaths are mostly
# neighbouring blobs merging at t+1, which the soft match barely tells from continuing.
ENDINGS = ("job=basins", "data.n_rows=80000", "data.n_days=730", "data.n_topics=12",
           "data.n_basins=10", "data.basin_window=[0.04,0.08]", "job.n_bootstrap=5",
           "job.tune=false", "job.bin_size_days=14", "job.early_N=[3]", "job.early_S=[1]",
           "job.early_Tq=[0.5]", NO_EVIDENCE, *FEW_DRAWS)


@pytest.fixture(scope="module")
def endings(tmp_path_factory):
    return [_run(tmp_path_factory.mktemp(f"endings{seed}"), *ENDINGS, f"seed={seed}")[1]
            for seed in range(4)]


def test_planted_endings_make_continuation_beat_the_time_shuffled_null(endings):
    for seed, m in enumerate(endings):
        for part in ("", "train_"):
            real, null = m[f"{part}continuation_auroc"], m[f"null_{part}continuation_auroc"]
            # Both parts have deaths (NaN would mean none), and the planted ones are forecast.
            assert real >= 0.85 and np.isfinite(null), (seed, part, real, null)
            # Emergence and fading: a tracked basin spans a wide range of sizes; shuffled
            # times leave stationary blobs whose sizes only fluctuate.
            assert m[f"{part}basin_size_range_max"] > 2 * m[f"null_{part}basin_size_range_max"]
    # Each seed on its own, real - null, measured on seeds 0-3 with the core-gated tracking:
    # train (31 bins, 5-13 deaths) 0.15-0.30, test (20 bins, 3-9 deaths) 0.08-0.22, mean 0.21
    # and 0.16. A test part with only 2-3 deaths can lose to the null (seed 6: real 0.76,
    # null 0.80), so seed 6 is not here.
    margins = np.array([(m["train_continuation_auroc"] - m["null_train_continuation_auroc"],
                         m["continuation_auroc"] - m["null_continuation_auroc"])
                        for m in endings])
    assert (margins >= 0.05).all() and (margins.mean(0) >= 0.12).all(), margins


# Early detection needs several fledglings per bin to rank: 24 basins with windows of 5-10
# bins, about five alive at a time, some rising (small, new, growing into sustained basins),
# others fading, beside small noise clusters. The null model plays no part here.
CROWDED = ("job=basins", "data.n_rows=40000", "data.n_days=730", "data.n_topics=27",
           "data.n_basins=24", "data.basin_window=[0.1,0.2]", "job.n_bootstrap=5",
           "job.tune=false", "job.bin_size_days=14", "job.early_N=[3]", "job.early_S=[1]",
           "job.early_Tq=[0.5]", "job.null_model=false", NO_EVIDENCE)


def random_pick_lifts(candidates: list[dict], n_draws: int, rng) -> np.ndarray:
    """Null distribution of the pooled kappa-like lift when, in every bin, as many scored
    candidates as were flagged are picked at random instead of by score."""
    strata = [(c["sustained"][c["bin"] == t], int(c["flagged"][c["bin"] == t].sum()))
              for c in candidates for t in np.unique(c["bin"])]
    y = np.concatenate([c["sustained"] for c in candidates])
    pi, picks = y.mean(), sum(k for _, k in strata)
    hits = np.zeros(n_draws)
    for labels, k in strata:  # one shuffle of the bin's labels per draw, the first k picked
        hits += rng.permuted(np.tile(labels, (n_draws, 1)), axis=1)[:, :k].sum(1)
    return (hits / picks - pi) / (1 - pi)


def test_early_detection_lifts_on_planted_emerging_basins(tmp_path):
    # Test: the setting chosen on train, with train's threshold; per seed (0-4) test lifts
    # 0.03-0.44, train 0.08-0.43. One seed's test part has ~35 candidates, too few to tell a
    # ranking from chance, so the null comparison pools the five seeds' candidates.
    pooled = []
    for seed in range(5):
        out, m = _run(tmp_path / f"seed{seed}", *CROWDED, f"seed={seed}")
        assert m["early_kappa_lift"] > 0 and m["train_early_kappa_lift"] > 0, (
            seed, m["early_kappa_lift"], m["train_early_kappa_lift"])
        c = _read(out / "early_candidates.parquet")
        scored = ~np.isnan(c["score"])
        c = {k: c[k][scored] for k in ("bin", "flagged", "sustained")}
        # The reported lift is the candidates' own: (P@k - prevalence) / (1 - prevalence).
        y, flagged = c["sustained"].astype(bool), c["flagged"].astype(bool)
        pi = y.mean()
        assert m["early_kappa_lift"] == pytest.approx((y[flagged].mean() - pi) / (1 - pi))
        pooled.append({"bin": c["bin"], "flagged": flagged, "sustained": y})
    y = np.concatenate([c["sustained"] for c in pooled])
    flagged = np.concatenate([c["flagged"] for c in pooled])
    lift = (y[flagged].mean() - y.mean()) / (1 - y.mean())
    null = random_pick_lifts(pooled, 2000, np.random.default_rng(0))
    # Measured: pooled lift 0.20 against a 99th null percentile of 0.12 (p < 5e-4).
    assert (null >= lift).mean() <= 0.01, (lift, np.quantile(null, 0.99))


def test_tuning_is_resumable_and_capped(tmp_path):
    grid = ("job.bin_size_candidates=[14]", "job.min_cluster_frac_candidates=[0.005,0.02]",
            "job.lambda_factors=[0]", "job.null_model=false")
    out, m = _run(tmp_path, *SMALL, *grid, "job.alpha_candidates=[1]")
    t = pq.read_table(out / "tuning_results.parquet")
    assert t.num_rows == 2 and m["n_combos_run"] == 2
    assert {"continuation_auroc", "early_kappa_lift", "early_N", "size_mae",
            "forecast_loglik"} <= set(t.column_names)
    # The default objective: the train forecast's log-likelihood per tweet.
    best = max(t.to_pylist(), key=lambda r: r["forecast_loglik"])
    assert m["tuning_objective"] == best["forecast_loglik"]
    assert m["objective"] == m["train_forecast_loglik"]
    # Rerun in the same directory with two more combos, capped at three: only one is new.
    out, m = _run(tmp_path, *SMALL, *grid, "job.alpha_candidates=[1,2]", "job.max_combos=3")
    assert m["n_combos"] == 3 and m["n_combos_run"] == 1
    assert pq.read_table(out / "tuning_results.parquet").num_rows == 3


def _files_run(tmp_path, table, *overrides):
    path = tmp_path / "in.parquet"
    pq.write_table(table, path)
    return _run(tmp_path / "out", "job=basins", "data=files", f"data.path={path}",
                "job.tune=false", "job.n_bootstrap=3", "job.null_model=false", *overrides)


def _table(n=1500, days=120, seed=0, **cols):
    rng = np.random.default_rng(seed)
    centre = rng.integers(0, 3, n)
    xy = np.array([[0, 0], [4, 0], [0, 4]])[centre] + 0.3 * rng.normal(size=(n, 2))
    t = np.datetime64("2024-01-01") + (rng.uniform(0, days, n) * 86400).astype("timedelta64[s]")
    base = {"id": np.arange(n), "datetime": t, "x": xy[:, 0], "y": xy[:, 1],
            "retweet_count": rng.integers(0, 5, n), "favorite_count": rng.integers(0, 9, n)}
    base.update(cols)
    return pa.table(base)


def test_files_input_and_missing_counts_warn(tmp_path):
    table = _table().drop(["retweet_count"])
    out, m = _files_run(tmp_path, table, "job.coords=[x,y]", "job.bin_size_days=14")
    assert any("retweet_count" in w for w in m["input_warnings"])
    assert m["n_rows"] == 1500 and m["coords"] == ["x", "y"]
    assert _read(out / "bins.parquet")["size"].size > 0


def test_bins_too_small_to_test_anything_are_one_clear_error(tmp_path):
    with pytest.raises(UserError, match=r"job.bin_size_days=7.0 gives \d+ rows per bin"):
        _files_run(tmp_path, _table(n=120), "job.coords=[x,y]", "job.bin_size_days=7",
                   "job.min_cluster_size_global=40")
    assert not (tmp_path / "out" / "metrics.json").exists()


@pytest.mark.parametrize("override, match", [
    ("job.basin_alpha=0", "job.basin_alpha=0"),
    ("job.horizon_days=-1", "job.horizon_days=-1"),
    ("job.horizon_days=900", "longer than the test part"),
    ("job.objective=auc", "job.objective"),
])
def test_significance_and_forecast_settings_out_of_range(tmp_path, override, match):
    with pytest.raises(UserError, match=match):
        _files_run(tmp_path, _table(n=1500), "job.coords=[x,y]", "job.bin_size_days=14",
                   override)
    assert not (tmp_path / "out" / "metrics.json").exists()


def test_too_few_null_draws_for_alpha_is_refused():
    from engine.jobs.basins import Params, settings_of

    with pytest.raises(UserError, match="at least 3 null draws"):
        settings_of(Params(null_draws=2))
    settings_of(Params(null_draws=3, basin_alpha=0.25))


@pytest.mark.parametrize("case, match", [
    ("identical", "identical coordinates"),
    ("bad_time", "unparseable time"),
    ("short", "shorter than one bin"),
    ("no_coords", "job.coords"),
    ("nan", "not finite"),
])
def test_bad_input_is_one_clear_error(tmp_path, case, match):
    overrides = ["job.coords=[x,y]", "job.bin_size_days=14"]
    table = _table(n=200)
    if case == "identical":
        table = _table(n=200, x=np.ones(200), y=np.ones(200))
    elif case == "bad_time":
        t = np.array(["2024-01-01 10:00:00"] * 200, dtype=object)
        t[7] = "not a time"
        table = _table(n=200, datetime=t)
    elif case == "short":
        table = _table(n=200, days=3)
    elif case == "no_coords":
        overrides = ["job.bin_size_days=14"]
    elif case == "nan":
        x = np.zeros(200)
        x[3] = np.nan
        table = _table(n=200, x=x)
    with pytest.raises(UserError, match=match):
        _files_run(tmp_path, table, *overrides)
    assert not (tmp_path / "out" / "metrics.json").exists()


def test_lambda_factor_sets_recency_per_bin_size():
    from engine.jobs.basins import Params, settings_of

    with pytest.raises(UserError, match="job.workers"):
        settings_of(Params(workers=-1))
    s = settings_of(Params(bin_size_days=7.0, lambda_factor=2.0))
    assert np.isclose(s.recency_lambda, 2 * np.log(2) / 7)
    assert settings_of(Params(recency_lambda=0.3)).recency_lambda == 0.3


@pytest.mark.gpu
def test_gpu_run_matches_cpu_clusters(tmp_path, planted):
    _, cpu_m = planted
    _, m = _run(tmp_path, *SMALL, "job.tune=false", "job.bin_size_days=14", backend="gpu")
    assert m["backend"] == "gpu"
    # Same samples on both backends; HDBSCAN implementations may differ on ties only.
    assert abs(m["n_clusters"] - cpu_m["n_clusters"]) <= 0.1 * cpu_m["n_clusters"] + 2


def test_cache_reuses_bins_and_gives_the_same_result(tmp_path):
    common = (*SMALL, "job.bin_size_candidates=[14]", "job.min_cluster_frac_candidates=[0.005]",
              "job.lambda_factors=[0]", "job.alpha_candidates=[1]", "job.null_model=false",
              f"cache_dir={tmp_path / 'cache'}")
    out1, m1 = _run(tmp_path / "a", *common)
    stored = sorted((tmp_path / "cache" / "basins_consensus").glob("*.npz"))  # not the .lock files
    # Tuning stored every train bin and the final train pass read them back: one entry per
    # train and test bin, none added by the final pass.
    assert len(stored) == m1["n_train_bins"] + m1["n_test_bins"]
    assert m1["cache"]["hits"] > 0  # the kNN graphs
    out2, m2 = _run(tmp_path / "b", *common)
    assert m2["cache"]["misses"] == 0
    assert sorted((tmp_path / "cache" / "basins_consensus").glob("*.npz")) == stored
    a, b = _read(out1 / "bins.parquet"), _read(out2 / "bins.parquet")
    np.testing.assert_array_equal(a["size"], b["size"])
    np.testing.assert_allclose(a["p_cont"], b["p_cont"])


def test_worker_processes_give_the_same_result(tmp_path, planted):
    # The planted run is small enough to stay in-process (workers=0 -> 1 below 20k rows).
    out1, m1 = planted
    out2, m2 = _run(tmp_path, *SMALL, "job.tune=false", "job.bin_size_days=14",
                    "job.workers=2")
    assert m1["workers"] == 1 and m2["workers"] == 2
    for name in ("bins.parquet", "assignments.parquet"):
        a, b = _read(out1 / name), _read(out2 / name)
        for k in a:
            np.testing.assert_array_equal(a[k], b[k])
    assert m2["continuation_auroc"] == m1["continuation_auroc"]
    assert m2["null_continuation_auroc"] == m1["null_continuation_auroc"]
