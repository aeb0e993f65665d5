"""Real servers and clients for the live CLI tests: subprocesses on 127.0.0.1, stopped after use.

Everything is offered as a fixture (the suite runs with --import-mode=importlib, so test modules
cannot import this file).
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from support.servers import free_port, stop_process, wait_for_port

ENGINES = ("h11dbg", "h11")


@dataclass
class Server:
    host: str
    port: int
    proc: subprocess.Popen[bytes]

    @property
    def address(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


def start_server(args: list[str], host: str, port: int, cwd: Path) -> Server:
    proc = subprocess.Popen(args, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_port(host, port, proc)
    except BaseException:
        proc.kill()
        proc.wait()
        raise
    return Server(host, port, proc)


def stop(server: Server) -> None:
    stop_process(server.proc)


@pytest.fixture(scope="module")
def http_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """``python -m http.server`` serving a directory with hello.txt."""
    root = tmp_path_factory.mktemp("www")
    (root / "hello.txt").write_bytes(b"hello from http.server\n")
    port = free_port()
    server = start_server([sys.executable, "-m", "http.server", "--bind", "127.0.0.1", str(port)],
                          "127.0.0.1", port, root)
    yield server
    stop(server)


ASGI_APP = '''
async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    reply = b"uvicorn got " + scope["method"].encode() + b" " + scope["path"].encode() + b" " + body
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"text/plain"), (b"x-body-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": reply})
'''


def _uvicorn(tmp: Path, extra: list[str]) -> Server:
    (tmp / "tinyapp.py").write_text(ASGI_APP)
    port = free_port()
    args = [sys.executable, "-m", "uvicorn", "tinyapp:app", "--host", "127.0.0.1", "--port", str(port),
            "--log-level", "warning", *extra]
    return start_server(args, "127.0.0.1", port, tmp)


@pytest.fixture(scope="module")
def uvicorn_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    server = _uvicorn(tmp_path_factory.mktemp("asgi"), [])
    yield server
    stop(server)


@dataclass
class TLSServer(Server):
    cafile: Path = Path()


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TLSServer]:
    """uvicorn over TLS with a certificate for localhost / 127.0.0.1 from a trustme CA."""
    import trustme

    tmp = tmp_path_factory.mktemp("tls")
    ca = trustme.CA()
    cert = ca.issue_cert("localhost", "127.0.0.1")
    cafile, keyfile, certfile = tmp / "ca.pem", tmp / "key.pem", tmp / "cert.pem"
    ca.cert_pem.write_to_path(str(cafile))
    cert.private_key_pem.write_to_path(str(keyfile))
    cert.cert_chain_pems[0].write_to_path(str(certfile))
    server = _uvicorn(tmp, ["--ssl-keyfile", str(keyfile), "--ssl-certfile", str(certfile)])
    yield TLSServer(server.host, server.port, server.proc, cafile=cafile)
    stop(server)


def run_h11dbg(args: list[str], stdin: str = "", timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "h11dbg", *args], input=stdin, capture_output=True,
                          text=True, timeout=timeout)


@pytest.fixture
def h11dbg() -> Callable[..., subprocess.CompletedProcess[str]]:
    """Run ``python -m h11dbg ARGS`` with ``stdin`` text; returns the CompletedProcess."""
    return run_h11dbg


@pytest.fixture(params=ENGINES)
def live_engine(request: pytest.FixtureRequest) -> str:
    """Each engine name in turn, for the tests cheap enough to run twice."""
    return str(request.param)


@pytest.fixture
def port_for() -> Callable[[str], int]:
    """A free port on the given host (nothing listens on it afterwards)."""
    return free_port


@pytest.fixture
def serve() -> Iterator[Callable[[list[str], str, int, Path], Server]]:
    """Start a server subprocess (args, host, port, cwd); it is stopped when the test ends."""
    started: list[Server] = []

    def start(args: list[str], host: str, port: int, cwd: Path) -> Server:
        server = start_server(args, host, port, cwd)
        started.append(server)
        return server

    yield start
    for server in started:
        stop(server)
