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


@contextmanager
def devtools_page(timeout: float = 30.0) -> Iterator[tuple[Any, list[str]]]:
    """A page of the DevTools frontend's own origin (http://127.0.0.1:PORT, served by the browser from
    the frontend it ships with), so its modules (``/devtools/models/har/har.js``...) can be imported and
    run, and the list its console errors and uncaught exceptions are appended to.

    Chromium serves the frontend only on its remote-debugging port, so this one is started by hand
    with ``--remote-debugging-port=0`` and reached over CDP; the port it chose is in DevToolsActivePort."""
    import contextlib
    import os
    import shutil
    import signal
    import subprocess
    import tempfile
    import time
    from pathlib import Path

    from playwright.sync_api import sync_playwright

    # (its helper processes may still write to the profile a moment after the browser exits)
    with tempfile.TemporaryDirectory(prefix="h11dbg-devtools-", ignore_cleanup_errors=True) as profile:
        browser_process = subprocess.Popen(
            [CHROMIUM, *FLAGS, f"--user-data-dir={profile}", "--remote-debugging-address=127.0.0.1",
             "--remote-debugging-port=0", "about:blank"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True)  # its own process group: its helpers are stopped with it
        try:
            active_port = Path(profile) / "DevToolsActivePort"
            deadline = time.monotonic() + timeout
            while not (active_port.exists() and "\n" in active_port.read_text()):
                if browser_process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"{CHROMIUM} did not open its remote-debugging port "
                                       f"(exit status {browser_process.poll()})")
                time.sleep(0.05)
            port = int(active_port.read_text().split()[0])
            with sync_playwright() as playwright:
                browser = playwright.chromium.connect_over_cdp(f"http://127.0.0.1:{port}", timeout=timeout * 1000)
                try:
                    tab = browser.contexts[0].new_page()
                    tab.set_default_timeout(timeout * 1000)
                    errors: list[str] = []
                    # (the browser's own fetch of /favicon.ico, which its debugging server does not have,
                    # is not the page's doing)
                    tab.on("console", lambda message: errors.append(f"{message.text} ({message.location['url']})")
                           if message.type == "error" and not message.location["url"].endswith("/favicon.ico")
                           else None)
                    tab.on("pageerror", lambda error: errors.append(str(error)))
                    # a small JSON page of that origin: the frontend's modules import from it as their own
                    tab.goto(f"http://127.0.0.1:{port}/json/version")
                    yield tab, errors
                finally:
                    browser.close()
        finally:
            browser_process.terminate()
            try:
                browser_process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                browser_process.kill()
                browser_process.wait(timeout=10)
            with contextlib.suppress(ProcessLookupError):  # the helpers it left, if any
                os.killpg(browser_process.pid, signal.SIGKILL)
            deadline = time.monotonic() + 5
            while os.path.exists(profile) and time.monotonic() < deadline:
                shutil.rmtree(profile, ignore_errors=True)
                time.sleep(0.05)
