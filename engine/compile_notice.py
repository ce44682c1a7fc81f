"""A line on the terminal when Numba compiles kernels.

Numba compiles the CPU kernels (ours and fast_hdbscan's) the first time they run after an
install and caches them on disk (beside the package, or in the user's cache directory when
that is not writable). On a cold cache the default run spends a minute or more compiling, with
nothing else to show; later runs load the kernels in a second or two. Numba's `numba:compile`
event fires only on a cache miss, so the line appears only when compiling really happens.
"""

from __future__ import annotations

import logging

log = logging.getLogger("engine")
MESSAGE = "compiling kernels (first run only; later runs load them from Numba's cache)"
_registered = False


def announce_compiles() -> None:
    """Log MESSAGE once, when this process starts its first compile (idempotent)."""
    global _registered
    if _registered:
        return
    from numba.core import event

    class FirstCompile(event.Listener):
        said = False

        def on_start(self, ev) -> None:
            if not self.said:
                self.said = True
                log.info(MESSAGE)

        def on_end(self, ev) -> None:
            pass

    event.register("numba:compile", FirstCompile())
    _registered = True
