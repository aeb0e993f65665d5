"""A real headless Chromium (Debian's, installed by .ci/run) driven by Playwright, for pages h11dbg writes."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

CHROMIUM = "/usr/bin/chromium"
# as the machine's own probe starts it: no sandbox (root), and nothing that reaches for the network
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@contextmanager
def page() -> Iterator[tuple[Any, list[str]]]:
    """A fresh page and the list its console errors and uncaught exceptions are appended to."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            tab = browser.new_page()
            errors: list[str] = []
            tab.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
            tab.on("pageerror", lambda error: errors.append(str(error)))
            # a page that is one file fetches nothing: any request but the file itself is a finding
            tab.on("request", lambda request: errors.append(f"fetched {request.url}")
                   if not request.url.startswith("file://") else None)
            yield tab, errors
        finally:
            browser.close()
