"""Every job killed mid-run: no partial file under a final name, no metrics.json, and a rerun
into the same folder gives the uninterrupted run's outputs.

Each job runs once as `python -m engine` in a subprocess whose audit hook (PEP 578) stops it
(SIGSTOP) at each atomic write: when an artefact's temporary file `.NAME.XXXXXXXX.tmp` is
created, and when the finished temporary file is about to be renamed to its final name. At
each stop the test copies the output folder: the copy is what SIGKILL at that instant leaves
on disk (a stopped process writes nothing more, and SIGKILL flushes nothing). The process then
resumes, and at the last stop, metrics.json's rename, it is killed for real (SIGKILL). Every
kill point is checked; the real kill and the earliest copies are rerun in-process and their
outputs compared with an uninterrupted run's.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow.parquet as pq
import pytest
from polars.testing import assert_frame_equal

from engine.app import run_config
from engine.io.write import TEMP_NAME
from tests.conftest import compose

ROOT = Path(__file__).resolve().parents[2]

# Small settings: each job runs in a second or two.
JOBS = {
    "synth": ["job=synth", "data.n_rows=3000", "data.dim=8", "data.n_labelled=100",
              "job.row_group_rows=500"],
    "project": ["job=project", "data.n_rows=3000", "data.dim=8", "data.n_labelled=400",
                "data.batch_rows=500", "job.method=ols"],
    "communities": ["job=communities", "data.n_rows=1500", "data.dim=8", "job.knn=flat",
                    "job.recall_sample=100"],
    "balance": ["job=balance", "data.n_rows=1500", "data.dim=8", "data.n_users=30",
                "job.method=exact"],
    "opinion": ["job=opinion", "data.n_voters=300", "data.n_statements=20"],
    "stream": ["job=stream", "data.n_messages=3000", "data.dim=8", "data.batch_rows=500"],
    "basins": ["job=basins", "data.n_rows=3000", "data.n_days=120", "job.n_bootstrap=3",
               "job.max_combos=2", "job.null_model=false",
               "job.evidence=[hawkes]"],  # one cheap method: its artefact is still written
    "pipeline": ["job=pipeline", "data.n_rows=3000", "data.n_days=120", "data.dim=8",
                 "data.n_labelled=400", "job.basins.n_bootstrap=3", "job.basins.null_model=false",
                 "job.communities.knn=flat", "job.summary=false", "job.basins.evidence=[hawkes]"],
}
ARTEFACT_SUFFIXES = (".parquet", ".npz", ".json", ".html")  # what atomic writes make
RERUNS = 2  # kill points rerun per job: the real kill and the first copy


def _temporary_files(root: Path) -> set[Path]:
    found = set()
    for folder, _, names in os.walk(root):
        found.update(Path(folder, n) for n in names if TEMP_NAME.match(n))
    return found


# Runs `python -m engine ARGS` with an audit hook that stops the process at each atomic write.
STOPPING_ENGINE = """
import os, signal, sys
from engine.io.write import TEMP_NAME

def stop_at_atomic_writes(event, args):
    if event == "open" and isinstance(args[0], (str, os.PathLike)):
        created = isinstance(args[2], int) and args[2] & os.O_EXCL  # mkstemp's temp file
        if created and TEMP_NAME.match(os.path.basename(args[0])):
            os.kill(os.getpid(), signal.SIGSTOP)
    elif event == "os.rename" and TEMP_NAME.match(os.path.basename(os.fspath(args[0]))):
        os.kill(os.getpid(), signal.SIGSTOP)

sys.addaudithook(stop_at_atomic_writes)
sys.argv = ["engine", *sys.argv[1:]]
from engine.app import main
main()
"""


def _killed_at_each_write(args: list[str], out: Path, copies: Path) -> list[Path]:
    """Run the job in a subprocess; the folders it leaves at each kill point (see above)."""
    log = copies.parent / "killed.log"
    with open(log, "wb") as sink:
        proc = subprocess.Popen(
            [sys.executable, "-c", STOPPING_ENGINE, "backend=cpu", *args,
             f"hydra.run.dir={out}"],
            cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, stdout=sink, stderr=sink)
    points: list[Path] = []
    while True:
        _, status = os.waitpid(proc.pid, os.WUNTRACED)
        if not os.WIFSTOPPED(status):
            proc.returncode = os.waitstatus_to_exitcode(status)
            break
        written = [p for p in out.glob(".metrics.json.*.tmp") if p.stat().st_size]
        if written:  # stopped at metrics.json's rename: the real kill
            os.kill(proc.pid, signal.SIGKILL)
            continue
        copy = copies / f"at{len(points)}"
        shutil.copytree(out, copy, symlinks=True)
        points.append(copy)
        os.kill(proc.pid, signal.SIGCONT)
    assert proc.returncode == -signal.SIGKILL, log.read_text()[-3000:]
    return [*points, out]


def _finals(root: Path) -> dict[str, Path]:
    return {str(p.relative_to(root)): p for p in root.rglob("*")
            if p.is_file() and not TEMP_NAME.match(p.name) and ".hydra" not in p.parts}


def _assert_complete(path: Path) -> None:
    """A file under a final name is whole: its format's reader accepts all of it."""
    if path.suffix == ".parquet":
        pq.read_table(path)
    elif path.suffix == ".npz":
        with np.load(path) as z:
            for key in z.files:
                z[key]
    elif path.suffix == ".json":
        import json

        json.loads(path.read_text())


def _same_outputs(expected: Path, actual: Path) -> None:
    for name, path in _finals(expected).items():
        if path.suffix == ".parquet":
            # Equal contents, NaN equal to NaN (pyarrow's Table.equals says NaN != NaN).
            assert_frame_equal(pl.read_parquet(path), pl.read_parquet(actual / name),
                               check_exact=True)
        elif path.suffix == ".npz":
            with np.load(path) as a, np.load(actual / name) as b:
                assert a.files == b.files
                for key in a.files:
                    np.testing.assert_array_equal(a[key], b[key], err_msg=f"{name}: {key}")


@pytest.mark.parametrize("job", list(JOBS))
def test_killed_run_leaves_no_partial_file_and_reruns_to_the_same_outputs(tmp_path, job):
    args = JOBS[job]
    reference = tmp_path / "reference"
    run_config(compose("backend=cpu", *args), str(reference))
    points = _killed_at_each_write(args, tmp_path / "killed", tmp_path / "copies")
    # Two kill points per artefact the uninterrupted run wrote (its temporary file created,
    # then about to be renamed), metrics.json's rename the last.
    artefacts = [p for p in _finals(reference).values() if p.suffix in ARTEFACT_SUFFIXES]
    assert len(points) >= 2 * len(artefacts), (len(points), sorted(_finals(reference)))
    for folder in points:
        assert not (folder / "metrics.json").exists()
        for path in _finals(folder).values():
            _assert_complete(path)
    assert _temporary_files(points[-1]), "the real kill left metrics.json's temporary file"
    for folder in [points[-1], *points[: RERUNS - 1]]:
        run_config(compose("backend=cpu", *args), str(folder))
        assert (folder / "metrics.json").exists() and not _temporary_files(folder)
        _same_outputs(reference, folder)
