from __future__ import annotations

import importlib
import os
import select
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from support.servers import echo_asgi_app, free_port, stop_process, wait_for_port

H11DBG = str(Path(sys.executable).with_name("h11dbg"))


def default_engine() -> str:
    """h11dbg's own engine once it offers a Connection; h11 until then."""
    try:
        module = importlib.import_module("h11dbg.protocol")
    except ImportError:
        return "h11"
    return "h11dbg" if hasattr(module, "Connection") else "h11"


@pytest.fixture(scope="session")
def engine_name() -> str:
    return default_engine()


@pytest.fixture
def http_server(tmp_path: Path) -> Iterator[int]:
    """python -m http.server on 127.0.0.1 serving a small directory; yields its port."""
    root = tmp_path / "www"
    root.mkdir()
    (root / "hello.txt").write_text("hello\n")
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1",
                             "--directory", str(root)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_port("127.0.0.1", port, proc)
        yield port
    finally:
        stop_process(proc)




@pytest.fixture
def uvicorn_server(tmp_path: Path) -> Iterator[int]:
    """uvicorn (its h11 protocol) running an echo app; yields its port."""
    (tmp_path / "echo_app.py").write_text(echo_asgi_app())
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "uvicorn", "echo_app:app", "--app-dir", str(tmp_path),
                             "--host", "127.0.0.1", "--port", str(port), "--http", "h11",
                             "--log-level", "warning"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_port("127.0.0.1", port, proc)
        yield port
    finally:
        stop_process(proc)


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
        line = self._readline(15)
        if not line.startswith("recording "):
            raise RuntimeError(f"record did not start: {line!r}")
        self.port = int(line.split()[1].rsplit(":", 1)[1])
        self.log = [line]

    def _readline(self, timeout: float) -> str:
        ready, _, _ = select.select([self._err], [], [], timeout)
        if not ready:
            raise TimeoutError("no output from h11dbg record")
        return self._err.readline().decode()

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
        self.log += [line.decode() for line in self._err.readlines()]
        return code


@pytest.fixture
def recorder(tmp_path: Path) -> Iterator[Callable[..., Recorder]]:
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
