"""What the browser tests share: Debian's Chromium (never a downloaded one) driven by Playwright, kept on this
machine, and a skip that is a failure in CI."""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest


def missing(why: str) -> None:
    """Skip on a learner's machine; fail in CI, where everything the test needs must be there."""
    if os.environ.get("CI"):
        pytest.fail(why)
    pytest.skip(why)


def chromium() -> str:
    named = os.environ.get("ANN_TUTORIAL_CHROMIUM")
    found = named or next(filter(None, map(shutil.which, ("chromium", "chromium-browser"))), None)
    if not found:
        missing("no Chromium found (Debian: apt-get install chromium; or set ANN_TUTORIAL_CHROMIUM to its path)")
    return found


@contextlib.contextmanager
def launched() -> Iterator[object]:
    """The system's Chromium, started by Playwright."""
    executable = chromium()
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as error:
        missing(f"Playwright is not installed ({error}): .venv/bin/python -m pip install -r requirements-site.txt")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable)
        try:
            yield browser
        finally:
            browser.close()


def stay_on_this_machine(events: list[str]):
    """A route handler: requests to 127.0.0.1 go through; any other is recorded and blocked."""

    def handle(route, request) -> None:
        parts = urlsplit(request.url)
        if parts.scheme in ("http", "https", "ws", "wss") and parts.hostname != "127.0.0.1":
            events.append(f"request off this machine (blocked): {request.url}")
            route.abort()
        else:
            route.continue_()

    return handle
