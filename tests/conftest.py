"""What the whole suite shares: real servers on 127.0.0.1 (subprocesses, always stopped) and the engines.

Test modules import helpers from ``support`` (the suite runs with ``pythonpath = ["tests"]``); this file
only offers them as fixtures.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from support.asgi_echo import uvicorn_command
from support.servers import HELLO, Server, free_port, start_server, stop_process

from h11dbg.engines import ENGINE_NAMES


@pytest.fixture(params=ENGINE_NAMES)
def each_engine(request: pytest.FixtureRequest) -> str:
    """Each engine name in turn (our h11dbg.protocol, then h11), for tests cheap enough to run twice."""
    return str(request.param)


@pytest.fixture(scope="session")
def engine_name() -> str:
    """Our engine, for the tests that run one: h11dbg.protocol must import, or they fail."""
    return "h11dbg"


@pytest.fixture(scope="module")
def http_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """``python -m http.server`` serving a directory with hello.txt (``support.servers.HELLO``)."""
    root = tmp_path_factory.mktemp("www")
    (root / "hello.txt").write_bytes(HELLO)
    port = free_port()
    server = start_server([sys.executable, "-m", "http.server", "--bind", "127.0.0.1", str(port)],
                          "127.0.0.1", port, root)
    yield server
    stop_process(server.proc)


@pytest.fixture(scope="module")
def uvicorn_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """uvicorn (its h11 protocol) running support.asgi_echo."""
    port = free_port()
    server = start_server(uvicorn_command(port), "127.0.0.1", port, tmp_path_factory.mktemp("asgi"))
    yield server
    stop_process(server.proc)


@dataclass
class TLSServer(Server):
    cafile: Path = Path()


@pytest.fixture(scope="module")
def trustme_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A trustme CA and a certificate it issued for localhost / 127.0.0.1, as PEM files: ca, cert, key."""
    import trustme

    tmp = tmp_path_factory.mktemp("tls")
    ca = trustme.CA()
    cert = ca.issue_cert("localhost", "127.0.0.1")
    files = {"ca": tmp / "ca.pem", "cert": tmp / "cert.pem", "key": tmp / "key.pem"}
    ca.cert_pem.write_to_path(str(files["ca"]))
    cert.cert_chain_pems[0].write_to_path(str(files["cert"]))
    cert.private_key_pem.write_to_path(str(files["key"]))
    return files


@pytest.fixture(scope="module")
def tls_server(trustme_files: dict[str, Path]) -> Iterator[TLSServer]:
    """uvicorn over TLS, with trustme_files' certificate for localhost / 127.0.0.1."""
    port = free_port()
    server = start_server(uvicorn_command(port, "--ssl-keyfile", str(trustme_files["key"]), "--ssl-certfile",
                                          str(trustme_files["cert"])),
                          "127.0.0.1", port, trustme_files["ca"].parent)
    yield TLSServer(server.host, server.port, server.proc, cafile=trustme_files["ca"])
    stop_process(server.proc)


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
        stop_process(server.proc)
