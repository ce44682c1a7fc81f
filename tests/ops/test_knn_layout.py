"""engine/ops kNN modules form a tree: the dispatch (knn) above the backend modules, the shared
helpers (knn_common) below them; no module imports one above it (the old knn <-> knn_gpu <->
knn_ivf circle made every kNN call walk back into knn.py)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import engine
import engine.ops

OPS = Path(engine.ops.__file__).parent
# knn_ivf (CPU IVF) sits under knn_cpu, which hands its ivf method to it.
LEVEL = {"knn_common": 0, "knn_topk": 0, "knn_ivf": 1, "knn_cpu": 2, "knn_gpu": 2, "knn": 3}


def _imported_ops_modules(name: str) -> set[str]:
    tree = ast.parse((OPS / f"{name}.py").read_text())
    out = set()
    for node in ast.walk(tree):  # imports inside functions count too
        if isinstance(node, ast.ImportFrom) and node.module:
            if node.module == "engine.ops":
                out |= {a.name for a in node.names}
            elif node.module.startswith("engine.ops."):
                out.add(node.module.rsplit(".", 1)[1])
        elif isinstance(node, ast.Import):
            out |= {a.name.rsplit(".", 1)[1] for a in node.names
                    if a.name.startswith("engine.ops.")}
    return out & set(LEVEL)


def test_knn_modules_import_only_downwards():
    for name, level in LEVEL.items():
        for dep in _imported_ops_modules(name):
            assert LEVEL[dep] < level, (name, dep)


def test_knn_gpu_imports_without_gpu_libraries():
    # A fresh interpreter: this one may hold CuPy already (conftest probes for a device).
    code = ("import sys, engine.ops.knn_gpu, engine.ops.knn; "
            "print(sorted({'cuvs', 'cupy', 'faiss'} & set(sys.modules)))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=Path(engine.__file__).parents[1])
    assert out.stdout.strip() == "[]"  # engine._communities.knn_plan reads knn_gpu's defaults
