"""The package as installed: a distinctive distribution, the CPU stack in the core, the CUDA
sources inside `engine` (no top-level `kernels` module), one version, and the README's test
command (what CI runs) on a CPU-only stack."""

from __future__ import annotations

import ast
import email
import os
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest
from packaging.requirements import Requirement

import engine
from engine import kernels

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    # Built from a copy: setuptools writes build/ and *.egg-info into the source tree, and two
    # test workers may each build at the same time.
    src, out = tmp_path_factory.mktemp("src"), tmp_path_factory.mktemp("wheel")
    skip = shutil.ignore_patterns("__pycache__", "*.egg-info", "build")
    for name in ("engine", "kernels", "conf"):
        shutil.copytree(ROOT / name, src / name, symlinks=True, ignore=skip)
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy2(ROOT / name, src / name)
    res = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out),
                          str(src)], capture_output=True, text=True, timeout=600)
    if res.returncode != 0 and "No matching distribution found for setuptools" in res.stderr:
        pytest.skip("no package index to fetch the build backend from")
    assert res.returncode == 0, res.stderr
    (found,) = out.glob("*.whl")
    return found


def _metadata(wheel: Path) -> email.message.Message:
    with zipfile.ZipFile(wheel) as z:
        name = next(n for n in z.namelist() if n.endswith(".dist-info/METADATA"))
        return email.message_from_bytes(z.read(name))


def test_wheel_ships_the_kernels_inside_engine_only(wheel):
    with zipfile.ZipFile(wheel) as z:
        names = set(z.namelist())
    assert not any(n.startswith("kernels/") for n in names)  # the import name of another package
    for src in sorted((ROOT / "kernels").rglob("*")):
        if src.is_file() and src.suffix in (".cu", ".h", ".cpp", ".py"):
            assert "engine/kernels/" + src.relative_to(ROOT / "kernels").as_posix() in names
    assert {"engine/py.typed", "engine/conf/config.yaml", "engine/conf/job/basins.yaml"} <= names


def test_installed_wheel_loads_kernels_through_the_package(wheel, tmp_path):
    # Installed without dependencies into a folder of its own, run from outside the checkout:
    # the engine imported is the installed one, and it finds its kernel sources as package data.
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target",
                    str(target), str(wheel)], check=True, timeout=300)
    code = ("import importlib.util, engine, engine.kernels as k; "
            "print(importlib.util.find_spec('kernels')); print(engine.__file__); "
            "print(len(k.source('balance_match'))); print([p.name for p in k.sources()])")
    env = {**os.environ, "PYTHONPATH": str(target)}
    res = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    spec, where, size, names = res.stdout.splitlines()
    # None in a clean environment; here at most another checkout's editable install.
    assert spec == "None" or str(target) not in spec
    assert not (target / "kernels").exists()
    assert where.startswith(str(target))
    assert int(size) == len((ROOT / "kernels" / "balance_match.cu").read_text())
    assert names == repr(sorted(p.name for p in (ROOT / "kernels").glob("*.cu")))


def test_metadata_name_version_licence_and_core_stack(wheel):
    meta = _metadata(wheel)
    assert meta["Name"] == "embedding-analytics-engine"
    assert meta["Version"] == engine.__version__  # the one place it is written
    assert meta["License-Expression"] == "MIT"
    assert "Typing :: Typed" in meta.get_all("Classifier")
    core = {Requirement(r).name for r in meta.get_all("Requires-Dist") if "extra ==" not in r}
    # Every CPU job's libraries, with no extra.
    assert {"numpy", "scipy", "scikit-learn", "pyarrow", "polars", "faiss-cpu", "igraph",
            "leidenalg", "fast-hdbscan", "numba", "hydra-core"} <= core
    assert "hdbscan" not in core and "torch" not in core


def test_version_is_not_written_in_pyproject():
    assert "version" not in PYPROJECT["project"]
    assert PYPROJECT["project"]["dynamic"] == ["version"]
    assert PYPROJECT["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "engine.__version__"}


def test_fast_hdbscan_pin_admits_only_releases_with_the_private_api():
    (pin,) = [Requirement(r) for r in PYPROJECT["project"]["dependencies"]
              if Requirement(r).name == "fast-hdbscan"]
    # 0.2.2 lacks numba_kdtree.build_kdtree and changed merge_components; 0.3.x has them.
    assert not pin.specifier.contains("0.2.2") and pin.specifier.contains("0.3.0")
    assert pin.specifier.contains("0.3.4") and not pin.specifier.contains("0.4.0")


def _imported_modules(path: Path) -> set[str]:
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(node.module.split(".")[0])
    return out


def test_hdbscan_is_an_extra_because_only_tests_and_benches_import_it():
    engine_imports = set().union(*(_imported_modules(p) for p in (ROOT / "engine").rglob("*.py")))
    assert "hdbscan" not in engine_imports and "fast_hdbscan" in engine_imports
    extras = PYPROJECT["project"]["optional-dependencies"]
    assert any(Requirement(r).name == "hdbscan" for r in extras["test"])


def test_readme_test_command_installs_cpu_torch_first_then_lints_then_tests():
    res = subprocess.run([str(ROOT / ".ci" / "readme_command")], capture_output=True, text=True,
                         check=True)
    command = res.stdout.replace("\\\n", " ")
    steps = [s.strip() for s in command.split("&&")]
    assert steps[0].startswith("pip install") and "torch==" in steps[0]
    torch_pin = next(w.strip('"') for w in steps[0].split() if w.strip('"').startswith("torch=="))
    assert torch_pin.endswith("+cpu")  # a CPU wheel or a failure, never PyPI's CUDA build
    assert "gpu" not in command
    assert [s.split()[0:2] for s in steps[1:]] == [["pip", "install"], ["ruff", "check"],
                                                   ["python", "-m"]]
    assert steps[-1] == "python -m pytest -n 2 -q"
    # .ci/run runs that block and nothing else of its own between install and tests.
    assert "command=$(.ci/readme_command)" in (ROOT / ".ci" / "run").read_text()


def test_checkout_kernel_loader_reads_the_top_level_folder():
    assert [p.name for p in kernels.sources()] == sorted(
        p.name for p in (ROOT / "kernels").glob("*.cu"))
    assert kernels.source("balance_match") == (ROOT / "kernels" / "balance_match.cu").read_text()
