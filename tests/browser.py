"""Headless Chromium for the tests that look at a page as a person would: Debian's ``chromium`` driven by
Playwright through the system browser's ``executable_path`` (Playwright's own browser download is not
reachable here). A missing browser or Playwright is a failure, not a skip: `.ci/run` installs both."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def chromium_path() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    assert path, "Debian's chromium is not installed (apt-get install chromium); .ci/run installs it"
    return path


@contextmanager
def browser_page(width: int = 1200, height: int = 900) -> Iterator[Any]:
    """A fresh page in headless Chromium that may reach nothing but what the test serves or opens."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS, headless=True)
        try:
            context = browser.new_context(viewport={"width": width, "height": height})
            yield context.new_page()
        finally:
            browser.close()
