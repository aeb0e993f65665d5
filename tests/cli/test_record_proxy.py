"""h11dbg record: a recording proxy between real clients (curl, http.client, raw sockets) and real
servers (python -m http.server, uvicorn); its files are then replayed."""

from __future__ import annotations

import contextlib
import http.client
import json
import signal
import socket
import struct
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from click.testing import CliRunner
from support.asgi_echo import reply_for
from support.servers import HELLO, Server

from h11dbg import __version__
from h11dbg.cli import main
from h11dbg.transcript import Chunk, Close, Open, open_transcript

CURL = "/usr/bin/curl"
H11DBG = str(Path(sys.executable).with_name("h11dbg"))


def _replay(path: Path, engine: str) -> tuple[int, list[dict]]:
    result = CliRunner().invoke(main, ["replay", str(path), "--json", "--engine", engine])
    return result.exit_code, [json.loads(line) for line in result.output.splitlines() if line.startswith("{")]


def _events(lines: list[dict], conn: int) -> list[str]:
    return [line["event"] for line in lines if line["conn"] == conn and line["event"][0].isupper()]


def test_curl_through_the_proxy_to_http_server(
    http_server: Server, recorder: Callable, engine_name: str
) -> None:
    rec = recorder(http_server.port, "curl.h11t", "--description", "two curl GETs")
    url = f"http://127.0.0.1:{rec.port}"
    out = subprocess.run([CURL, "-s", "-S", f"{url}/hello.txt", f"{url}/missing"], capture_output=True,
                         timeout=30)
    assert out.returncode == 0 and out.stdout.startswith(HELLO)  # forwarded unchanged
    rec.wait_for_closes(4)
    assert rec.stop() == 0
    transcript = open_transcript(rec.output)
    assert transcript.meta.description == "two curl GETs"
    assert transcript.meta.peers == f"127.0.0.1:{rec.port} -> 127.0.0.1:{http_server.port}"
    records = list(transcript)
    opens = [r for r in records if isinstance(r, Open)]
    assert len(opens) == 2  # http.server answers HTTP/1.0 and closes: curl needs a second connection
    assert all(r.server == f"127.0.0.1:{http_server.port}" for r in opens)
    received = b"".join(r.data for r in records if isinstance(r, Chunk) and r.conn == 1 and r.direction == "s2c")
    assert received.endswith(HELLO)
    assert {(r.conn, r.direction) for r in records if isinstance(r, Close)} == {
        (1, "c2s"), (1, "s2c"), (2, "c2s"), (2, "s2c")}
    code, lines = _replay(rec.output, engine_name)
    assert code == 0
    for conn, status in ((1, 200), (2, 404)):
        assert _events(lines, conn) == ["Request", "EndOfMessage", "Response", "Data", "EndOfMessage",
                                        "ConnectionClosed", "ConnectionClosed"]
        assert next(x for x in lines if x["conn"] == conn and x["event"] == "Response")["status_code"] == status
        assert lines[[x["conn"] for x in lines].index(conn)]["event"] == "open"


def test_curl_keep_alive_through_the_proxy_to_uvicorn(
    uvicorn_server: Server, recorder: Callable, engine_name: str
) -> None:
    rec = recorder(uvicorn_server.port)
    url = f"http://127.0.0.1:{rec.port}"
    out = subprocess.run([CURL, "-s", "-S", f"{url}/a", "-d", "posted", f"{url}/b"], capture_output=True,
                         timeout=30)
    assert out.stdout == b"POST /a 6 bytes\nPOST /b 6 bytes\n"
    rec.wait_for_closes(2)
    rec.stop()
    code, lines = _replay(rec.output, engine_name)
    assert code == 0
    assert {line["conn"] for line in lines} == {1}  # one connection, kept alive
    assert _events(lines, 1) == ["Request", "Data", "EndOfMessage", "Response", "Data", "EndOfMessage"] * 2 + [
        "ConnectionClosed", "ConnectionClosed"]
    assert [line["event"] for line in lines].count("cycle") == 2


def test_concurrent_clients_are_recorded_in_full(uvicorn_server: Server, recorder: Callable) -> None:
    rec = recorder(uvicorn_server.port)

    def fetch(index: int) -> bytes:
        conn = http.client.HTTPConnection("127.0.0.1", rec.port, timeout=10)
        body = b"x" * (1000 * index)
        conn.request("POST", f"/c{index}", body=body)
        reply = conn.getresponse().read()
        conn.close()
        return reply

    with ThreadPoolExecutor(8) as pool:
        replies = list(pool.map(fetch, range(8)))
    assert replies == [reply_for("POST", f"/c{i}", 1000 * i) for i in range(8)]
    rec.wait_for_closes(16)
    rec.stop()
    records = list(open_transcript(rec.output))
    conns = {r.conn for r in records}
    assert len(conns) == 8
    for conn in conns:
        sent = b"".join(r.data for r in records if isinstance(r, Chunk) and r.conn == conn and r.direction == "c2s")
        got = b"".join(r.data for r in records if isinstance(r, Chunk) and r.conn == conn and r.direction == "s2c")
        index = int(sent.split(b" /c", 1)[1].split(b" ", 1)[0])
        assert sent.endswith(b"\r\n\r\n" + b"x" * (1000 * index))
        assert got.endswith(b"\r\n\r\n" + reply_for("POST", f"/c{index}", 1000 * index))
    times = [r.time for r in records]
    assert times == sorted(times)


def test_sigterm_mid_request_leaves_a_valid_file(
    uvicorn_server: Server, recorder: Callable, engine_name: str
) -> None:
    rec = recorder(uvicorn_server.port)
    client = socket.create_connection(("127.0.0.1", rec.port), timeout=10)
    client.sendall(b"POST /slow HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nhalf ")
    deadline = time.monotonic() + 5
    while b"half" not in rec.output.read_bytes() and time.monotonic() < deadline:
        time.sleep(0.02)  # the chunk is on disk before the proxy is even stopped
    assert rec.stop(signal.SIGTERM) == 0
    client.close()
    records = list(open_transcript(rec.output))
    assert isinstance(records[0], Open)
    assert b"".join(r.data for r in records if isinstance(r, Chunk)).endswith(b"half ")
    code, lines = _replay(rec.output, engine_name)
    assert code == 0
    assert _events(lines, 1) == ["Request", "Data"]
    assert lines[-1]["event"] == "end" and lines[-1]["states"]["client"] == "SEND_BODY"


def test_half_close_and_reset_are_forwarded_and_recorded(http_server: Server, recorder: Callable) -> None:
    rec = recorder(http_server.port)
    # half-close: the request line, then FIN; the server still answers.  http.server takes the EOF
    # for the end of the header block, so it can only answer once the FIN went through the proxy.
    client = socket.create_connection(("127.0.0.1", rec.port), timeout=10)
    client.sendall(b"GET /hello.txt HTTP/1.0\r\n")
    client.shutdown(socket.SHUT_WR)
    reply = b""
    while chunk := client.recv(65536):
        reply += chunk
    client.close()
    assert reply.startswith(b"HTTP/1.0 200") and reply.endswith(HELLO)
    # reset: the client aborts with an RST
    client = socket.create_connection(("127.0.0.1", rec.port), timeout=10)
    client.sendall(b"GET /hello.txt HTTP/1.1\r\nHost: x\r\n")
    time.sleep(0.2)
    client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    client.close()
    rec.wait_for_closes(3)
    rec.stop()
    records = list(open_transcript(rec.output))
    first = [r for r in records if r.conn == 1]
    closes = [r for r in first if isinstance(r, Close)]
    assert closes[0] == Close(1, "c2s", closes[0].time)  # the client's FIN came before the answer
    answer = next(i for i, r in enumerate(first) if isinstance(r, Chunk) and r.direction == "s2c")
    assert first.index(closes[0]) < answer
    assert [r for r in records if r.conn == 2 and isinstance(r, Close)][0].reset


def test_refuses_to_overwrite_without_force(http_server: Server, recorder: Callable, tmp_path: Path) -> None:
    existing = tmp_path / "rec.h11t"
    existing.write_text("an earlier recording")
    refused = subprocess.run([H11DBG, "record", "--listen", "127.0.0.1:0", "--upstream",
                              f"127.0.0.1:{http_server.port}", "-o", str(existing)], capture_output=True, text=True,
                             timeout=30)
    assert refused.returncode == 2 and "refusing to overwrite" in refused.stderr
    assert existing.read_text() == "an earlier recording"
    rec = recorder(http_server.port, "rec.h11t", "--force")
    rec.stop()
    assert open_transcript(existing).meta.tool == f"h11dbg {__version__} record"


def test_busy_listen_port_is_a_network_error_and_leaves_no_file(tmp_path: Path) -> None:
    output = tmp_path / "never.h11t"
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        argv = [H11DBG, "record", "--listen", f"127.0.0.1:{port}", "--upstream", "127.0.0.1:9", "-o", str(output)]
        result = subprocess.run(argv, capture_output=True, text=True, timeout=30)
        assert result.returncode == 3
        assert f"cannot listen on 127.0.0.1:{port}" in result.stderr and "Traceback" not in result.stderr
        assert not output.exists()
        output.write_text("an earlier recording")
        forced = subprocess.run([*argv, "--force"], capture_output=True, text=True, timeout=30)
        assert forced.returncode == 3 and output.read_text() == "an earlier recording"  # a failed start keeps it
    output.unlink()
    bad = subprocess.run([H11DBG, "record", "--listen", "127.0.0.1:0", "--upstream", "nowhere:x", "-o",
                          str(output)], capture_output=True, text=True, timeout=30)
    assert bad.returncode == 2 and "bad port" in bad.stderr


def test_unreachable_upstream_is_recorded_as_a_reset(tmp_path: Path, recorder: Callable) -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        dead_port = closed.getsockname()[1]  # nothing listens once this socket is closed
    rec = recorder(dead_port)
    # the proxy passes the failure on as a reset; on loopback it may even beat connect()'s return
    with contextlib.suppress(ConnectionResetError), socket.create_connection(("127.0.0.1", rec.port),
                                                                             timeout=10) as client:
        assert client.recv(10) == b""
    rec.wait_for_closes(1)
    rec.stop()
    records = list(open_transcript(rec.output))
    assert isinstance(records[0], Open) and records[1] == Close(1, "s2c", records[1].time, reset=True)
    assert any("failed" in line for line in rec.log)
