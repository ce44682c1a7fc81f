"""What every results file in bench/results/ starts with, written by the bench itself: the
command that made it, the commit, the machine, the load and the versions of every library
compared, so a figure can be traced and reproduced without asking anyone."""

from __future__ import annotations

import datetime
import importlib.metadata
import os
import platform
import shlex
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def commit() -> str:
    """The checkout's commit, with '+changes' when tracked files differ from it."""
    def git(*args: str) -> str:
        return subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True,
                              text=True).stdout.strip()

    head = git("rev-parse", "--short=12", "HEAD") or "unknown"
    dirty = git("status", "--porcelain", "--untracked-files=no")
    return head + ("+changes" if dirty else "")


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def versions(packages: list[str]) -> str:
    out = []
    for name in packages:
        try:
            out.append(f"{name} {importlib.metadata.version(name)}")
        except importlib.metadata.PackageNotFoundError:
            out.append(f"{name} (not installed)")
    return ", ".join(out)


class Run:
    """Started at the beginning of a bench (records the load then); `header()` at the end."""

    def __init__(self, packages: list[str]) -> None:
        self.packages = ["embedding-analytics-engine", "numpy", *packages]
        self.started = datetime.datetime.now(datetime.UTC)
        self.load_before = os.getloadavg()
        self.command = "python " + shlex.join([os.path.relpath(sys.argv[0], ROOT),
                                               *sys.argv[1:]])

    def header(self, title: str) -> list[str]:
        load_after = os.getloadavg()
        finished = datetime.datetime.now(datetime.UTC)
        return [
            f"# {title}",
            "",
            "Written by the bench script itself; rerun the command to reproduce.",
            "",
            f"- command: `{self.command}`",
            f"- commit: {commit()}",
            f"- date: {self.started:%Y-%m-%d %H:%M} to {finished:%H:%M} UTC",
            f"- machine: {cpu_model()}, {os.cpu_count()} logical cores, Python "
            f"{platform.python_version()}",
            f"- load average (1 min) at start {self.load_before[0]:.1f}, at end "
            f"{load_after[0]:.1f}: above the bench's own threads, other processes shared "
            "the cores",
            f"- versions: {versions(self.packages)}",
            "",
        ]

    def write(self, path: str | Path, title: str, body: list[str]) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("\n".join(self.header(title) + body) + "\n")
        print(f"wrote {path}")
        return path
