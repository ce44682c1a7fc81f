"""Running a job's core from the Python API: the same core the Hydra job runs, with the
tables kept in memory instead of written to a run directory.

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

import pyarrow as pa
import pyarrow.parquet as pq

from engine.api.result import Result
from engine.backend import resolve
from engine.errors import UserError
from engine.run import RunContext


class MemoryContext(RunContext):
    """A RunContext whose tables stay in memory. What a core streams to files itself
    (projected rows, the stream's assignments) goes to a temporary directory and is read
    back by `tables()`."""

    def __post_init__(self) -> None:
        super().__post_init__()
        self.show_progress = False
        self._tables: dict[str, pa.Table] = {}

    def write_table(self, name: str, table: pa.Table) -> Path:
        self._tables[name] = table
        return self.path(name)

    def tables(self) -> dict[str, pa.Table]:
        streamed = {p.name: pq.read_table(p) for p in sorted(self.out_dir.glob("*.parquet"))}
        both = {**streamed, **self._tables}
        return {name.removesuffix(".parquet"): both[name] for name in sorted(both)}


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
    return params_type(**{k: v for k, v in public.items() if v is not None}, **options)


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
            tables = ctx.tables()
    return Result(job, tables, ctx.metrics)


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
