"""Import every GPU library the engine uses, and every engine module that imports one, on any
machine (no device needed): the check bench/gpu_env.sh runs in the `gpu` extra's venv.

GPU modules import their libraries inside functions (so a CPU install never loads them), so
importing an engine module proves nothing about them. This script reads every import statement
of engine/ and kernels/ (inside functions too) with `ast`, imports each GPU library module and
each name taken from it, then imports the engine modules themselves. Names the engine reaches by
attribute or by importlib (cuVS's index modules, pylibcugraph's calls, RMM's resources) are listed
in CALLED, with the parameter objects it builds (host-side structs, no device needed), so a
renamed class or keyword fails here rather than on the GPU machine.

Prints one line per check and a summary; exit status 1 if anything failed.
"""

from __future__ import annotations

import ast
import importlib
import sys
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GPU_TOP = {"cupy", "cupyx", "cuml", "pylibcugraph", "cuvs", "rmm", "pylibraft", "dask_cuda",
           "torch", "faiss", "cuda"}
GPU_SUB = {"numba.cuda"}  # numba itself is a CPU library; its cuda module is the GPU part

# module -> attributes the engine uses without an import statement naming them.
CALLED = {
    "pylibcugraph": ["ResourceHandle", "GraphProperties", "SGGraph", "leiden"],
    "cuvs.neighbors.brute_force": ["Index", "build", "search"],
    "cuvs.neighbors.ivf_flat": ["Index", "IndexParams", "SearchParams", "build", "search"],
    "cuvs.neighbors.cagra": ["Index", "IndexParams", "SearchParams", "build", "search"],
    "cupy.cuda": ["set_allocator", "runtime", "Device", "get_current_stream"],
    "cuml.cluster": ["HDBSCAN"],
    "dask_cuda": ["LocalCUDACluster"],
    "cuda.bindings.nvrtc": ["nvrtcCreateProgram", "nvrtcCompileProgram"],
    "numba.cuda": ["jit"],  # cuML's own kernels; the GPU machine's numba-cuda
}
# Engine modules that reach a GPU library only through importlib.
IMPORTLIB_USERS = ["engine.ops.knn_gpu"]


def _params():
    """The parameter objects engine.ops.knn_gpu builds, with its keywords."""
    from cuvs.neighbors import cagra, ivf_flat

    ivf_flat.IndexParams(n_lists=16, metric="inner_product")
    ivf_flat.SearchParams(n_probes=4)
    cagra.IndexParams(metric="sqeuclidean", graph_degree=32, intermediate_graph_degree=64)
    cagra.SearchParams(itopk_size=64)
    import pylibcugraph as plc

    plc.GraphProperties(is_symmetric=True, is_multigraph=False)


def is_gpu(module: str) -> bool:
    return module.split(".")[0] in GPU_TOP or any(
        module == s or module.startswith(s + ".") for s in GPU_SUB)


def scan() -> tuple[dict[str, set[str]], list[str]]:
    """(GPU module -> names imported from it, engine modules importing any of them)."""
    wanted: dict[str, set[str]] = {}
    users = []
    for path in sorted([*ROOT.glob("engine/**/*.py"), *ROOT.glob("kernels/**/*.py")]):
        found = False
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                for a in node.names:
                    if is_gpu(a.name):
                        wanted.setdefault(a.name, set())
                        found = True
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                if is_gpu(node.module):
                    wanted.setdefault(node.module, set()).update(a.name for a in node.names)
                    found = True
                elif node.module == "numba" and any(a.name == "cuda" for a in node.names):
                    wanted.setdefault("numba.cuda", set())
                    found = True
        if found:
            rel = path.relative_to(ROOT).with_suffix("")
            users.append(".".join(p for p in rel.parts if p != "__init__"))
    for module, names in CALLED.items():
        wanted.setdefault(module, set()).update(names)
    return wanted, users + IMPORTLIB_USERS


def check(label: str, fn) -> bool:
    try:
        fn()
    except BaseException as exc:  # ImportError, OSError from a shared library, SystemExit...
        last = traceback.format_exception_only(type(exc), exc)[-1].strip()
        print(f"FAIL {label}: {last}")
        return False
    print(f"ok   {label}")
    return True


def main() -> int:
    sys.path.insert(0, str(ROOT))
    wanted, users = scan()
    results = []
    for module in sorted(wanted):
        names = sorted(wanted[module])

        def load(module=module, names=names):
            mod = importlib.import_module(module)
            for name in names:
                if not hasattr(mod, name):
                    importlib.import_module(f"{module}.{name}")  # a submodule
        results.append(check(f"import {module}" + (f" ({', '.join(names)})" if names else ""),
                             load))
    results.append(check("cuVS/pylibcugraph parameter objects with the engine's keywords",
                         _params))
    for module in users:
        results.append(check(f"engine module {module}",
                             lambda m=module: importlib.import_module(m)))
    failed = results.count(False)
    print(f"summary: {len(results) - failed}/{len(results)} checks passed "
          f"({len(wanted)} GPU library modules, {len(users)} engine modules that import them)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
