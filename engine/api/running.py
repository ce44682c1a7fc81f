"""Running a job's core from the Python API: the same core the Hydra job runs, with the
tables returned in memory instead of left in a run directory.

`job_params` builds the job's `Params` from the public keyword names (scikit-learn style:
`n_neighbors`, `random_state`, ...) plus any other setting of the job by its config name;
`run_job` resolves the backend, runs the core in a `MemoryContext` and returns a `Result`.
Errors name the public keywords, not the config keys (`n_neighbors`, not `job.k`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import re
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from engine.api.result import Result
from engine.backend import resolve
from engine.errors import UserError
from engine.run import RunContext


class MemoryContext(RunContext):
    """A RunContext in a temporary directory whose tables are read back into memory: the
    API's tables are the job's Parquet files, byte for byte the same types."""

    def __post_init__(self) -> None:
        super().__post_init__()
        self.show_progress = False

    def tables(self) -> dict[str, pa.Table]:
        return {p.name.removesuffix(".parquet"): pq.read_table(p)
                for p in sorted(self.out_dir.glob("*.parquet"))}

    def arrays(self) -> dict[str, dict[str, np.ndarray]]:
        """The run's .npz files (project's `projection`: the fitted map), by name."""
        out = {}
        for p in sorted(self.out_dir.glob("*.npz")):
            with np.load(p, allow_pickle=False) as f:
                out[p.stem] = {k: f[k] for k in f.files}
        return out


def job_params(params_type: type, public: dict[str, Any], options: dict[str, Any],
               job: str) -> Any:
    """`params_type(**public, **options)`, refusing options the job does not have."""
    names = {f.name for f in dataclasses.fields(params_type)} - {"name"}
    unknown = sorted(set(options) - names)
    if unknown:
        raise TypeError(f"engine.{job}() got an unexpected keyword argument {unknown[0]!r}")
    clash = sorted(set(options) & set(public))
    if clash:
        raise TypeError(f"engine.{job}(): {clash[0]!r} is set twice")
    given = {**{k: v for k, v in public.items() if v is not None}, **options}
    types = {f.name: str(f.type) for f in dataclasses.fields(params_type)}
    return params_type(**{k: _as_declared(v, types[k]) for k, v in given.items()})


def _as_declared(value: Any, declared: str) -> Any:
    """Integers given for float settings become floats, as Hydra's typed config makes them
    (`bin_size_days=14` and `job.bin_size_days=14` must give the same tables)."""
    def number(v: Any) -> Any:
        return float(v) if isinstance(v, int) and not isinstance(v, bool) else v

    if declared in ("float", "float | None"):
        return number(value)
    if declared == "list[float]" and isinstance(value, (list, tuple)):
        return [number(v) for v in value]
    return value


def run_job(job: str, core: Callable[[RunContext], float], *, backend: str = "auto",
            random_state: int = 0, renames: dict[str, str] | None = None) -> Result:
    """Run `core(ctx)` on the chosen backend; its tables and metrics as a Result.

    `renames` maps config keys to the public keywords that set them, for error messages."""
    with public_errors(renames or {}):
        ctx_backend = resolve(backend)
        with tempfile.TemporaryDirectory(prefix=f"engine-{job}-") as tmp:
            ctx = MemoryContext(out_dir=Path(tmp), backend=ctx_backend,
                                seed=int(random_state))
            ctx.complete(core(ctx))
            tables, arrays = ctx.tables(), ctx.arrays()
    return Result(job, tables, ctx.metrics, arrays)


@contextlib.contextmanager
def public_errors(renames: dict[str, str] | None = None) -> Iterator[None]:
    """Re-raise the jobs' UserErrors with the API's keyword names (see `public_names`)."""
    try:
        yield
    except UserError as exc:
        raise UserError(public_names(str(exc), renames or {})) from None


def public_names(message: str, renames: dict[str, str]) -> str:
    """A job's message with its config keys (`job.k=15`, `data.drop_invalid`) named as the
    API's keywords (`n_neighbors=15`, `drop_invalid`)."""
    return re.sub(r"\b(?:job|data)\.(\w+)", lambda m: renames.get(m.group(1), m.group(1)), message)
