"""h11dbg record under faults and load, with real sockets on both sides: resets (RST, sent with
SO_LINGER 0) and half-closes passed through at once in both directions, slowloris connections reset
by --idle-timeout, --max-connections refusing with a reset, and 400 concurrent connections recorded
with every byte at both ends and in the transcript."""

from __future__ import annotations

import contextlib
import errno
import select
import selectors
import socket
import ssl
import struct
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from bench.faults import accept_each
from h11dbg.transcript import Chunk, Close, Open, Record, open_transcript
from h11dbg.transcript.model import other_direction

# a reset or a half-close must be through the proxy within this (it takes milliseconds)
PROMPTLY = 1.0


def _rst(sock: socket.socket) -> None:
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


class Upstream:
    """A raw TCP server on 127.0.0.1: each accepted socket is put on :attr:`accepted` for the test."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0), backlog=64)
        self.sock.settimeout(0.2)
        self.port: int = self.sock.getsockname()[1]
        self.accepted: list[socket.socket] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=accept_each, args=(self.sock, self._stop, self.accepted.append),
                                        daemon=True)
        self._thread.start()

    def next(self, index: int, timeout: float = 5.0) -> socket.socket:
        deadline = time.monotonic() + timeout
        while len(self.accepted) <= index:
            assert time.monotonic() < deadline, "the proxy never connected upstream"
            time.sleep(0.01)
        conn = self.accepted[index]
        conn.settimeout(5)
        return conn

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        self.sock.close()
        for conn in self.accepted:
            conn.close()


@pytest.fixture
def upstream() -> Iterator[Upstream]:
    server = Upstream()
    yield server
    server.close()


def _read_all(sock: socket.socket) -> bytes:
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data


def _records(path: Path) -> list[Record]:
    return list(open_transcript(path))


def _ends(records: list[Record], conn: int) -> list[tuple[str, bool]]:
    return [(r.direction, r.reset) for r in records if isinstance(r, Close) and r.conn == conn]


def _upload_started(client: socket.socket, upstream: Upstream) -> socket.socket:
    """Send 5 of a 100-byte upload through the proxy; the upstream's socket once it has them."""
    client.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nhello")
    server = upstream.next(0)
    got = b""
    while not got.endswith(b"hello"):
        got += server.recv(1000)
    return server


def test_upstream_reset_mid_response_reaches_the_client_at_once(upstream: Upstream, recorder: Callable) -> None:
    rec = recorder(upstream.port)
    client = socket.create_connection(("127.0.0.1", rec.port), timeout=10)
    client.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    server = upstream.next(0)
    assert server.recv(1000).startswith(b"GET /")
    server.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nhello")
    assert client.recv(1000).endswith(b"hello")
    started = time.monotonic()
    _rst(server)  # mid-response: 5 of 100 body bytes sent
    with pytest.raises(ConnectionResetError):
        client.recv(1000)  # was: still waiting after 15 s
    assert time.monotonic() - started < PROMPTLY
    client.close()
    rec.wait_for_closes(1)
    assert rec.stop() == 0
    records = _records(rec.output)
    assert _ends(records, 1) == [("s2c", True)]  # one end, nothing after the reset
    assert isinstance(records[-1], Close)
    assert any("conn 1: s2c reset" in line for line in rec.log)


def test_client_reset_mid_upload_reaches_the_upstream_at_once(upstream: Upstream, recorder: Callable) -> None:
    rec = recorder(upstream.port)
    client = socket.create_connection(("127.0.0.1", rec.port), timeout=10)
    server = _upload_started(client, upstream)
    started = time.monotonic()
    _rst(client)  # mid-upload
    with pytest.raises(ConnectionResetError):
        server.recv(1000)  # was: never told
    assert time.monotonic() - started < PROMPTLY
    rec.wait_for_closes(1)
    assert rec.stop() == 0
    assert _ends(_records(rec.output), 1) == [("c2s", True)]


def test_a_reset_after_a_half_close_still_reaches_the_upstream(upstream: Upstream, recorder: Callable) -> None:
    rec = recorder(upstream.port)
    client = socket.create_connection(("127.0.0.1", rec.port), timeout=10)
    client.sendall(b"GET / HTTP/1.0\r\n\r\n")
    client.shutdown(socket.SHUT_WR)
    server = upstream.next(0)
    assert _read_all(server) == b"GET / HTTP/1.0\r\n\r\n"  # the FIN came through
    started = time.monotonic()
    _rst(client)  # nothing more to read from it, but its reset must still be passed on
    # past its FIN a read says b"" for ever: the reset shows as the socket's error
    poller = select.poll()
    poller.register(server, select.POLLERR)
    assert poller.poll(PROMPTLY * 1000), "the upstream was never told"
    # an RST after the peer's FIN: Linux reports EPIPE for it (tcp_reset in CLOSE_WAIT)
    assert server.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) in (errno.ECONNRESET, errno.EPIPE)
    assert time.monotonic() - started < PROMPTLY
    rec.wait_for_closes(2)
    assert rec.stop() == 0
    assert _ends(_records(rec.output), 1) == [("c2s", False), ("c2s", True)]  # its close, then its reset


def test_slowloris_connections_are_reset_by_the_idle_timeout(upstream: Upstream, recorder: Callable) -> None:
    rec = recorder(upstream.port, "rec.h11t", "--idle-timeout", "0.5")
    slow = [socket.create_connection(("127.0.0.1", rec.port), timeout=10) for _ in range(30)]
    for sock in slow:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")  # a head never finished
    talker = socket.create_connection(("127.0.0.1", rec.port), timeout=10)
    started = time.monotonic()
    for _ in range(6):  # a byte every 0.2 s: never idle for 0.5 s, so never reset
        talker.sendall(b".")
        time.sleep(0.2)
    for sock in slow:
        with pytest.raises(ConnectionResetError):
            sock.recv(100)
    assert time.monotonic() - started < 0.5 + PROMPTLY + 1.2
    talker.sendall(b"still here")
    rec.wait_for_closes(30)
    deadline = time.monotonic() + 5
    while b"still here" not in rec.output.read_bytes():
        assert time.monotonic() < deadline
        time.sleep(0.02)
    assert rec.stop() == 0  # before the talker is idle for long
    talker.close()
    records = _records(rec.output)
    talker_conn = next(r.conn for r in records if isinstance(r, Chunk) and r.data == b"still here")
    for conn in {r.conn for r in records} - {talker_conn}:
        assert _ends(records, conn) == [("s2c", True)]  # what the client saw: the server side reset
    assert _ends(records, talker_conn) == []
    assert sum("idle for 0.5 s: both sides reset" in line for line in rec.log) == 30
    assert "30 reset after --idle-timeout 0.5" in rec.log[-1]


def test_connections_over_the_cap_are_refused_with_a_reset(upstream: Upstream, recorder: Callable) -> None:
    rec = recorder(upstream.port, "rec.h11t", "--max-connections", "3")
    held = [socket.create_connection(("127.0.0.1", rec.port), timeout=10) for _ in range(3)]
    for index in range(3):
        upstream.next(index)  # all three are relayed
    # on loopback the RST may even beat connect()'s return
    with pytest.raises(ConnectionResetError), socket.create_connection(("127.0.0.1", rec.port), timeout=10) as over:
        over.recv(100)
    for sock in held:
        sock.close()
    for index in range(3):
        upstream.next(index).close()
    deadline = time.monotonic() + 5
    while True:  # once those three are closed through, a new connection is relayed again
        try:
            with socket.create_connection(("127.0.0.1", rec.port), timeout=0.5) as again:
                again.recv(100)
        except TimeoutError:
            break  # relayed: the proxy waits for the server to say something
        except ConnectionResetError:
            pass
        assert time.monotonic() < deadline, "no slot was freed"
        time.sleep(0.05)
    assert rec.stop() == 0
    records = [r for r in _records(rec.output) if r.conn == 4]
    assert isinstance(records[0], Open) and records[0].server == f"127.0.0.1:{upstream.port}"
    assert records[1:] == [Close(4, "s2c", records[1].time, reset=True)]
    refused = [line for line in rec.log if line.startswith("conn ") and "refused" in line]
    assert refused[0] == "conn 4: refused (reset): 3 connections open, the --max-connections limit\n"
    assert f"{len(refused)} refused at --max-connections 3" in rec.log[-1]


# -- 400 concurrent connections ------------------------------------------------------------------

@dataclass(eq=False)
class _End:
    sock: socket.socket
    server: bool
    outgoing: bytes = b""
    received: bytearray = field(default_factory=bytearray)
    sent: int = 0
    index: int = -1


def _payload(kind: bytes, index: int, size: int) -> bytes:
    head = kind + b" %04d\n" % index
    filler = b"0123456789abcdef" * (size // 16)  # printable, so the transcript stays small
    return head + bytes(range(256)) + filler + head  # every byte value, and the index at both ends


def test_400_concurrent_connections_are_recorded_with_no_byte_lost(recorder: Callable) -> None:
    count, size = 400, 8192
    listener = socket.create_server(("127.0.0.1", 0), backlog=1024)
    listener.setblocking(False)
    rec = recorder(listener.getsockname()[1])
    selector = selectors.DefaultSelector()
    selector.register(listener, selectors.EVENT_READ)
    clients, servers = [], []
    for index in range(count):  # every connect at once: the proxy's backlog must hold them all
        sock = socket.socket()
        sock.setblocking(False)
        sock.connect_ex(("127.0.0.1", rec.port))
        end = _End(sock, False, _payload(b"client", index, size), index=index)
        clients.append(end)
        selector.register(sock, selectors.EVENT_READ | selectors.EVENT_WRITE, end)
    started = time.monotonic()
    finished = 0
    while finished < 2 * count:
        assert time.monotonic() - started < 60, f"only {finished} of {2 * count} ends finished"
        for key, mask in selector.select(1):
            if key.fileobj is listener:
                with contextlib.suppress(BlockingIOError):
                    sock, _ = listener.accept()
                    sock.setblocking(False)
                    end = _End(sock, True)
                    servers.append(end)
                    selector.register(sock, selectors.EVENT_READ, end)
                continue
            end = key.data
            if mask & selectors.EVENT_WRITE:
                end.sent += end.sock.send(end.outgoing[end.sent:])
                if end.sent == len(end.outgoing):
                    if end.server:
                        end.sock.close()
                        selector.unregister(end.sock)
                        finished += 1
                        continue
                    end.sock.shutdown(socket.SHUT_WR)
                    selector.modify(end.sock, selectors.EVENT_READ, end)
            if mask & selectors.EVENT_READ:
                data = end.sock.recv(65536)
                end.received += data
                if data:
                    continue
                if end.server:  # the whole request is in: answer, then close
                    end.index = int(end.received[7:11])
                    end.outgoing = _payload(b"server", end.index, size)
                    selector.modify(end.sock, selectors.EVENT_WRITE, end)
                else:
                    selector.unregister(end.sock)
                    end.sock.close()
                    finished += 1
    elapsed = time.monotonic() - started
    selector.close()
    listener.close()
    rec.wait_for_closes(2 * count)
    assert rec.stop() == 0
    by_index = {end.index: end for end in servers}
    assert sorted(by_index) == list(range(count))
    for client in clients:  # both ends: every byte arrived
        assert bytes(by_index[client.index].received) == client.outgoing
        assert bytes(client.received) == by_index[client.index].outgoing
    records = _records(rec.output)
    sent: dict[tuple[int, str], bytearray] = {}
    for r in records:
        if isinstance(r, Chunk):
            sent.setdefault((r.conn, r.direction), bytearray()).extend(r.data)
    assert len({r.conn for r in records}) == count
    for conn in {r.conn for r in records}:  # and in the transcript
        index = int(sent[conn, "c2s"][7:11])
        assert bytes(sent[conn, "c2s"]) == clients[index].outgoing
        assert bytes(sent[conn, "s2c"]) == by_index[index].outgoing
        assert _ends(records, conn) in ([("c2s", False), ("s2c", False)], [("s2c", False), ("c2s", False)])
    assert elapsed < 20, f"{count} connections took {elapsed:.1f} s"


@pytest.mark.parametrize(("option", "value"), [("--idle-timeout", "nan"), ("--idle-timeout", "inf"),
                                               ("--idle-timeout", "-1"), ("--max-connections", "0")])
def test_limits_must_be_sensible(h11dbg: Callable, tmp_path: Path, option: str, value: str) -> None:
    result = h11dbg(["record", "--listen", "127.0.0.1:0", "--upstream", "127.0.0.1:9", "-o",
                     str(tmp_path / "never.h11t"), f"{option}={value}"])
    said = f"h11dbg: {option} must be" if option == "--idle-timeout" else f"Invalid value for '{option}'"
    assert result.returncode == 2 and said in result.stderr
    assert "Traceback" not in result.stderr and not (tmp_path / "never.h11t").exists()


def test_a_client_reset_over_tls_reaches_the_upstream_as_a_reset(upstream: Upstream, recorder: Callable) -> None:
    """OpenSSL reads a TCP reset under TLS as the same EOF as a FIN without close_notify; record used to
    pass it on as a clean close (the upstream saw a FIN, the transcript a close).  Found by the fault table's
    ``record --tls`` rows."""
    rec = recorder(upstream.port, "rec.h11t", "--tls")
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    client = context.wrap_socket(socket.create_connection(("127.0.0.1", rec.port), timeout=10),
                                 server_hostname="localhost")
    server = _upload_started(client, upstream)
    started = time.monotonic()
    _rst(client)  # mid-upload, no close_notify
    with pytest.raises(ConnectionResetError):
        server.recv(1000)  # was: b"" (a FIN)
    assert time.monotonic() - started < PROMPTLY
    rec.wait_for_closes(1)
    assert rec.stop() == 0
    assert _ends(_records(rec.output), 1) == [("c2s", True)]
    assert any("conn 1: c2s reset" in line for line in rec.log)


def _tls_client(port: int, cafile: Path) -> ssl.SSLSocket:
    context = ssl.create_default_context(cafile=str(cafile))
    return context.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=10), server_hostname="localhost")


def _tls_server(conn: socket.socket, files: dict[str, Path]) -> ssl.SSLSocket:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(str(files["cert"]), str(files["key"]))
    return context.wrap_socket(conn, server_side=True)


def _half_close(sock: socket.socket) -> None:
    """Stop sending: a FIN, or under TLS a close_notify without waiting for the peer's (which unwrap() does
    when blocking, discarding what the peer still sends)."""
    if not isinstance(sock, ssl.SSLSocket):
        sock.shutdown(socket.SHUT_WR)
        return
    sock.setblocking(False)
    with contextlib.suppress(ssl.SSLWantReadError):
        sock.unwrap()
    sock.settimeout(10)


def _at_end(sock: socket.socket) -> bool:
    """Whether the peer has stopped sending (Python raises the end of TLS once it has sent its own)."""
    try:
        return sock.recv(100) == b""
    except ssl.SSLZeroReturnError:
        return True


@pytest.mark.parametrize("tls_side", ["none", "client", "upstream"])
def test_half_closes_pass_through_at_once_both_ways(upstream: Upstream, recorder: Callable,
                                                    trustme_files: dict[str, Path], tls_side: str) -> None:
    """A FIN is passed on as a FIN; to or from a TLS side a half-close is TLS's own, a close_notify (RFC 8446
    §6.1: it ends its sender's writing, not its reading).  record used to pass none to a TLS side: behind
    ``record --tls`` a TLS client never learnt that a plain server had half-closed, so a close-delimited
    response never ended."""
    if tls_side == "none":
        rec = recorder(upstream.port)
        client: socket.socket = socket.create_connection(("127.0.0.1", rec.port), timeout=10)
        server: socket.socket = upstream.next(0)
    elif tls_side == "client":
        rec = recorder(upstream.port, "rec.h11t", "--tls", "--cert", str(trustme_files["cert"]),
                       "--key", str(trustme_files["key"]))
        client = _tls_client(rec.port, trustme_files["ca"])
        server = upstream.next(0)
    else:
        rec = recorder(upstream.port, "rec.h11t", "--upstream-tls", "--cafile", str(trustme_files["ca"]),
                       "--sni", "localhost")
        client = socket.create_connection(("127.0.0.1", rec.port), timeout=10)
        server = _tls_server(upstream.next(0), trustme_files)

    # one side stops sending first, while the other still may, and does; the first half-close must reach
    # a TLS side at once (the second one ends the connection, which would tell it anyway)
    first, then = (client, server) if tls_side == "upstream" else (server, client)
    for data, closing, told in ((b"first", first, then), (b"after the close", then, first)):
        then.sendall(data)
        assert first.recv(100) == data
        started = time.monotonic()
        _half_close(closing)
        assert _at_end(told)
        assert time.monotonic() - started < PROMPTLY
    client.close()
    server.close()
    rec.wait_for_closes(2)
    assert rec.stop() == 0
    records = _records(rec.output)
    said = "s2c" if tls_side == "upstream" else "c2s"
    assert _ends(records, 1) == [(other_direction(said), False), (said, False)]
    assert [r.data for r in records if isinstance(r, Chunk)] == [b"first", b"after the close"]
    assert {r.direction for r in records if isinstance(r, Chunk)} == {said}


def test_curl_gets_a_close_delimited_response_through_record_tls(upstream: Upstream, recorder: Callable,
                                                                  trustme_files: dict[str, Path],
                                                                  h11dbg: Callable) -> None:
    """The way it was found: curl over TLS to ``record --tls`` in front of a plain server whose response
    ends when it closes.  curl waited for the end of the body until --idle-timeout reset it (300 s)."""
    import subprocess

    rec = recorder(upstream.port, "rec.h11t", "--tls", "--cert", str(trustme_files["cert"]),
                   "--key", str(trustme_files["key"]))
    curl = subprocess.Popen(["curl", "-sS", "--cacert", str(trustme_files["ca"]), f"https://localhost:{rec.port}/"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        server = upstream.next(0)
        head = b""
        while not head.endswith(b"\r\n\r\n"):
            head += server.recv(1)
        server.sendall(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nthe body, to the close\n")
        server.close()
        out, err = curl.communicate(timeout=10)
    finally:
        curl.kill()
    assert (curl.returncode, out, err) == (0, b"the body, to the close\n", b"")
    rec.wait_for_closes(2)
    assert rec.stop() == 0
    replay = h11dbg(["replay", str(rec.output)])
    assert replay.returncode == 0 and "all parsed cleanly" in replay.stderr
    assert "200 OK" in replay.stdout
