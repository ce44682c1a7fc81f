"""Apply-stage benchmark of `job=project`: rows/s and peak RSS, against the notebook approach
and the read-only floor, on the same Parquet file, each in its own process (honest peak RSS).

    # 1M x 768 float16 (the file streams out of the synthetic generator):
    python -m engine job=synth data.n_rows=1000000 data.dim=768 job.float16=true \
        hydra.run.dir=/tmp/synth1m
    # 5.5M x 768, a file of its own (about 8 GB on disk):
    python -m engine job=synth data.n_rows=5500000 data.dim=768 job.float16=true \
        hydra.run.dir=/tmp/synth5m
    python bench/project.py --path /tmp/synth1m/tweets.parquet /tmp/synth5m/tweets.parquet
Writes bench/results/project.md: one table per file. The notebook approach holds the whole
table, the stacked matrix and its float32 copy (about 8.3 GB per million 768-d rows), so it is
left out where that estimate passes 70% of the machine's memory, and the file says so.

Variants:
- `engine`: the real job (`job=project job.projection_file=...`, so no fit), CPU backend:
  streamed batches, float32 kernel, every metadata column passed through to
  projected.parquet. Seconds are the job's own "apply" stage.
- `notebook`: pandas.read_parquet of the whole table, np.vstack of the embedding column,
  float32 matmul, write the projected columns with pandas.
- `floor`: pyarrow reads every column of the file in batches and does nothing else (with
  the engine's reader setting pre_buffer=False; pyarrow's default pre-buffering keeps the
  chunks already read, so its memory grows with the file).
Timings are the best of `--repeat` interleaved runs (floor, engine, notebook, floor, ...), so
drifting load hits every variant alike; the RSS of each run is sampled, and the largest RSS
of its first and second halves shows whether memory is flat.
The map is a seeded random 768 x 3 map (the apply cost does not depend on its values).
Needs psutil and pandas (the bench venv has both).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
AXES = ["sincerity", "charity", "constructiveness"]


def _peak_rss() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux: KiB


class RssSampler:
    """Samples this process's RSS every 0.2 s, to show whether memory stays flat over a run."""

    def __init__(self) -> None:
        import threading

        self.samples: list[tuple[float, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        page = os.sysconf("SC_PAGE_SIZE")
        t0 = time.perf_counter()
        while not self._stop.wait(0.2):
            with open("/proc/self/statm") as fh:
                rss = int(fh.read().split()[1]) * page
            self.samples.append((time.perf_counter() - t0, rss))

    def halves(self) -> tuple[int, int]:
        """Largest RSS in the first and in the second half of the run."""
        self._stop.set()
        self._thread.join()
        if len(self.samples) < 2:
            return 0, 0
        mid = self.samples[-1][0] / 2
        first = max(r for t, r in self.samples if t <= mid)
        second = max(r for t, r in self.samples if t > mid)
        return first, second


def worker_engine(path: str, batch_rows: int, workdir: str) -> dict:
    sys.path.insert(0, str(ROOT))
    import numpy as np
    from hydra import compose, initialize_config_dir

    from engine import config
    from engine._project.linear_map import LinearMap
    from engine.app import run_config
    from engine.io.embeddings import EmbeddingFiles

    dim = EmbeddingFiles(path, dtype=None).dim
    rng = np.random.default_rng(0)
    lmap = LinearMap(rng.standard_normal((dim, 3)) * 0.05, [4.0, 4.0, 4.0], AXES, "ridge")
    lmap.save(Path(workdir) / "map.npz")
    config.register()
    with initialize_config_dir(str(config.conf_dir()), version_base=None):
        cfg = compose("config", overrides=[
            "job=project", "backend=cpu", "data=files", f"data.path={path}",
            f"data.batch_rows={batch_rows}", f"job.projection_file={workdir}/map.npz"])
    out = Path(workdir) / "out"
    run_config(cfg, str(out))
    metrics = json.loads((out / "metrics.json").read_text())
    return {"rows": metrics["n_rows"], "seconds": metrics["seconds"]["apply"],
            "cpu_seconds": metrics["cpu_seconds"]["apply"],
            "output_bytes": (out / "projected.parquet").stat().st_size}


def worker_notebook(path: str, batch_rows: int, workdir: str) -> dict:
    import numpy as np
    import pandas as pd

    t0, c0 = time.perf_counter(), time.process_time()
    df = pd.read_parquet(path)
    x = np.vstack(df["embedding"].to_numpy()).astype(np.float32)
    rng = np.random.default_rng(0)
    w = (rng.standard_normal((x.shape[1], 3)) * 0.05).astype(np.float32)
    y = x @ w + 4.0
    df = df.drop(columns=["embedding"])
    for j, axis in enumerate(AXES):
        df[axis] = y[:, j]
    df.to_parquet(Path(workdir) / "projected.parquet")
    return {"rows": len(df), "seconds": time.perf_counter() - t0,
            "cpu_seconds": time.process_time() - c0}


def worker_floor(path: str, batch_rows: int, workdir: str) -> dict:
    import pyarrow.parquet as pq

    files = sorted(Path(path).glob("*.parquet")) if Path(path).is_dir() else [Path(path)]
    t0, c0 = time.perf_counter(), time.process_time()
    rows = 0
    for f in files:
        # The engine's reader settings (pre_buffer=False keeps memory flat; see engine.io).
        for batch in pq.ParquetFile(f, pre_buffer=False).iter_batches(batch_size=batch_rows):
            rows += batch.num_rows
    return {"rows": rows, "seconds": time.perf_counter() - t0,
            "cpu_seconds": time.process_time() - c0}


WORKERS = {"engine": worker_engine, "notebook": worker_notebook, "floor": worker_floor}


def run_variant(name: str, path: str, batch_rows: int) -> dict:
    with tempfile.TemporaryDirectory(prefix=f"bench-project-{name}-") as workdir:
        proc = subprocess.run(
            [sys.executable, __file__, "--worker", name, "--path", path,
             "--batch-rows", str(batch_rows), "--workdir", workdir],
            capture_output=True, text=True, cwd=ROOT)
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        return {"name": name, "error": f"exit {proc.returncode}: {' | '.join(tail)}"}
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    result["name"] = name
    return result


def table(results: list[dict], floor: dict | None) -> str:
    lines = ["| variant | rows | seconds | CPU s | rows/s | peak RSS | RSS max 1st / 2nd half "
             "| time / floor |", "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in results:
        if "error" in r:
            lines.append(f"| {r['name']} | | | | | | | {r['error']} |")
            continue
        ratio = (f"{r['seconds'] / floor['seconds']:.2f}x"
                 if floor and "seconds" in floor else "")
        lines.append(f"| {r['name']} | {r['rows']:,} | {r['seconds']:.1f} | "
                     f"{r.get('cpu_seconds', float('nan')):.1f} | "
                     f"{r['rows'] / r['seconds']:,.0f} | {r['peak_rss'] / 2**30:.2f} GiB | "
                     f"{r['rss_first_half'] / 2**30:.2f} / {r['rss_second_half'] / 2**30:.2f} | "
                     f"{ratio} |")
    return "\n".join(lines)


NOTEBOOK_BYTES_PER_ROW = 8.3e9 / 1e6  # measured at 1M x 768 (see the docstring)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--path", required=True, nargs="+",
                    help="Parquet files with an embedding column (or directories of them)")
    ap.add_argument("--batch-rows", type=int, default=65536)
    ap.add_argument("--skip", nargs="*", default=[], choices=sorted(WORKERS))
    ap.add_argument("--repeat", type=int, default=3, help="interleaved runs (best kept)")
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "project.md"))
    ap.add_argument("--worker", choices=sorted(WORKERS), help=argparse.SUPPRESS)
    ap.add_argument("--workdir", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        sampler = RssSampler()
        result = WORKERS[args.worker](args.path[0], args.batch_rows, args.workdir)
        result["peak_rss"] = _peak_rss()
        result["rss_first_half"], result["rss_second_half"] = sampler.halves()
        print(json.dumps(result))
        return
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import psutil
    import pyarrow.parquet as pq
    from _report import Run

    run = Run(["pyarrow", "pandas", "polars"])
    memory = psutil.virtual_memory().total
    body = []
    for path in args.path:
        files = sorted(Path(path).glob("*.parquet")) if Path(path).is_dir() else [Path(path)]
        n_rows = sum(pq.ParquetFile(f).metadata.num_rows for f in files)
        size = sum(f.stat().st_size for f in files)
        names = [n for n in ("floor", "engine", "notebook") if n not in args.skip]
        note = ""
        if "notebook" in names and n_rows * NOTEBOOK_BYTES_PER_ROW > 0.7 * memory:
            names.remove("notebook")
            note = (f"The notebook approach is left out: it would need about "
                    f"{n_rows * NOTEBOOK_BYTES_PER_ROW / 1e9:.0f} GB, beyond 70% of this "
                    f"machine's {memory / 2**30:.0f} GiB.")
        runs: dict[str, list[dict]] = {name: [] for name in names}
        for _ in range(args.repeat):
            for name in names:
                runs[name].append(run_variant(name, str(path), args.batch_rows))
                print(json.dumps(runs[name][-1]), flush=True)
        results = [min(rs, key=lambda r: r.get("seconds", float("inf")))
                   for rs in runs.values()]
        floor = next((r for r in results if r["name"] == "floor"), None)
        body += [f"## {path}: {n_rows:,} rows, {size / 2**30:.2f} GiB on disk", "",
                 table(results, floor), ""]
        body += ["All runs (seconds): " + "; ".join(
            f"{name} " + ", ".join(f"{r['seconds']:.1f}" if "seconds" in r else "failed"
                                   for r in rs) for name, rs in runs.items()), ""]
        if note:
            body += [note, ""]
        print("\n".join(body[-6:]), flush=True)
    body += [f"Best of {args.repeat} interleaved runs, each variant in its own process. "
             "`time / floor` is the variant's best time over the floor's best time; the "
             "engine's time is its `apply` stage (read, project, write) from metrics.json. "
             "`CPU s`: the CPU seconds of that run's process over the same span, all its "
             "threads (pyarrow decodes in its own thread pool, the engine projects and "
             "writes beside it): the steadier figure where other work shares the cores."]
    run.write(args.out, "project: apply stage vs the read floor and the notebook approach",
              body)

if __name__ == "__main__":
    main()
