"""What `engine` exposes: the names of SPEC's Python API, loaded on first use, with the
defaults of the jobs they run (so that the API and the CLI cannot drift apart)."""

from __future__ import annotations

import dataclasses
import inspect
import subprocess
import sys

import pytest

import engine
from engine.api import basins, communities, project, stream
from engine.jobs import balance as balance_job
from engine.jobs import basins as basins_job
from engine.jobs import communities as communities_job
from engine.jobs import opinion as opinion_job
from engine.jobs import project as project_job
from engine.jobs import stream as stream_job

JOBS = {"project": project_job, "basins": basins_job, "communities": communities_job,
        "balance": balance_job, "opinion": opinion_job, "stream": stream_job}
RENAMES = {"communities": communities.RENAMES, "project": project.RENAMES}
# Keywords that name inputs rather than settings of the job.
INPUT_KEYWORDS = {"ids", "id_column", "embedding_column", "drop_invalid", "time_column",
                  "user_column", "cluster_column", "category_column", "rating_id_column",
                  "random_state", "backend"}
# Defaults the API derives from its input: engine.project fits every rating column given.
DERIVED = {("project", "axes")}


def test_every_name_in_all_resolves():
    for name in engine.__all__:
        assert getattr(engine, name) is not None
    assert callable(engine.communities) and inspect.isclass(engine.OnlineClustering)
    with pytest.raises(AttributeError):
        engine.no_such_function  # noqa: B018


def test_import_engine_loads_no_job_or_array_library():
    code = ("import sys, engine; heavy = [m for m in ('engine.api', 'engine.jobs', 'numpy', "
            "'pyarrow', 'polars') if m in sys.modules]; print(heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize("job", sorted(JOBS))
def test_keyword_defaults_are_the_jobs_defaults(job):
    params = {f.name: f for f in dataclasses.fields(JOBS[job].Params)}
    back = {public: key for key, public in RENAMES.get(job, {}).items()}
    checked = 0
    for name, p in inspect.signature(getattr(engine, job)).parameters.items():
        key = back.get(name, name)
        if (p.default is inspect.Parameter.empty or name in INPUT_KEYWORDS
                or key not in params or (job, name) in DERIVED):
            continue
        field = params[key]
        default = field.default_factory() if field.default_factory is not \
            dataclasses.MISSING else field.default
        assert p.default == default or (p.default is None and default == []), (job, name)
        checked += 1
    assert checked >= 1


def test_estimator_defaults_are_the_stream_jobs():
    p = stream_job.Params()
    model = engine.OnlineClustering()
    assert (model.params.threshold, model.params.cap, model.params.window_days) == \
        (p.threshold, p.cap, p.window_days)
    assert stream.stream.__kwdefaults__["threshold"] == p.threshold
    assert basins.basins.__kwdefaults__["tune"] == basins_job.Params().tune
