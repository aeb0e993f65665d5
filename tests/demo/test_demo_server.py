"""The demo server's routes, hit by real clients: curl and the standard library's http.client.

The server runs on both engines, so each
route also checks that the engine frames what the route means to teach.
"""

from __future__ import annotations

import hashlib
import http.client
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from h11dbg.demo.server import ETAG, ROUTES, TRAILER_BODY, DemoServer
from h11dbg.engines import load_engine

CURL = "/usr/bin/curl"


@pytest.fixture
def server(each_engine: str) -> Iterator[DemoServer]:
    with DemoServer(load_engine(each_engine), slow_delay=0.05) as running:
        yield running
    assert running.errors == [], "the server failed while serving a connection"


def curl(*args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([CURL, "-sS", "--max-time", "10", *args], capture_output=True, timeout=20, check=True)


def client(server: DemoServer) -> http.client.HTTPConnection:
    return http.client.HTTPConnection(server.host, server.port, timeout=5)


# -- curl -----------------------------------------------------------------------------------------


def test_index_lists_every_route_and_keeps_the_connection(server: DemoServer) -> None:
    result = curl("-v", f"{server.url}/", f"{server.url}/chunked")
    text = result.stdout.decode()
    for path in ROUTES:
        assert f"  {path} " in text
    assert "HTTP/1.1 can send a body in pieces" in text
    # curl reports reusing the first connection for the second request
    assert b"Re-using existing connection" in result.stderr or b"Reusing existing" in result.stderr


def test_chunked_route_uses_chunked_framing(server: DemoServer) -> None:
    # --raw shows the chunk framing exactly as it crossed the wire
    raw = curl("--raw", "-i", f"{server.url}/chunked").stdout
    head, _, body = raw.partition(b"\r\n\r\n")
    assert b"HTTP/1.1 200 OK" in head
    assert b"Transfer-Encoding: chunked" in head
    assert body == b"9\r\nHTTP/1.1 \r\n9\r\ncan send \r\n7\r\na body \r\na\r\nin pieces\n\r\n0\r\n\r\n"


def test_trailers_route_sends_a_trailer_field(server: DemoServer) -> None:
    raw = curl("--raw", "-i", f"{server.url}/trailers").stdout
    assert b"Trailer: X-Checksum\r\n" in raw
    digest = hashlib.sha256(TRAILER_BODY).hexdigest().encode()
    # the trailer section sits after the last (zero-size) chunk
    assert raw.endswith(b"\r\n0\r\nX-Checksum: sha256=" + digest + b"\r\n\r\n")


def test_upload_sends_100_continue_then_reports_the_length(server: DemoServer, tmp_path: Path) -> None:
    payload = tmp_path / "payload.bin"
    payload.write_bytes(bytes(range(256)) * 20)
    result = curl("-i", "-H", "Expect: 100-continue", "--data-binary", f"@{payload}", f"{server.url}/upload")
    out = result.stdout.decode()
    assert out.startswith("HTTP/1.1 100 Continue\r\n")
    assert "HTTP/1.1 200 OK" in out
    assert "received 5120 bytes after 100 Continue" in out


def test_upload_too_large_is_refused_before_the_body(server: DemoServer, tmp_path: Path) -> None:
    payload = tmp_path / "big.bin"
    payload.write_bytes(b"x" * (2 * 1024 * 1024))
    result = curl("-i", "-H", "Expect: 100-continue", "--data-binary", f"@{payload}", f"{server.url}/upload")
    out = result.stdout.decode()
    assert out.startswith("HTTP/1.1 413 ")
    assert "100 Continue" not in out
    assert "Connection: close" in out


def test_head_gets_the_headers_of_get_and_no_body(server: DemoServer) -> None:
    get = curl("-i", f"{server.url}/cached").stdout
    head = curl("-I", f"{server.url}/cached").stdout
    assert b"Content-Length: 64" in head
    assert head.endswith(b"\r\n\r\n")  # nothing after the header block
    assert get.split(b"\r\n\r\n", 1)[1].startswith(b"a cacheable body")


def test_nocontent_is_204_without_a_body(server: DemoServer) -> None:
    raw = curl("-i", f"{server.url}/nocontent").stdout
    assert raw.startswith(b"HTTP/1.1 204 No Content\r\n")
    assert b"Content-Length" not in raw
    assert raw.endswith(b"\r\n\r\n")


def test_cached_answers_304_for_a_matching_etag(server: DemoServer) -> None:
    first = curl("-i", f"{server.url}/cached").stdout
    assert b"ETag: " + ETAG in first
    again = curl("-i", "-H", "If-None-Match: W/" + ETAG.decode(), f"{server.url}/cached").stdout
    assert again.startswith(b"HTTP/1.1 304 Not Modified\r\n")
    other = curl("-i", "-H", 'If-None-Match: "something-else"', f"{server.url}/cached").stdout
    assert other.startswith(b"HTTP/1.1 200 OK\r\n")


def test_close_route_closes_the_connection(server: DemoServer) -> None:
    result = curl("-v", f"{server.url}/close", f"{server.url}/")
    assert b"Connection: close" in result.stderr
    # the second request needed a new connection
    assert result.stderr.count(b"Connected to") == 2


def test_slow_route_arrives_in_pieces(server: DemoServer) -> None:
    started = time.monotonic()
    out = curl(f"{server.url}/slow").stdout
    assert out == b"one\ntwo\nthree\nfour\n"
    assert time.monotonic() - started >= 3 * server.slow_delay


def test_unknown_route_and_wrong_method(server: DemoServer) -> None:
    assert curl("-i", f"{server.url}/nope").stdout.startswith(b"HTTP/1.1 404 Not Found")
    wrong = curl("-i", "-X", "DELETE", f"{server.url}/chunked").stdout
    assert wrong.startswith(b"HTTP/1.1 405 Method Not Allowed")
    assert b"Allow: GET, HEAD" in wrong


# -- http.client ----------------------------------------------------------------------------------


def test_http_client_walks_the_routes_on_one_connection(server: DemoServer) -> None:
    conn = client(server)
    try:
        conn.request("GET", "/")
        index = conn.getresponse()
        assert index.status == 200 and b"/upgrade" in index.read()
        first_socket = conn.sock
        conn.request("GET", "/chunked")
        chunked = conn.getresponse()
        assert chunked.getheader("Transfer-Encoding") == "chunked"
        assert chunked.read() == b"HTTP/1.1 can send a body in pieces\n"
        conn.request("HEAD", "/trailers")
        head = conn.getresponse()
        assert head.status == 200 and head.read() == b""
        conn.request("GET", "/nocontent")
        nocontent = conn.getresponse()
        assert nocontent.status == 204 and nocontent.read() == b""
        conn.request("GET", "/cached", headers={"If-None-Match": ETAG.decode()})
        cached = conn.getresponse()
        assert cached.status == 304 and cached.read() == b""
        conn.request("PUT", "/upload", body=b"abc" * 100)
        upload = conn.getresponse()
        assert upload.read().startswith(b"received 300 bytes; sha256 ")
        # every request so far shared the first socket: the server kept the connection alive
        assert conn.sock is first_socket is not None
        conn.request("GET", "/close")
        closing = conn.getresponse()
        assert closing.getheader("Connection") == "close"
        closing.read()
        assert conn.sock is None  # http.client saw Connection: close and let the socket go
    finally:
        conn.close()


def test_several_connections_are_served_at_once(server: DemoServer) -> None:
    def fetch_slow() -> bytes:
        conn = client(server)
        try:
            conn.request("GET", "/slow")
            return conn.getresponse().read()
        finally:
            conn.close()

    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=6) as pool:
        bodies = list(pool.map(lambda _: fetch_slow(), range(6)))
    elapsed = time.monotonic() - started
    assert bodies == [b"one\ntwo\nthree\nfour\n"] * 6
    # one after another would take 6 x 3 pauses; served side by side, barely more than one response
    assert elapsed < 6 * 3 * server.slow_delay


def test_upgrade_switches_to_echo_and_keeps_the_leftover_bytes(server: DemoServer) -> None:
    with socket.create_connection((server.host, server.port), timeout=5) as sock:
        # the first echo bytes travel in the same packet as the request: they are trailing_data
        sock.sendall(b"GET /upgrade HTTP/1.1\r\nHost: demo\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\nhello ")
        received = b""
        while b"hello " not in received:
            chunk = sock.recv(4096)
            assert chunk
            received += chunk
        assert received.startswith(b"HTTP/1.1 101 Switching Protocols\r\n")
        assert b"Upgrade: echo\r\n" in received
        assert received.endswith(b"\r\n\r\nhello ")
        sock.sendall(b"\x00raw bytes\xff")
        echoed = b""
        while len(echoed) < 11:
            echoed += sock.recv(4096)
        assert echoed == b"\x00raw bytes\xff"


def test_upgrade_without_the_header_gets_426(server: DemoServer) -> None:
    conn = client(server)
    try:
        conn.request("GET", "/upgrade")
        response = conn.getresponse()
        assert response.status == 426
        assert response.getheader("Upgrade") == "echo"
        response.read()
    finally:
        conn.close()


def test_malformed_request_gets_400_and_a_close(server: DemoServer) -> None:
    with socket.create_connection((server.host, server.port), timeout=5) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: demo\r\nBad Header : x\r\n\r\n")
        received = b""
        while chunk := sock.recv(4096):
            received += chunk
    assert received.startswith(b"HTTP/1.1 400 Bad Request\r\n")
    assert b"Connection: close" in received


def test_upload_with_a_content_length_of_4300_zeros_and_a_3(server: DemoServer) -> None:
    """The engine may take the zeros (ours does; h11 refuses past 20 characters): the server must
    not fail converting them."""
    with socket.create_connection((server.host, server.port), timeout=5) as sock:
        sock.sendall(b"POST /upload HTTP/1.1\r\nHost: demo\r\nConnection: close\r\nContent-Length: "
                     + b"0" * 4300 + b"3\r\n\r\nabc")
        received = b""
        while chunk := sock.recv(4096):
            received += chunk
    assert received.startswith((b"HTTP/1.1 200 OK\r\n", b"HTTP/1.1 400 Bad Request\r\n")), received
    if server.engine.__name__ == "h11dbg.protocol":
        assert b"received 3 bytes; sha256 " + hashlib.sha256(b"abc").hexdigest().encode() in received


def test_stop_ends_open_connections_promptly() -> None:
    server = DemoServer(load_engine("h11")).start()
    sock = socket.create_connection((server.host, server.port), timeout=5)
    sock.sendall(b"GET /nocontent HTTP/1.1\r\nHost: demo\r\n\r\n")
    assert sock.recv(4096).startswith(b"HTTP/1.1 204 No Content")  # a 204 is one write
    started = time.monotonic()
    server.stop()
    assert time.monotonic() - started < 1.5
    assert sock.recv(4096) == b""  # the idle keep-alive connection was shut down, not left hanging
    sock.close()
    with pytest.raises(OSError):
        socket.create_connection((server.host, server.port), timeout=1)


def test_runs_alone_as_a_module() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    proc = subprocess.Popen(
        [sys.executable, "-m", "h11dbg.demo.server", "--port", str(port), "--engine", "h11"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None
        banner = proc.stdout.readline().decode()
        assert f"http://127.0.0.1:{port}/" in banner
        status = curl(f"http://127.0.0.1:{port}/nocontent", "-o", "/dev/null", "-w", "%{http_code}")
        assert status.stdout == b"204"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_module_refuses_an_unknown_engine() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "h11dbg.demo.server", "--engine", "nope"],
        capture_output=True,
        timeout=20,
    )
    assert result.returncode == 2
    assert result.stderr.decode().strip().startswith("error: unknown engine 'nope'")
    assert b"Traceback" not in result.stderr
