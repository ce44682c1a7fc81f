"""docs/api.md: every ```python block runs, in order, in one namespace (as a reader would
paste them into one notebook)."""

from __future__ import annotations

import re
from pathlib import Path

DOC = Path(__file__).resolve().parents[1] / "docs" / "api.md"


def blocks() -> list[str]:
    return re.findall(r"^```python\n(.*?)^```", DOC.read_text(), flags=re.S | re.M)


def test_every_example_runs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the examples save files where a reader would: here
    found = blocks()
    assert len(found) >= 8
    namespace: dict = {}
    for i, code in enumerate(found):
        exec(compile(code, f"{DOC.name} block {i + 1}", "exec"), namespace)


def test_the_examples_cover_every_public_function_and_estimator():
    import engine

    text = "\n".join(blocks())
    for name in engine.__all__:
        if name in ("__version__", "Result", "UserError"):
            continue
        assert f"engine.{name}(" in text, name
