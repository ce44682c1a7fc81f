"""Embedding engine: batch analytics over text embeddings on CPU or GPU.

The jobs as functions on arrays and DataFrames (`engine.project`, `engine.basins`,
`engine.communities`, `engine.balance`, `engine.opinion`, `engine.stream`), each returning a
`Result`, and the stateful jobs as estimators (`engine.OnlineClustering`,
`engine.PolisModel`). See docs/api.md. Names load on first use, so that `import engine`
(and the command line) stays fast.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# public name -> module that defines it
_EXPORTS = {
    "project": "engine.api.project",
    "basins": "engine.api.basins",
    "communities": "engine.api.communities",
    "balance": "engine.api.balance",
    "opinion": "engine.api.opinion",
    "stream": "engine.api.stream",
    "OnlineClustering": "engine.api.online",
    "PolisModel": "engine.api.polis",
    "Result": "engine.api.result",
    "UserError": "engine.errors",
}

__all__ = [  # written out (not built from _EXPORTS) so that linters and type checkers see it
    "OnlineClustering",
    "PolisModel",
    "Result",
    "UserError",
    "__version__",
    "balance",
    "basins",
    "communities",
    "opinion",
    "project",
    "stream",
]

if TYPE_CHECKING:
    from engine.api.balance import balance
    from engine.api.basins import basins
    from engine.api.communities import communities
    from engine.api.online import OnlineClustering
    from engine.api.opinion import opinion
    from engine.api.polis import PolisModel
    from engine.api.project import project
    from engine.api.result import Result
    from engine.api.stream import stream
    from engine.errors import UserError


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'engine' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})
