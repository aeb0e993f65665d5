"""Drivers for the CLI tests: ``python -m h11dbg`` as a subprocess, and a running ``h11dbg record``.

The servers these tests talk to are the root conftest's (tests/conftest.py).
"""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

H11DBG = str(Path(sys.executable).with_name("h11dbg"))


def run_h11dbg(args: list[str], stdin: str = "", timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "h11dbg", *args], input=stdin, capture_output=True,
                          text=True, timeout=timeout)


@pytest.fixture
def h11dbg() -> Callable[..., subprocess.CompletedProcess[str]]:
    """Run ``python -m h11dbg ARGS`` with ``stdin`` text; returns the CompletedProcess."""
    return run_h11dbg


class Recorder:
    """A running ``h11dbg record`` subprocess."""

    def __init__(self, upstream: int, output: Path, *extra: str) -> None:
        self.output = output
        self.proc = subprocess.Popen(
            [H11DBG, "record", "--listen", "127.0.0.1:0", "--upstream", f"127.0.0.1:{upstream}",
             "-o", str(output), *extra],
            stderr=subprocess.PIPE, stdout=subprocess.DEVNULL,
        )
        assert self.proc.stderr is not None
        self._err = self.proc.stderr
        self._pending = b""
        line = self._readline(15)
        if not line.startswith("recording "):
            raise RuntimeError(f"record did not start: {line!r}")
        self.port = int(line.split()[1].rsplit(":", 1)[1])
        self.log = [line]

    def _readline(self, timeout: float) -> str:
        """The next line on record's stderr.  Read from the pipe itself into our own buffer: a buffered
        readline() may take two lines at once, and select() on the pipe then waits in vain for the second
        (a test timed out so when the start-up lines arrived together)."""
        deadline = time.monotonic() + timeout
        while b"\n" not in self._pending:
            ready, _, _ = select.select([self._err], [], [], max(0.0, deadline - time.monotonic()))
            if not ready:
                raise TimeoutError("no output from h11dbg record")
            chunk = os.read(self._err.fileno(), 65536)
            if not chunk:
                break
            self._pending += chunk
        line, newline, self._pending = self._pending.partition(b"\n")
        return (line + newline).decode()

    def wait_for_closes(self, count: int, timeout: float = 5.0) -> None:
        """Wait until ``count`` close/reset records are on disk (peers close a moment after the client
        returns; stopping before that would cut the recording short)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = self.output.read_bytes()
            if text.count(b"\nclose ") + text.count(b"\nreset ") >= count:
                return
            time.sleep(0.02)
        raise TimeoutError(f"fewer than {count} closes recorded in {self.output}")

    def stop(self, sig: int = signal.SIGTERM) -> int:
        os.kill(self.proc.pid, sig)
        code = self.proc.wait(timeout=10)
        rest = self._pending + self._err.read()
        self.log += [line.decode() for line in rest.splitlines(keepends=True)]
        return code


@pytest.fixture
def recorder(tmp_path: Path) -> Iterator[Callable[..., Recorder]]:
    """Start ``h11dbg record`` in front of 127.0.0.1:UPSTREAM, writing tmp_path/NAME; killed at the end."""
    started: list[Recorder] = []

    def start(upstream: int, name: str = "rec.h11t", *extra: str) -> Recorder:
        rec = Recorder(upstream, tmp_path / name, *extra)
        started.append(rec)
        return rec

    yield start
    for rec in started:
        if rec.proc.poll() is None:
            rec.proc.kill()
            rec.proc.wait()
