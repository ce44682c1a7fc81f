"""`python -m engine --help`: the jobs with one line each, a job's options with their defaults
and the comments beside them, never Hydra's default page or the internal `*_schema` groups."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import pytest

from engine import cli_help
from engine.app import _compose
from engine.config import job_module
from engine.jobs import JOBS
from tests.test_app import engine_cli


def test_overview_lists_every_job_with_its_summary():
    res = engine_cli("--help")
    assert res.returncode == 0, res.stderr
    out = res.stdout
    for name in JOBS:
        line = next(ln for ln in out.splitlines() if ln.startswith(f"  {name} "))
        assert cli_help.summary(name)[:40] in " ".join(out.split()), name
        assert len(line.split()) > 2  # a description, not the bare name
    assert "job=NAME --help" in out
    assert "_schema" not in out and "powered by Hydra" not in out
    assert "default: pipeline" in out  # the default job, as conf/config.yaml composes it


def test_summary_is_the_docstrings_first_sentence_without_spec_references():
    assert cli_help.summary("stream") == "Online centroid clustering of a message stream."
    assert cli_help.summary("communities").startswith("kNN graph + Leiden")
    for name in JOBS:
        text = cli_help.summary(name)
        assert "job=" not in text and "SPEC" not in text and "seed 0" not in text, text


@pytest.mark.parametrize("name", [j for j in JOBS if j != "pipeline"])
def test_job_page_shows_every_option_with_its_default(name):
    page = cli_help.render([f"job={name}", "--help"], _compose)
    params = job_module(name).Params
    for f in dataclasses.fields(params):
        if f.name == "name":
            continue
        default = f.default_factory() if f.default is dataclasses.MISSING else f.default
        assert f"  job.{f.name}={cli_help._value(default)}" in page, f.name
    assert "_schema" not in page
    for other in JOBS:  # only this job's options
        if other != name:
            assert f"job={other} " not in page


def test_basins_page_carries_the_source_comments():
    res = engine_cli("job=basins", "--help")
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    null_draws = next(ln for ln in lines if ln.startswith("  job.null_draws=8"))
    assert "time-shuffled draws through the same pipeline" in null_draws
    # A comment heading a group of fields is shown above them, not as the first one's words.
    tune = lines.index("  job.tune=true")
    assert lines[tune - 1] == "  # Tuning grid."
    # A comment that goes on below its field stays with that field only.
    merge = next(i for i, ln in enumerate(lines) if ln.startswith("  job.merge_overlap=1.0"))
    assert "sum of their core radii" in " ".join(lines[merge:merge + 2])
    gamma = next(ln for ln in lines if ln.startswith("  job.softmatch_gamma="))
    assert gamma.strip() == "job.softmatch_gamma=1.0"


def test_overrides_show_in_the_page():
    page = cli_help.render(["job=stream", "job.threshold=0.3", "backend=cpu", "-h"], _compose)
    assert "  job.threshold=0.3 " in page
    assert "  backend=cpu " in page


def test_pipeline_page_points_to_the_stages_and_their_own_defaults():
    page = cli_help.render(["job=pipeline", "--help"], _compose)
    for stage in ("project", "basins", "communities", "balance"):
        assert f"job.{stage}.*" in page
    assert "job.basins.tune=false" in page and "(job=basins alone: true)" in page


@pytest.mark.parametrize("args, needle", [
    (["job=nope", "--help"], "job=nope: no such job"),
    (["job=basins", "job.n_boots=5", "--help"],
     "job.n_boots: no such key; closest: job.n_bootstrap"),
])
def test_bad_arguments_beside_help_are_one_line_errors(args, needle):
    res = engine_cli(*args)
    assert res.returncode == 2
    assert res.stderr.startswith("error: ") and needle in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1 and "Traceback" not in res.stderr


@dataclass
class _Base:
    width: int = 3  # columns of the grid
    # More rows cost memory.
    height: int = 2


@dataclass
class _Child(_Base):
    ratio: float = 0.5  # kept share of the points, closer than this x
    # the median distance
    # Scaling.
    scale: list[int] = field(
        default_factory=lambda: [1, 2])  # factors tried
    plain: bool = True


def test_field_comments_reads_beside_above_and_continued_comments_across_bases():
    notes = cli_help.field_comments(_Child)
    assert notes["width"] == ("", "columns of the grid")
    assert notes["height"] == ("More rows cost memory.", "")
    assert notes["ratio"] == (
        "", "kept share of the points, closer than this x the median distance")
    assert notes["scale"] == ("Scaling.", "factors tried")  # the comment on a field's last line
    assert "plain" not in notes
