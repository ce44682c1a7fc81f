"""A run's context: what it does to its output directory before the job writes there."""

from __future__ import annotations

from engine.io.write import atomic_path


def test_a_run_removes_temporary_files_a_killed_run_left(run_job, tmp_path):
    out = tmp_path / "out"
    # A write that never finished, as after `kill -9`: the context is entered and never left
    # (held open until the run is over, so that its clean-up cannot run).
    unfinished = atomic_path(out / "tweets.parquet")
    orphans = [unfinished.__enter__(), out / ".labels.parquet.naphxenl.tmp"]
    for p in orphans:
        p.write_bytes(b"PAR1 half a file")
    kept = [out / "notes.tmp", out / ".hidden", out / ".x.tmp"]  # not names atomic_path makes
    for p in kept:
        p.write_text("the user's")
    run_job("job=synth", "data.n_rows=300", "data.dim=8", "data.n_labelled=20", out_dir=out)
    assert not any(p.exists() for p in orphans)
    assert all(p.exists() for p in kept)
    assert (out / "tweets.parquet").exists()
    del unfinished


def test_stream_removes_a_killed_save_of_its_state(run_job, tmp_path):
    state = tmp_path / "state"
    state.mkdir()
    orphan = state / ".state.npz.k3j9x0qa.tmp"
    orphan.write_bytes(b"PK half a state")
    run_job("job=stream", "data.n_messages=500", f"job.state_dir={state}")
    assert not orphan.exists() and (state / "state.npz").exists()
