"""A reset in the middle of a message, recorded by `connect`/`listen --record` against real peers
that reset (SO_LINGER 0): one end per direction in the file, and `replay` says the message was cut
short by the reset, with how many of how many bytes, and exits 1 — for our transcripts and for the
same traffic as a pcap."""

from __future__ import annotations

import json
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from h11dbg.transcript import Close, Record, open_transcript

Run = Callable[..., subprocess.CompletedProcess[str]]
RESPONSE_HEAD = b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n"
REQUEST_HEAD = b"POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n"


def _rst(sock: socket.socket) -> None:
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


@pytest.fixture
def resetting_server() -> Iterator[int]:
    """A server that answers a request with 5 of its 100 body bytes, then resets."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(20)

    def serve() -> None:
        try:
            conn, _ = listener.accept()
        except OSError:
            return
        conn.settimeout(10)
        request = b""
        while b"\r\n\r\n" not in request:
            request += conn.recv(1000)
        conn.sendall(RESPONSE_HEAD + b"hello")
        time.sleep(0.3)  # read by then: Linux drops received bytes not yet read when an RST arrives
        _rst(conn)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield listener.getsockname()[1]
    listener.close()
    thread.join(5)


def _ends(records: list[Record]) -> list[tuple[str, bool]]:
    return [(r.direction, r.reset) for r in records if isinstance(r, Close)]


def _cut_short_replay(h11dbg: Run, path: Path, engine: str, what: str) -> None:
    result = h11dbg(["replay", str(path), "--engine", engine])
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"the {what} was cut short by the reset: 5 of its 100 body bytes arrived" in result.stdout
    assert "1 connection(s), 1 with a protocol error" in result.stderr


def test_connect_record_a_response_cut_short_by_a_reset(h11dbg: Run, resetting_server: int, tmp_path: Path,
                                                        each_engine: str) -> None:
    path = tmp_path / "cut.h11t"
    live = h11dbg(["connect", f"127.0.0.1:{resetting_server}", "--record", str(path)],
                  stdin="request GET / Host: x\neom\nrun\n")
    assert live.returncode == 3, live.stdout + live.stderr  # the reset is a network error
    records = list(open_transcript(path))
    assert _ends(records) == [("s2c", True)]  # was: and then `close 1 c2s`, our socket's own close
    _cut_short_replay(h11dbg, path, each_engine, "response")
    # the same traffic as a capture: the RST is in the packets, and replay says the same
    pcap = tmp_path / "cut.pcap"
    assert h11dbg(["convert", str(path), str(pcap)]).returncode == 0
    _cut_short_replay(h11dbg, pcap, each_engine, "response")


def test_listen_record_a_request_cut_short_by_a_reset(h11dbg: Run, tmp_path: Path) -> None:
    path = tmp_path / "upload.h11t"
    script = tmp_path / "serve.h11"
    script.write_text("run\n")
    proc = subprocess.Popen([sys.executable, "-m", "h11dbg", "listen", "127.0.0.1:0", "--json", "--record", str(path),
                             "--script", str(script)], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        port = int(json.loads(proc.stdout.readline())["text"].split()[2].rsplit(":", 1)[1])
        client = socket.create_connection(("127.0.0.1", port), timeout=10)
        client.sendall(REQUEST_HEAD + b"hello")
        time.sleep(0.3)  # the server has read them
        _rst(client)
        out, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 3, out + err  # the reset is a network error
    assert _ends(list(open_transcript(path))) == [("c2s", True)]
    _cut_short_replay(h11dbg, path, "h11dbg", "request")


CLEAN = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"


@pytest.mark.parametrize(("s2c", "said"), [
    (RESPONSE_HEAD + b"hello", "the response was cut short by the reset: 5 of its 100 body bytes arrived"),
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n",
     "the response was cut short by the reset: its body's last chunk never came"),
    (b"HTTP/1.1 200 OK\r\nContent-", "the response was cut short by the reset: its head is incomplete (25 bytes)"),
    (CLEAN, None),  # a reset between messages cuts nothing short
])
def test_replay_says_what_a_reset_cut_short(h11dbg: Run, tmp_path: Path, each_engine: str, s2c: bytes,
                                            said: str | None) -> None:
    path = tmp_path / "cut.h11t"
    path.write_bytes(b"h11dbg-transcript 1\n\nopen 1 at 0.0 client 127.0.0.1:5000 server 127.0.0.1:80\n"
                     b"c2s 1 at 0.1 len 27\n| GET / HTTP/1.1\\r\\n\n| Host: x\\r\\n\n| \\r\\n\n"
                     + b"s2c 1 at 0.2 len %d\n| " % len(s2c) + s2c.replace(b"\r\n", b"\\r\\n\n| ").rstrip(b"| ")
                     + (b"" if s2c.endswith(b"\r\n") else b"\n") + b"reset 1 s2c at 0.3\n"
                     # what h11dbg wrote before it recorded one end per direction: ignored
                     + b"close 1 c2s at 0.4\n")
    result = h11dbg(["replay", str(path), "--engine", each_engine])
    assert "1 connection(s)" in result.stderr  # the close after the reset makes no second connection
    if said is None:
        assert result.returncode == 0 and "cut short" not in result.stdout
    else:
        assert result.returncode == 1 and said in result.stdout, result.stdout
