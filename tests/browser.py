"""Headless Chromium for the report and explorer tests (Debian's `chromium`, driven by
Playwright; no browser download). Tests using `page` skip where either is absent."""

from __future__ import annotations

import atexit
import functools
import http.server
import shutil
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--no-first-run", "--disable-sync"]


_STARTED: dict = {}  # one Playwright per process, shared by every test folder importing this


@pytest.fixture(scope="session")
def browser():
    if CHROMIUM is None:
        pytest.skip("chromium is not installed (apt-get install chromium)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    if not _STARTED:
        pw = sync_api.sync_playwright().start()
        _STARTED["browser"] = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        atexit.register(pw.stop)
        atexit.register(_STARTED["browser"].close)
    return _STARTED["browser"]


@pytest.fixture
def page(browser):
    """A page whose console errors and uncaught exceptions are collected in `page.errors`."""
    pg = browser.new_page(viewport={"width": 1300, "height": 900})
    pg.errors = []
    pg.on("console", lambda m: pg.errors.append(m.text) if m.type == "error" else None)
    pg.on("pageerror", lambda e: pg.errors.append(str(e)))
    yield pg
    pg.close()


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):
        pass


@contextmanager
def serve(directory: Path) -> Iterator[str]:
    """Serve `directory` on 127.0.0.1 (any free port) for the block; yields the base URL."""
    handler = functools.partial(_Quiet, directory=str(directory))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
