"""One command for a GPU machine: everything that needs a device, in stages, within 8 minutes.

    python bench/gpu_check.py [--wheels DIR] [--out bench/results/gpu.md] [--budget 480]

Written for a machine without network whose image has CuPy 14 (cuda13x), torch (cu130),
numba-cuda, nvcc and compute-sanitizer, but not cuML, cuGraph, cuVS or FAISS:

- stage 1 (nothing brought in): `pytest -m "gpu and not rapids"` (CuPy, torch and the custom
  kernels against the CPU paths); compute-sanitizer memcheck, racecheck and synccheck on the
  balance kernels (their GPU test under each tool);
- stage 2 (only with --wheels DIR, a folder of staged wheels; a wheel brought in pieces is
  joined from NAME.whl.part* first): the wheels go into a venv on top of the image's packages
  (--system-site-packages, --no-deps, --no-index), bench/gpu_imports.py checks what imports,
  then `pytest -m "gpu and rapids"`, then every job on small synthetic data on both backends,
  each timed, with the objectives compared.

Each step has a time limit and the whole run a budget (default 480 s): a step that would start
past the budget is recorded as not run. Without a CUDA device every step is skipped, the file
says why, and the exit status is 0. The results file (markdown, with a JSON block) is written
by this script, also when a step fails; exit status 1 if any step that ran failed.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
JOBS = ("project", "basins", "communities", "balance", "opinion", "stream")
# |gpu - cpu| / max(|cpu|, 1e-9) allowed for the objective; density clustering (cuML vs
# fast_hdbscan) and Leiden (cuGraph vs igraph) are different implementations.
TOLERANCE = {"basins": 0.1, "communities": 0.05}
SANITIZERS = ("memcheck", "racecheck", "synccheck")


def device() -> tuple[str | None, str]:
    """(device name or None, why not)."""
    try:
        import cupy
    except Exception as exc:
        return None, f"CuPy cannot be imported ({type(exc).__name__}: {exc})"
    try:
        n = cupy.cuda.runtime.getDeviceCount()
    except Exception as exc:
        return None, f"no usable CUDA device ({type(exc).__name__}: {str(exc).splitlines()[0]})"
    if n < 1:
        return None, "no CUDA device found"
    name = cupy.cuda.runtime.getDeviceProperties(0)["name"]
    return (name.decode() if isinstance(name, bytes) else str(name)), ""


class Run:
    def __init__(self, budget: float):
        self.t0 = time.monotonic()
        self.budget = budget
        self.steps: list[dict] = []

    def left(self) -> float:
        return self.budget - (time.monotonic() - self.t0)

    def skip(self, stage: int, name: str, why: str) -> None:
        self.steps.append({"stage": stage, "step": name, "status": "skipped", "note": why})
        print(f"[skip] {name}: {why}", flush=True)

    def cmd(self, stage: int, name: str, argv: list[str], limit: float, env=None,
            cwd=ROOT) -> dict:
        """Run one command with a time limit; record status, seconds and its output's tail."""
        limit = min(limit, self.left())
        if limit < 5:
            self.skip(stage, name, "budget spent")
            return self.steps[-1]
        print(f"[run ] {name}: {' '.join(argv)}", flush=True)
        t = time.monotonic()
        try:
            p = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True,
                               timeout=limit)
            status = "passed" if p.returncode == 0 else f"failed (exit {p.returncode})"
            out = p.stdout + p.stderr
        except subprocess.TimeoutExpired as exc:
            status = f"failed (timed out after {limit:.0f} s)"
            out = (exc.stdout or b"").decode(errors="replace") if isinstance(
                exc.stdout, bytes) else (exc.stdout or "")
        step = {"stage": stage, "step": name, "status": status,
                "seconds": round(time.monotonic() - t, 1),
                "tail": "\n".join(out.strip().splitlines()[-15:])}
        self.steps.append(step)
        print(f"[{'ok' if status == 'passed' else 'FAIL':4}] {name} ({step['seconds']} s)",
              flush=True)
        return step


def stage1(run: Run, py: str) -> None:
    run.cmd(1, "pytest -m 'gpu and not rapids'",
            [py, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-m", "gpu and not rapids",
             "tests"], 180)
    sanitizer = shutil.which("compute-sanitizer")
    for tool in SANITIZERS:
        if sanitizer is None:
            run.skip(1, f"compute-sanitizer {tool}", "compute-sanitizer not on PATH")
            continue
        run.cmd(1, f"compute-sanitizer {tool} (balance kernels)",
                [sanitizer, "--tool", tool, "--error-exitcode", "3", py, "-m", "pytest", "-q",
                 "-p", "no:cacheprovider", "tests/balance/test_kernels.py", "-m", "gpu"], 90)


def staged_venv(run: Run, wheels: Path, workdir: Path) -> str | None:
    """A venv over the image's packages with every staged wheel installed; its python."""
    for first in glob.glob(str(wheels / "*.whl.part*")):
        whole = Path(first.split(".part")[0])
        if not whole.exists():  # join NAME.whl.part00, part01, ... in name order
            parts = sorted(glob.glob(f"{whole}.part*"))
            with open(whole, "wb") as out:
                for part in parts:
                    out.write(Path(part).read_bytes())
    found = sorted(glob.glob(str(wheels / "*.whl")))
    if not found:
        run.skip(2, "staged wheels", f"no *.whl in {wheels}")
        return None
    venv = workdir / "venv"
    step = run.cmd(2, "venv with the staged wheels",
                   ["bash", "-c", f"{sys.executable} -m venv --system-site-packages {venv} && "
                    f"{venv}/bin/python -m pip install -q --no-index --no-deps "
                    + " ".join(found)], 180)
    return str(venv / "bin" / "python") if step["status"] == "passed" else None


def jobs(run: Run, py: str, workdir: Path) -> list[dict]:
    rows = []
    for job in JOBS:
        res = {}
        for backend in ("cpu", "gpu"):
            out = workdir / f"{job}-{backend}"
            step = run.cmd(2, f"job={job} backend={backend}",
                           [py, "-m", "engine", f"job={job}", f"backend={backend}",
                            f"hydra.run.dir={out}"], 120)
            metrics = out / "metrics.json"
            if step["status"] == "passed" and metrics.exists():
                res[backend] = json.loads(metrics.read_text())
        row = {"job": job}
        for b in ("cpu", "gpu"):
            m = res.get(b)
            row[f"{b}_objective"] = m.get("objective") if m else None
            row[f"{b}_seconds"] = round(sum(m.get("seconds", {}).values()), 2) if m else None
        if "cpu" in res and "gpu" in res:
            c, g = row["cpu_objective"], row["gpu_objective"]
            rel = abs(g - c) / max(abs(c), 1e-9) if None not in (c, g) else float("nan")
            row["relative_difference"] = rel
            row["agree"] = bool(rel <= TOLERANCE.get(job, 1e-3))
            row["speedup"] = (round(row["cpu_seconds"] / row["gpu_seconds"], 2)
                              if row["gpu_seconds"] else None)
        rows.append(row)
    return rows


def write(path: Path, run: Run, facts: dict, job_rows: list[dict]) -> None:
    lines = ["# GPU check (bench/gpu_check.py)", "",
             f"- when: {facts['when']}", f"- machine: {facts['machine']}",
             f"- device: {facts['device'] or 'none: ' + facts['why']}",
             f"- wheels: {facts['wheels'] or 'none staged (stage 2 skipped)'}",
             f"- total: {facts['seconds']} s of a {facts['budget']} s budget", "",
             "| stage | step | status | seconds |", "|---|---|---|---|"]
    for s in run.steps:
        lines.append(f"| {s['stage']} | {s['step']} | {s['status']}"
                     f"{' (' + s['note'] + ')' if s.get('note') else ''} | "
                     f"{s.get('seconds', '')} |")
    if job_rows:
        lines += ["", "| job | CPU objective | GPU objective | agree | CPU s | GPU s | speedup |",
                  "|---|---|---|---|---|---|---|"]
        for r in job_rows:
            lines.append(f"| {r['job']} | {r['cpu_objective']} | {r['gpu_objective']} | "
                         f"{r.get('agree', '')} | {r['cpu_seconds']} | {r['gpu_seconds']} | "
                         f"{r.get('speedup', '')} |")
    failed = [s for s in run.steps if s["status"].startswith("failed")]
    for s in failed:
        lines += ["", f"## {s['step']}: {s['status']}", "", "```", s.get("tail", ""), "```"]
    lines += ["", "```json", json.dumps({**facts, "steps": run.steps, "jobs": job_rows},
                                        indent=1, default=str), "```", ""]
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text("\n".join(lines))
    tmp.replace(path)  # atomic: never a half-written results file


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--wheels", type=Path, help="folder of staged cuML/cuGraph/cuVS wheels")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "gpu.md")
    ap.add_argument("--budget", type=float, default=480.0, help="seconds for the whole run")
    args = ap.parse_args()
    run = Run(args.budget)
    name, why = device()
    facts = {"when": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
             "machine": f"{platform.node()} ({os.cpu_count()} CPUs, Python "
                        f"{platform.python_version()})",
             "device": name, "why": why, "budget": args.budget,
             "wheels": str(args.wheels) if args.wheels else None}
    job_rows: list[dict] = []
    if name is None:
        for stage, step in [(1, "pytest -m 'gpu and not rapids'"),
                            *[(1, f"compute-sanitizer {t} (balance kernels)") for t in SANITIZERS],
                            (2, "staged wheels, pytest -m 'gpu and rapids', jobs on both backends")]:
            run.skip(stage, step, f"no GPU: {why}")
    else:
        stage1(run, sys.executable)
        if args.wheels is None:
            run.skip(2, "library paths (cuML, cuGraph, cuVS)", "no --wheels folder given")
        else:
            with tempfile.TemporaryDirectory(prefix="gpu_check_") as tmp:
                py = staged_venv(run, args.wheels, Path(tmp))
                if py is not None:
                    run.cmd(2, "imports (bench/gpu_imports.py)",
                            [py, str(ROOT / "bench" / "gpu_imports.py")], 120)
                    run.cmd(2, "pytest -m 'gpu and rapids'",
                            [py, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-m",
                             "gpu and rapids", "tests"], 240)
                    job_rows = jobs(run, py, Path(tmp))
    facts["seconds"] = round(time.monotonic() - run.t0, 1)
    write(args.out, run, facts, job_rows)
    ran = [s for s in run.steps if s["status"] != "skipped"]
    bad = [s for s in ran if s["status"].startswith("failed")]
    bad += [r for r in job_rows if r.get("agree") is False]
    print(f"summary: {len(ran)} steps ran, {len(bad)} failed or disagreed, "
          f"{len(run.steps) - len(ran)} skipped; results in {args.out}")
    if name is None:
        print(f"no GPU here ({why}): nothing was checked; run this on a GPU machine")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
