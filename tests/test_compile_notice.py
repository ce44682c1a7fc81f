"""The line a first run shows while Numba compiles kernels, and only then (a cold cache)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from engine.compile_notice import MESSAGE

ROOT = Path(__file__).resolve().parents[1]
# A process that announces compiles, then runs one small kernel (a dot product).
SCRIPT = """
import logging, numpy as np
logging.basicConfig(level=logging.INFO, format="%(message)s")
from engine.compile_notice import announce_compiles
announce_compiles()
announce_compiles()  # idempotent: still one line
from engine._stream.exact import dot
print(dot(np.ones(9), np.ones(9)))
"""


def _run(cache: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "NUMBA_CACHE_DIR": str(cache)}
    return subprocess.run([sys.executable, "-c", SCRIPT], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300, check=True)


def test_said_once_when_compiling_and_not_when_the_cache_is_warm(tmp_path):
    cold = _run(tmp_path)
    assert cold.stderr.count(MESSAGE) == 1 and cold.stdout.strip() == "9.0"
    warm = _run(tmp_path)  # the same cache directory: the kernel loads from disk
    assert MESSAGE not in warm.stderr and warm.stdout.strip() == "9.0"
