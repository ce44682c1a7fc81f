"""report.html from real runs (pipeline, opinion, stream on tiny synthetic data), checked in
headless Chromium: the figures of engine.figures inlined as SVG, the run summary before the
timings, one offline file, and a report that survives a broken artifact."""

from __future__ import annotations

import json
import re

import numpy as np
import polars as pl
import pytest

from engine.report import build_report, write_report
from tests.conftest import compose

TINY_PIPELINE = ("job=pipeline", "data.n_rows=3000", "data.n_labelled=800",
                 "job.basins.n_bootstrap=4", "job.basins.bin_size_days=14",
                 "job.basins.evidence=[]")  # its section: tests/basins/evidence/test_job.py


def run(tmp_path_factory, *overrides):
    from engine.app import run_config

    out = tmp_path_factory.mktemp("run")
    run_config(compose("backend=cpu", *overrides), str(out))
    return out


@pytest.fixture(scope="module")
def pipeline_run(tmp_path_factory):
    return run(tmp_path_factory, *TINY_PIPELINE)


NAMESPACES = {"http://www.w3.org/2000/svg", "http://www.w3.org/1999/xlink"}


def figure_names(html: str) -> list[str]:
    """The figure functions drawn into the page, in page order."""
    return re.findall(r'<figure data-name="(\w+)"><svg class="plot"', html)


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
    assert set(re.findall(r"https?://[^\"\s]+", html)) <= NAMESPACES  # nothing fetched
    assert "<script" not in html
    page.goto((pipeline_run / "report.html").as_uri())
    titles = page.locator("section h2").all_text_contents()
    for expected in ("project: Projection", "basins: Clusters per bin",
                     "communities: Communities", "balance: Balance"):
        assert expected in titles
    # The summary opens the page and each stage; the timings come after all results.
    assert titles[0] == "Run" and titles[-1] == "Timings"
    for stage in ("project", "basins", "communities", "balance"):
        first = next(i for i, t in enumerate(titles) if t.startswith(f"{stage}: "))
        assert titles[first] == f"{stage}: run"
        assert titles.index(f"{stage}: timings") > titles.index("balance: Balance")
    names = figure_names(html)
    for name in ("predicted_vs_actual", "projected_axes", "projected_scatter", "basin_sizes",
                 "calibration", "community_sizes", "community_map", "components_by_category",
                 "correlations"):
        assert names.count(name) == 1, name
    assert names.count("seconds") == 5  # the pipeline's and each stage's
    plots = page.locator("figure svg.plot")
    assert plots.count() == len(names)
    for box in (plots.nth(i).bounding_box() for i in range(plots.count())):
        assert box["width"] > 100 and box["height"] > 80  # drawn, at a readable size
    caption = page.locator("figure[data-name=predicted_vs_actual] figcaption").inner_text()
    assert caption.startswith("160 held-out rows")
    assert page.locator(".warn").count() == 0
    page.screenshot(path=str(tmp_path / "pipeline_report.png"), full_page=True)
    assert page.errors == []


def test_opinion_map_in_chromium(tmp_path_factory, page, tmp_path):
    out = run(tmp_path_factory, "job=opinion", "data.n_voters=300", "data.n_statements=30")
    voters = pl.read_parquet(out / "voters.parquet")
    page.goto((out / "report.html").as_uri())
    figure = page.locator("figure[data-name=opinion_map]")
    assert figure.count() == 1 and figure.locator("svg.plot").bounding_box()["width"] > 100
    n_out = voters["group"].null_count()
    assert figure.locator("figcaption").inner_text() == (
        f"{len(voters):,} voters"
        + (f" ({n_out} outside the in-conversation filter, grey)" if n_out else "")
        + "; dot size ~ votes cast")
    assert "Representative statements per group" in page.content()
    page.screenshot(path=str(tmp_path / "opinion_report.png"), full_page=True)
    assert page.errors == []


def test_stream_growth_in_chromium(tmp_path_factory, page):
    out = run(tmp_path_factory, "job=stream", "data.n_messages=3000")
    clusters = pl.read_parquet(out / "assignments.parquet")["cluster_id"].n_unique()
    page.goto((out / "report.html").as_uri())
    assert figure_names(page.content()) == ["cluster_growth", "clusters_started", "confidence",
                                            "seconds"]
    caption = page.locator("figure[data-name=cluster_growth] figcaption").inner_text()
    assert caption == f"the {min(10, clusters)} largest of {clusters} clusters"
    assert page.errors == []


def test_broken_artifact_gives_a_note_not_a_lost_report(pipeline_run, tmp_path):
    import shutil

    run_dir = tmp_path / "copy"
    shutil.copytree(pipeline_run / "balance", run_dir)
    (run_dir / "pairs.parquet").write_bytes(b"not parquet")
    path = write_report(run_dir, "balance")
    html = path.read_text()
    assert "could not build this part of the report" in html
    assert figure_names(html) == ["seconds"]  # the timings are still there


def test_report_of_a_job_without_artifacts(tmp_path):
    html = build_report(tmp_path, "communities", {"objective": 1.0, "seconds": {"a": 1.0}})
    assert "No labels.parquet" in html and figure_names(html) == ["seconds"]
    assert html.index('class="kv summary"') < html.index('data-name="seconds"')


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
    assert figure_names(rebuilt) == figure_names(first) and "stream report" in rebuilt
