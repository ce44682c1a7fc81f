"""report.html from real runs (pipeline, opinion, stream on tiny synthetic data), checked in
headless Chromium, plus the chart helpers and a report that survives a broken artifact."""

from __future__ import annotations

import json
import re

import numpy as np
import polars as pl
import pytest

from engine.report import build_report, svg, write_report
from tests.conftest import compose

TINY_PIPELINE = ("job=pipeline", "data.n_rows=3000", "data.n_labelled=800",
                 "job.basins.n_bootstrap=4", "job.basins.bin_size_days=14")


def run(tmp_path_factory, *overrides):
    from engine.app import run_config

    out = tmp_path_factory.mktemp("run")
    run_config(compose("backend=cpu", *overrides), str(out))
    return out


@pytest.fixture(scope="module")
def pipeline_run(tmp_path_factory):
    return run(tmp_path_factory, *TINY_PIPELINE)


def marks(html: str) -> int:
    return sum(int(n) for n in re.findall(r'<svg class="plot" data-kind="\w+" data-n="(\d+)"',
                                          html))


def test_pipeline_writes_each_stage_then_metrics_last(pipeline_run, capsys):
    for stage in ("project", "basins", "communities", "balance"):
        assert (pipeline_run / stage / "metrics.json").exists(), stage
        assert (pipeline_run / stage / "report.html").exists(), stage
    metrics = json.loads((pipeline_run / "metrics.json").read_text())
    assert set(metrics["stages"]) == {"project", "basins", "communities", "balance"}
    assert metrics["n_rows"] == 3000
    assert metrics["objective"] == pytest.approx(
        json.loads((pipeline_run / "basins" / "metrics.json").read_text())["objective"])
    report = pipeline_run / "report.html"
    assert report.stat().st_mtime_ns <= (pipeline_run / "metrics.json").stat().st_mtime_ns


def test_pipeline_stages_are_wired_through_files(pipeline_run):
    labels = pl.read_parquet(pipeline_run / "communities" / "labels.parquet")
    given = pl.read_parquet(pipeline_run / "balance_input.parquet")
    assert given["id"].to_list() == labels["id"].to_list()
    assert given["cluster_id"].to_list() == labels["community"].to_list()
    basins = json.loads((pipeline_run / "basins" / "metrics.json").read_text())
    assert basins["coords"] == ["sincerity", "charity", "constructiveness"]
    assert basins["params_used"]["n_bootstrap"] == 4  # job.basins.* reaches the stage
    pairs = pl.read_parquet(pipeline_run / "balance" / "pairs.parquet")
    assert set(pairs["cluster_id"].unique().to_list()) <= set(labels["community"].to_list())


def test_pipeline_heldout_predictions_are_the_project_test_rows(pipeline_run):
    preds = pl.read_parquet(pipeline_run / "project" / "predictions.parquet")
    fit = pl.read_parquet(pipeline_run / "project" / "fit.parquet")
    for axis, r, n_test in fit.select("axis", "pearson_r", "n_test").iter_rows():
        assert len(preds) == n_test
        got = np.corrcoef(preds[f"{axis}_true"], preds[f"{axis}_pred"])[0, 1]
        assert got == pytest.approx(r, abs=1e-9)


def test_pipeline_needs_tweet_embeddings(run_job):
    from engine.errors import UserError

    with pytest.raises(UserError, match="job=pipeline needs tweet embeddings"):
        run_job("job=pipeline", "data=polis_export", "data.path=somewhere")


def test_pipeline_report_in_chromium(pipeline_run, page, tmp_path):
    html = (pipeline_run / "report.html").read_text()
    offline = html.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert "http://" not in offline and "https://" not in offline  # nothing fetched
    page.goto((pipeline_run / "report.html").as_uri())
    titles = page.locator("section h2").all_text_contents()
    for expected in ("project: Projection", "basins: Clusters per bin",
                     "communities: Communities", "balance: Balance"):
        assert expected in titles
    n = page.locator("svg.plot .mark").count()
    assert n == marks(html) and n > 1000  # the projected-axes scatter alone has ~3000 points
    assert page.locator("svg.plot[data-kind=heatmap] .mark").count() == 16
    assert page.locator("svg.plot[data-kind=network]").count() == 1
    assert page.get_by_text("predicted vs actual").count() == 3
    assert page.locator(".warn").count() == 0
    page.screenshot(path=str(tmp_path / "pipeline_report.png"), full_page=True)
    assert page.errors == []


def test_opinion_map_in_chromium(tmp_path_factory, page, tmp_path):
    out = run(tmp_path_factory, "job=opinion", "data.n_voters=300", "data.n_statements=30")
    voters = pl.read_parquet(out / "voters.parquet")
    page.goto((out / "report.html").as_uri())
    scatter = page.locator("svg.plot[data-kind=scatter]")
    assert scatter.count() == 1
    assert scatter.locator(".mark").count() == len(voters)
    grey = scatter.locator(f'.mark[fill="{svg.GREY}"]').count()
    assert grey == voters["group"].null_count()
    assert "Representative statements per group" in page.content()
    page.screenshot(path=str(tmp_path / "opinion_report.png"), full_page=True)
    assert page.errors == []


def test_stream_growth_in_chromium(tmp_path_factory, page):
    out = run(tmp_path_factory, "job=stream", "data.n_messages=3000")
    clusters = pl.read_parquet(out / "assignments.parquet")["cluster_id"].n_unique()
    page.goto((out / "report.html").as_uri())
    growth = page.locator("svg.plot[data-kind=lines]").first
    assert growth.locator(".mark").count() == min(10, clusters)
    assert page.errors == []


def test_broken_artifact_gives_a_note_not_a_lost_report(pipeline_run, tmp_path):
    import shutil

    run_dir = tmp_path / "copy"
    shutil.copytree(pipeline_run / "balance", run_dir)
    (run_dir / "pairs.parquet").write_bytes(b"not parquet")
    path = write_report(run_dir, "balance")
    html = path.read_text()
    assert "could not build this part of the report" in html
    assert "Seconds per stage" in html  # the run section is still there


def test_report_of_a_job_without_artifacts(tmp_path):
    html = build_report(tmp_path, "communities", {"objective": 1.0, "seconds": {"a": 1.0}})
    assert "No labels.parquet" in html and marks(html) == 1


def test_chart_helpers_count_their_marks():
    x = np.arange(10.0)
    s = svg.scatter(x, x ** 2, groups=np.r_[np.zeros(5, int), -np.ones(5, int)])
    assert s.count('class="mark"') == 10 and s.count(svg.GREY) == 5
    h = svg.heatmap(np.eye(3), ["a", "b", "c"])
    assert h.count('class="mark"') == 9 and 'data-n="9"' in h
    assert svg.nice_ticks(0, 1) == [0, 0.2, 0.4, 0.6, 0.8, 1.0]
    assert svg.nice_ticks(-3.2, 7.9) == [-2, 0, 2, 4, 6]


def test_rebuild_a_report_from_the_command_line(tmp_path):
    import subprocess
    import sys

    run_dir = tmp_path / "run"
    done = subprocess.run([sys.executable, "-m", "engine", "job=stream", "backend=cpu",
                           "data.n_messages=500", f"hydra.run.dir={run_dir}"],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    first = (run_dir / "report.html").read_text()
    (run_dir / "report.html").unlink()
    again = subprocess.run([sys.executable, "-m", "engine.report", str(run_dir)],
                           capture_output=True, text=True)
    assert again.returncode == 0 and again.stdout.strip() == str(run_dir / "report.html")
    rebuilt = (run_dir / "report.html").read_text()
    # metrics.json also holds the first report's own seconds: one more bar in the run section
    assert marks(rebuilt) == marks(first) + 1 and "stream report" in rebuilt
