"""The recorder's integrity runs: ``h11dbg record`` between real clients and a real upstream on 127.0.0.1,
every byte compared at three points, then killed mid-stream.

Usage (``make integrity`` runs the default)::

    .venv/bin/python bench/integrity.py                       # 100, 400, 1000 connections; 3+3 kills; TERM, INT
    .venv/bin/python bench/integrity.py --connections 20 --kills 1 --json out.json   # the test suite's smoke run
    .venv/bin/python bench/integrity.py --keep /tmp/integrity  # keep the transcripts

One process plays every client and the upstream, over non-blocking sockets (one ``selectors`` loop,
so 1000 connections cost no threads here); ``h11dbg record`` runs as the user runs it, in a child
process.  Each connection follows a plan drawn from a seeded generator, which both of its ends know:
keep-alive requests, large bodies (up to a few MiB, some binary), chunked requests and responses,
pipelined requests, a client that half-closes before the answer, a client that resets mid-upload and
an upstream that resets mid-response.  The upstream knows which plan a connection follows from its
request line (``/i/NNNNNN/``).

Every byte is compared at three points, both ways: what the client sent, what the transcript holds,
what the upstream received (and what the upstream sent, the transcript, what the client received).
A clean connection must have them equal and end with a ``close`` each way; one cut by a reset or a
kill must have them as prefixes of one another (the upstream received a prefix of the transcript,
which is a prefix of what the client sent): a byte that crossed the proxy but is not in the file is
*lost*, a byte in neither place a *mismatch*.

The kill runs start ``record``, drive large bodies both ways on many connections at once and send
SIGKILL when the transcript has grown to a random size (mid-body) or at a random moment while binary
bodies keep the recorder writing (mid-write); then the file on disk is read as it is, and
``h11dbg replay`` runs on it (its exit code and what it says are printed).  SIGTERM and SIGINT runs do
the same and must lose nothing: the recorder exits 0 and the file ends on a whole record.

The recorder's peak RSS is its ``VmHWM``, its threads the most ``Threads`` seen in ``/proc/PID/status``
(sampled every 20 ms).  The exit status is 1 when anything was lost, mismatched, unreadable or stuck.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import os
import platform
import random
import re
import resource
import selectors
import signal
import socket
import ssl
import struct
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

if __package__ in (None, ""):  # run as ``python bench/integrity.py``: make ``h11dbg`` importable from here
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.faults import make_certs  # noqa: E402
from h11dbg.transcript import Chunk, Close, Open, TranscriptError, open_transcript  # noqa: E402

KIB = 1024
MIB = 1024 * 1024
READ = 256 * KIB
RUN_LIMIT = 180.0  # seconds: a run that has not finished by then is stuck (and fails)
PLAIN_KINDS = ("keep-alive", "large", "chunked", "pipelined", "half-closed")
RESET_KINDS = ("client-reset", "upstream-reset")
KINDS = PLAIN_KINDS + RESET_KINDS
_INDEX = re.compile(rb"[A-Z]+ /i/(\d{6})/")


# -- the plans ------------------------------------------------------------------------------------


@dataclass
class Phase:
    request: bytes  # client -> upstream
    response: bytes  # upstream -> client
    reply_after: int  # the upstream starts answering once this many bytes of the request are in


@dataclass
class Plan:
    index: int
    kind: str
    phases: list[Phase]
    client_cut: int | None = None  # the client resets once it has sent this many bytes
    upstream_cut: int | None = None  # the upstream resets once it has sent this many bytes
    half_close: bool = False  # the client half-closes right after its requests, before the answer
    server_closes: bool = False  # the upstream half-closes first (Connection: close)


def _body(rng: random.Random, size: int, binary: bool) -> bytes:
    if binary:
        return rng.randbytes(size)
    line = b"".join(rng.choice((b"abcdefgh", b"0123456789", b" \t", b"\r\n", b"~|\\{}")) for _ in range(16))
    return (line * (size // len(line) + 1))[:size]


def _size(rng: random.Random, large_share: float) -> int:
    draw = rng.random()
    if draw < large_share:
        return rng.randint(256 * KIB, 3 * MIB)
    if draw < large_share + 0.25:
        return rng.randint(4 * KIB, 200 * KIB)
    return rng.randint(0, 4 * KIB)


def _chunked(rng: random.Random, body: bytes) -> bytes:
    out, at = [], 0
    while at < len(body):
        step = rng.randint(1, 40 * KIB)
        out.append(b"%x\r\n%s\r\n" % (len(body[at:at + step]), body[at:at + step]))
        at += step
    return b"".join(out) + b"0\r\n\r\n"


def _request(index: int, number: int, rng: random.Random, size: int, chunked: bool = False,
             binary: bool = False) -> bytes:
    head = b"POST /i/%06d/%d HTTP/1.1\r\nHost: integrity\r\n" % (index, number)
    body = _body(rng, size, binary)
    if not size and not chunked:
        return b"GET /i/%06d/%d HTTP/1.1\r\nHost: integrity\r\n\r\n" % (index, number)
    if chunked:
        return head + b"Transfer-Encoding: chunked\r\n\r\n" + _chunked(rng, body)
    return head + b"Content-Length: %d\r\n\r\n" % size + body


def _response(rng: random.Random, size: int, chunked: bool = False, binary: bool = False,
              close: bool = False) -> bytes:
    head = b"HTTP/1.1 200 OK\r\n" + (b"Connection: close\r\n" if close else b"")
    body = _body(rng, size, binary)
    if chunked:
        return head + b"Transfer-Encoding: chunked\r\n\r\n" + _chunked(rng, body)
    return head + b"Content-Length: %d\r\n\r\n" % size + body


def plan_for(index: int, kind: str, rng: random.Random, large_share: float = 0.01) -> Plan:
    """One connection's exchanges; a ``large`` one has bodies of 256 KiB to 1 MiB both ways."""
    binary = rng.random() < 0.3

    def size() -> int:
        return rng.randint(256 * KIB, 1 * MIB) if kind == "large" else _size(rng, large_share)

    def phase(number: int, chunked: bool = False, close: bool = False) -> Phase:
        request = _request(index, number, rng, size(), chunked, binary)
        return Phase(request, _response(rng, size(), chunked, binary, close), len(request))

    if kind == "pipelined":
        requests = [_request(index, n, rng, _size(rng, 0), binary=binary) for n in range(rng.randint(2, 6))]
        responses = [_response(rng, _size(rng, 0), binary=binary) for _ in requests]
        return Plan(index, kind, [Phase(b"".join(requests), b"".join(responses), len(b"".join(requests)))])
    if kind == "half-closed":
        return Plan(index, kind, [phase(1, close=True)], half_close=True)
    if kind == "client-reset":
        request = _request(index, 1, rng, rng.randint(8 * KIB, 512 * KIB), binary=binary)
        cut = rng.randint(len(request) // 4, len(request) - 1)
        return Plan(index, kind, [Phase(request, _response(rng, 100), len(request))], client_cut=cut)
    if kind == "upstream-reset":
        first = phase(1)
        response = _response(rng, rng.randint(8 * KIB, 512 * KIB), binary=binary)
        request = _request(index, 2, rng, _size(rng, 0), binary=binary)
        cut = len(first.response) + rng.randint(len(response) // 4, len(response) - 1)
        return Plan(index, kind, [first, Phase(request, response, len(request))], upstream_cut=cut)
    chunked = kind == "chunked"
    count = rng.randint(2, 5) if kind == "keep-alive" else 1
    server_closes = rng.random() < 0.5
    return Plan(index, kind, [phase(n + 1, chunked, close=server_closes and n == count - 1) for n in range(count)],
                server_closes=server_closes)


def stream_plan(index: int, rng: random.Random, size: int, binary: bool) -> Plan:
    """A large upload and a large download at once (the upstream answers as soon as the head is in):
    both directions are mid-body for most of the connection's life."""
    head = b"POST /i/%06d/1 HTTP/1.1\r\nHost: integrity\r\nContent-Length: %d\r\n\r\n" % (index, size)
    request = head + _body(rng, size, binary)
    return Plan(index, "stream", [Phase(request, _response(rng, size, binary=binary), len(head))])


def mixed_plans(count: int, seed: int) -> list[Plan]:
    rng = random.Random(seed)
    return [plan_for(index, KINDS[index % len(KINDS)], rng) for index in range(count)]


# -- the traffic -----------------------------------------------------------------------------------


@dataclass
class TLSEnds:
    """TLS on both sides of the recorder: its options, and the contexts of the clients and the upstream
    (the fault table's trustme CA and its certificate for localhost and 127.0.0.1)."""

    client: ssl.SSLContext
    server: ssl.SSLContext
    record_options: list[str]


def tls_ends(directory: Path) -> TLSEnds:
    certs = make_certs(directory)
    return TLSEnds(ssl.create_default_context(cafile=str(certs.ca)), certs.good,
                   ["--tls", "--cert", str(certs.good_cert), "--key", str(certs.good_key),
                    "--upstream-tls", "--cafile", str(certs.ca), "--sni", "localhost"])


@dataclass
class Conn:
    plan: Plan
    out: bytes = b""  # everything the client will send
    back: bytes = b""  # everything the upstream will send
    ends: list[int] = field(default_factory=list)  # cumulative request lengths, per phase
    replies: list[int] = field(default_factory=list)  # cumulative response lengths, per phase
    client_sent: bytearray = field(default_factory=bytearray)
    client_received: bytearray = field(default_factory=bytearray)
    upstream_received: bytearray = field(default_factory=bytearray)
    upstream_sent: bytearray = field(default_factory=bytearray)
    client_port: int = 0
    client_done: bool = False
    upstream_done: bool = False
    upstream_seen: bool = False
    client_shut: bool = False
    upstream_shut: bool = False
    upstream_eof: bool = False
    client_error: str = ""
    upstream_error: str = ""

    def __post_init__(self) -> None:
        self.out = b"".join(p.request for p in self.plan.phases)
        self.back = b"".join(p.response for p in self.plan.phases)
        total = answered = 0
        for p in self.plan.phases:
            total += len(p.request)
            answered += len(p.response)
            self.ends.append(total)
            self.replies.append(answered)


class _Wire:
    """An end's connection as the loop moves it: plain TCP, or TLS over it, an SSLObject on memory BIOs, so
    that one loop moves every handshake and record without blocking.  ``recv`` and ``send`` raise
    BlockingIOError when they cannot go on yet; ``recv`` returns b"" at the end (a FIN, or a close_notify:
    TLS's half-close, which ``shutdown_write`` sends).  Under TLS the bytes before the end may come with it:
    ``ended`` says so, and the next ``recv`` returns b"" at once."""

    def __init__(self, sock: socket.socket, tls: ssl.SSLContext | None, server_side: bool) -> None:
        self.sock = sock
        self.tls: ssl.SSLObject | None = None
        if tls is not None:
            self.incoming, self.outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
            self.tls = tls.wrap_bio(self.incoming, self.outgoing, server_side=server_side,
                                    server_hostname=None if server_side else "localhost")
        self.ready = tls is None  # the handshake is done
        self.begun = tls is None  # ... or under way (a client's first write event sends its hello)
        self.ended = False  # the peer's end was read
        self.out = b""  # TLS records not yet taken by the socket

    def wants_write(self) -> bool:
        return bool(self.out) or not self.begun

    def recv(self, size: int) -> bytes:
        if self.tls is None:
            return self.sock.recv(size)
        if self.ended:
            return b""
        with contextlib.suppress(BlockingIOError):
            raw = self.sock.recv(size)
            if raw:
                self.incoming.write(raw)
            else:
                self.incoming.write_eof()
        data = bytearray()
        if self._handshake():
            while len(data) < size:
                try:
                    chunk = self.tls.read(size - len(data))
                except ssl.SSLWantReadError:
                    break
                except (ssl.SSLZeroReturnError, ssl.SSLEOFError):
                    chunk = b""
                if not chunk:
                    self.ended = True
                    break
                data += chunk
        self._flush()
        if data or self.ended:
            return bytes(data)
        raise BlockingIOError

    def send(self, data: memoryview) -> int:
        if self.tls is None:
            return self.sock.send(data) if data else 0
        self._flush()
        if not self._handshake() or self.out or not data:
            raise BlockingIOError  # one buffer of records at a time: the socket's pace is the sender's
        count = self.tls.write(data[:64 * KIB])
        self.out += self.outgoing.read()
        self._flush()
        return count

    def shutdown_write(self) -> bool:
        """A FIN, or under TLS a close_notify; False: not now (a record of the peer's is half in, which
        unwrap()'s read would take)."""
        if self.tls is None:
            with contextlib.suppress(OSError):
                self.sock.shutdown(socket.SHUT_WR)
            return True
        if self.incoming.pending:
            return False
        with contextlib.suppress(ssl.SSLWantReadError):
            self.tls.unwrap()
        self.out += self.outgoing.read()
        self._flush()
        return True

    def _handshake(self) -> bool:
        if not self.ready:
            assert self.tls is not None
            self.begun = True
            try:
                self.tls.do_handshake()
                self.ready = True
            except ssl.SSLWantReadError:
                pass
            self.out += self.outgoing.read()
            self._flush()
        return self.ready

    def _flush(self) -> None:
        while self.out:
            try:
                sent = self.sock.send(self.out)
            except BlockingIOError:
                return
            self.out = self.out[sent:]


class _End:
    def __init__(self, sock: socket.socket, conn: Conn | None, client: bool,
                 tls: ssl.SSLContext | None = None) -> None:
        self.sock = sock
        self.wire = _Wire(sock, tls, server_side=not client)
        self.conn = conn
        self.client = client
        self.received = bytearray()  # an upstream end's bytes before it knows its connection


class Traffic:
    """Every client and the upstream, in one selector loop."""

    def __init__(self, plans: list[Plan], proxy_port: int, tls: TLSEnds | None = None) -> None:
        self.conns = [Conn(plan) for plan in plans]
        self.proxy_port = proxy_port
        self.tls = tls
        self.listener = socket.create_server(("127.0.0.1", 0), backlog=4096)
        self.listener.setblocking(False)
        self.port: int = self.listener.getsockname()[1]
        self.selector = selectors.DefaultSelector()
        self.open_ends = 0
        self.orphans = 0  # upstream connections that never said which plan they follow
        self.planned = sum(len(c.out) + len(c.back) for c in self.conns)
        self.received = 0  # bytes both far ends received so far (what the signal triggers look at)

    def run(self, tick: Callable[[Traffic], None] | None = None, limit: float = RUN_LIMIT) -> float:
        """Connect every client at once and move bytes until every end is done; returns the seconds taken."""
        self.selector.register(self.listener, selectors.EVENT_READ, None)
        started = time.monotonic()
        for conn in self.conns:
            sock = socket.socket()
            sock.setblocking(False)
            sock.connect_ex(("127.0.0.1", self.proxy_port))
            conn.client_port = sock.getsockname()[1]
            self._watch(_End(sock, conn, True, self.tls.client if self.tls else None))
        while not self._finished():
            if time.monotonic() - started > limit:
                break
            for key, mask in self.selector.select(0.02):
                if key.data is None:
                    self._accept()
                else:
                    self._serve(key.data, mask)
            if tick is not None:
                tick(self)
        elapsed = time.monotonic() - started
        for key in list(self.selector.get_map().values()):
            with contextlib.suppress(OSError):
                key.fileobj.close()  # type: ignore[union-attr]
        self.selector.close()
        return elapsed

    def _finished(self) -> bool:
        return self.open_ends == 0 and all(c.client_done for c in self.conns)

    def stuck(self) -> int:
        return sum(1 for c in self.conns if not c.client_done or (c.upstream_seen and not c.upstream_done))

    def _watch(self, end: _End) -> None:
        self.open_ends += 1
        self.selector.register(end.sock, self._interest(end), end)

    def _done(self, end: _End, error: str = "") -> None:
        self.selector.unregister(end.sock)
        self.open_ends -= 1
        if error:
            _reset(end.sock)
        else:
            end.sock.close()
        if end.conn is None:
            self.orphans += 1
        elif end.client:
            end.conn.client_done, end.conn.client_error = True, error
        else:
            end.conn.upstream_done, end.conn.upstream_error = True, error

    def _accept(self) -> None:
        while True:
            try:
                sock, _ = self.listener.accept()
            except BlockingIOError:
                return
            sock.setblocking(False)
            self._watch(_End(sock, None, False, self.tls.server if self.tls else None))

    # what each end may send now: it depends on what that end has received so far, nothing else

    def _allowed(self, end: _End) -> tuple[bytes, int, int | None]:
        conn = end.conn
        if conn is None:
            return b"", 0, None
        if end.client:
            answered = sum(1 for total in conn.replies if len(conn.client_received) >= total)
            limit = conn.ends[min(answered, len(conn.ends) - 1)]
            return conn.out, len(conn.client_sent), min(limit, conn.plan.client_cut or limit)
        phase = 0
        for number, p in enumerate(conn.plan.phases):
            before = conn.ends[number] - len(p.request)
            if len(conn.upstream_received) < before + p.reply_after:
                break
            if conn.plan.half_close and not conn.upstream_eof:
                break  # the answer waits for the client's FIN, to show it came through
            phase = number + 1
        limit = conn.replies[phase - 1] if phase else 0
        return conn.back, len(conn.upstream_sent), min(limit, conn.plan.upstream_cut or limit)

    def _interest(self, end: _End) -> int:
        _, sent, limit = self._allowed(end)
        hearing = end.client or end.conn is None or not end.conn.upstream_eof
        return (selectors.EVENT_READ if hearing else 0) | (
            selectors.EVENT_WRITE if (limit is not None and sent < limit) or end.wire.wants_write() else 0)

    def _serve(self, end: _End, mask: int) -> None:
        if mask & selectors.EVENT_READ and not self._read(end):
            return
        if mask & selectors.EVENT_WRITE and not self._write(end):
            return
        if not self._close_when_due(end):
            return
        with contextlib.suppress(KeyError, ValueError):
            self.selector.modify(end.sock, self._interest(end), end)

    def _read(self, end: _End) -> bool:
        try:
            data = end.wire.recv(READ)
        except BlockingIOError:
            return True
        except OSError as exc:
            self._done(end, exc.strerror or str(exc))
            return False
        conn = end.conn
        if conn is None:  # an upstream end: which connection is it?
            end.received += data
            found = _INDEX.match(end.received)
            if found is None:
                if not data:
                    self._done(end)
                    return False
                return True
            conn = end.conn = self.conns[int(found.group(1))]
            conn.upstream_seen = True
            data, end.received = bytes(end.received), bytearray()
        (conn.client_received if end.client else conn.upstream_received).extend(data)
        self.received += len(data)
        if not data:
            if end.client:
                self._done(end)
                return False
            conn.upstream_eof = True
        elif end.wire.ended:  # TLS: the last bytes and the close_notify in one read; no event will follow
            return self._read(end)
        return True

    def _write(self, end: _End) -> bool:
        stream, sent, limit = self._allowed(end)
        try:
            if limit is None or sent >= limit:
                end.wire.send(memoryview(b""))  # TLS: the handshake, or records still to go
                return True
            count = end.wire.send(memoryview(stream)[sent:min(limit, sent + READ)])
        except BlockingIOError:
            return True
        except OSError as exc:
            self._done(end, exc.strerror or str(exc))
            return False
        assert end.conn is not None
        (end.conn.client_sent if end.client else end.conn.upstream_sent).extend(stream[sent:sent + count])
        return True

    def _close_when_due(self, end: _End) -> bool:
        """Half-close, reset or close when this end's plan says so; False once it is done."""
        conn = end.conn
        if conn is None:
            return True
        plan = conn.plan
        if end.client:
            if plan.client_cut is not None and len(conn.client_sent) >= plan.client_cut:
                self._done(end, "reset (planned)")
                return False
            all_sent = len(conn.client_sent) == len(conn.out)
            answered = len(conn.client_received) >= len(conn.back)
            if all_sent and (plan.half_close or answered) and not conn.client_shut:
                conn.client_shut = end.wire.shutdown_write()
            return True
        if plan.upstream_cut is not None and len(conn.upstream_sent) >= plan.upstream_cut:
            self._done(end, "reset (planned)")
            return False
        if len(conn.upstream_sent) == len(conn.back) and plan.server_closes and not conn.upstream_shut:
            conn.upstream_shut = end.wire.shutdown_write()
        if conn.upstream_eof:
            _, sent, limit = self._allowed(end)
            if limit is None or sent >= limit:  # the client is gone or done: nothing more will be asked
                self._done(end)
                return False
        return True


def _reset(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


# -- the recorder ----------------------------------------------------------------------------------


class Recorder:
    """``python -m h11dbg record`` in a child process, its stderr drained and its /proc entry sampled."""

    running: list[subprocess.Popen[str]] = []  # killed if this run is interrupted (see main)

    def __init__(self, upstream: int, output: Path, tls: TLSEnds | None = None) -> None:
        self.output = output
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "h11dbg", "record", "--listen", "127.0.0.1:0", "--upstream",
             f"127.0.0.1:{upstream}", "-o", str(output), *(tls.record_options if tls else [])],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        )
        Recorder.running.append(self.proc)
        assert self.proc.stderr is not None
        first = self.proc.stderr.readline()
        if tls is not None:
            self.proc.stderr.readline()  # which certificate
        if not first.startswith("recording "):
            self.proc.kill()
            raise RuntimeError(f"h11dbg record did not start: {first!r}")
        self.port = int(first.split()[1].rsplit(":", 1)[1])
        self.log: list[str] = [first.rstrip("\n")]
        self.peak_threads = 0
        self.peak_rss = 0
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._drain, daemon=True),
                         threading.Thread(target=self._sample, daemon=True)]
        for thread in self._threads:
            thread.start()

    def _drain(self) -> None:  # a log line per connection event: a full pipe would stall the recorder
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.log.append(line.rstrip("\n"))

    def _sample(self) -> None:
        while not self._stop.is_set():
            self._read_status()
            time.sleep(0.02)

    def _read_status(self) -> None:
        try:
            status = Path(f"/proc/{self.proc.pid}/status").read_text()
        except OSError:
            return
        for line in status.splitlines():
            name, _, value = line.partition(":")
            if name == "Threads":
                self.peak_threads = max(self.peak_threads, int(value))
            elif name == "VmHWM":
                self.peak_rss = max(self.peak_rss, int(value.split()[0]) * 1024)

    def signal(self, sig: int) -> None:
        self._read_status()
        self.proc.send_signal(sig)

    def wait(self) -> int:
        code = self.proc.wait(timeout=30)
        self._stop.set()
        for thread in self._threads:
            thread.join(5)
        return code

    def stop(self, sig: int) -> int:
        self.signal(sig)
        return self.wait()


# -- comparing ------------------------------------------------------------------------------------


@dataclass
class Recorded:
    c2s: bytearray = field(default_factory=bytearray)
    s2c: bytearray = field(default_factory=bytearray)
    ends: list[tuple[str, bool]] = field(default_factory=list)


def read_file(path: Path) -> tuple[dict[int, Recorded], list[str], str]:
    """The transcript's bytes per client port, its notes, and the error that stopped reading ('' if none)."""
    found: dict[int, Recorded] = {}
    by_conn: dict[int, Recorded] = {}
    try:
        transcript = open_transcript(path)
        for record in transcript:
            if isinstance(record, Open):
                by_conn[record.conn] = found[int((record.client or ":0").rsplit(":", 1)[1])] = Recorded()
            elif isinstance(record, Chunk):
                recorded = by_conn[record.conn]
                (recorded.c2s if record.direction == "c2s" else recorded.s2c).extend(record.data)
            elif isinstance(record, Close):
                by_conn[record.conn].ends.append((record.direction, record.reset))
    except TranscriptError as exc:
        return found, [], str(exc)
    return found, list(transcript.notes or ()), ""


def _prefix(short: bytes | bytearray, long: bytes | bytearray) -> bool:
    return len(short) <= len(long) and long[:len(short)] == short


@dataclass
class Check:
    mismatches: list[str] = field(default_factory=list)
    lost: int = 0  # bytes that crossed the proxy (the far end got them) but are not in the file
    recorded_not_delivered: int = 0  # in the file, read from one end, not (yet) at the other
    sent_not_recorded: int = 0  # sent by one end, never read by the proxy (in flight at the end)


def compare(conns: list[Conn], recorded: dict[int, Recorded], *, exact: bool) -> Check:
    """Every connection's bytes at three points; ``exact``: a run that finished, so a clean connection's
    three must be equal and end in two closes, a reset one must end in a reset."""
    check = Check()
    for conn in conns:
        rec = recorded.get(conn.client_port)
        name = f"connection {conn.plan.index} ({conn.plan.kind}, client port {conn.client_port})"
        if rec is None:
            if exact or conn.upstream_received or conn.client_received:
                check.mismatches.append(f"{name}: not in the transcript")
            check.sent_not_recorded += len(conn.client_sent)
            continue
        for direction, sent, in_file, got in (("c2s", conn.client_sent, rec.c2s, conn.upstream_received),
                                              ("s2c", conn.upstream_sent, rec.s2c, conn.client_received)):
            if not _prefix(in_file, sent):
                check.mismatches.append(f"{name}: {direction} in the file is not what was sent "
                                        f"({len(in_file)} bytes in the file, {len(sent)} sent)")
            if not _prefix(got, in_file):
                if _prefix(in_file, got):
                    check.lost += len(got) - len(in_file)
                    check.mismatches.append(f"{name}: {direction}: {len(got) - len(in_file)} bytes crossed "
                                            "the proxy but are not in the file")
                else:
                    check.mismatches.append(f"{name}: {direction}: what arrived differs from the file")
            check.recorded_not_delivered += max(0, len(in_file) - len(got))
            check.sent_not_recorded += max(0, len(sent) - len(in_file))
            if exact and conn.plan.kind in PLAIN_KINDS and not (sent == in_file == got):
                check.mismatches.append(f"{name}: {direction}: sent {len(sent)}, in the file {len(in_file)}, "
                                        f"arrived {len(got)}")
        if exact:
            ends = sorted(rec.ends)
            if conn.plan.kind in PLAIN_KINDS and ends != [("c2s", False), ("s2c", False)]:
                check.mismatches.append(f"{name}: ends {ends}, expected a close each way")
            if conn.plan.kind in RESET_KINDS and not any(reset for _, reset in ends):
                check.mismatches.append(f"{name}: ends {ends}, expected a reset")
    return check


def replay(path: Path) -> tuple[int, str]:
    """``h11dbg replay FILE`` (output to /dev/null): its exit code and what it said on stderr."""
    done = subprocess.run([sys.executable, "-m", "h11dbg", "replay", str(path)], stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, text=True, timeout=600)
    return done.returncode, " | ".join(line for line in done.stderr.splitlines() if line.strip())


# -- the runs -------------------------------------------------------------------------------------


@dataclass
class Result:
    run: str
    connections: int
    kinds: dict[str, int]
    bytes_c2s: int  # what the clients sent (handed to their kernel: after a kill, much of it never left)
    bytes_s2c: int  # what the upstream sent (likewise)
    file_bytes: int
    mismatches: int
    lost: int
    seconds: float
    peak_rss: int
    peak_threads: int
    recorder_exit: int
    replay_exit: int | None
    replay_said: str
    stuck: int
    notes: list[str]
    read_error: str
    recorded_not_delivered: int = 0
    sent_not_recorded: int = 0
    crossed_at_stop: int = 0  # bytes both ends had received when the signal was sent
    first_mismatches: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.mismatches or self.lost or self.stuck or self.read_error)


def _kinds(plans: list[Plan]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for plan in plans:
        counts[plan.kind] = counts.get(plan.kind, 0) + 1
    return counts


def concurrent_run(count: int, seed: int, directory: Path, replay_it: bool, tls: TLSEnds | None = None,
                   limit: float = RUN_LIMIT) -> Result:
    plans = mixed_plans(count, seed)
    output = directory / f"concurrent-{count}.h11t"
    traffic = Traffic(plans, 0, tls)  # the proxy's port is set once the recorder listens (it needs ours first)
    recorder = Recorder(traffic.port, output, tls)
    traffic.proxy_port = recorder.port
    seconds = traffic.run(limit=limit)
    _wait_for_closes(output, traffic.conns)
    code = recorder.stop(signal.SIGTERM)
    recorded, notes, error = read_file(output)
    check = compare(traffic.conns, recorded, exact=True)
    replayed = replay(output) if replay_it else (None, "")
    name = f"concurrent {count}" + (" TLS" if tls else "")
    result = _result(name, plans, traffic, recorder, code, seconds, check, notes, error, replayed)
    resets = sum(1 for conn in traffic.conns if _cut_mid_message(conn, recorded.get(conn.client_port)))
    # every connection replayed; the reset ones (a body cut short) and only they are protocol errors
    expected = f"{count} connection(s), " + (f"{resets} with a protocol error" if resets else "all parsed cleanly")
    if replay_it and not replayed[1].startswith(expected):
        result.read_error = f"replay said {replayed[1]!r}, expected {expected!r}"
    return result


def _cut_mid_message(conn: Conn, recorded: Recorded | None) -> bool:
    """Whether a reset connection's file ends inside a message, which replay reports as a protocol error.
    Not when the proxy had read none of it: an RST discards what its receiver has not read yet (a client
    reset before the proxy's first read, as at 1000 TLS connections at once, leaves an empty connection)."""
    if recorded is None or conn.plan.kind not in RESET_KINDS:
        return False
    if conn.plan.kind == "client-reset":
        return len(recorded.c2s) > 0
    return len(recorded.s2c) > len(conn.plan.phases[0].response)


def _wait_for_closes(output: Path, conns: list[Conn], timeout: float = 10.0) -> None:
    """The proxy writes a connection's last close a moment after both ends are done: wait for them."""
    expected = sum(2 if c.plan.kind in PLAIN_KINDS else 1 for c in conns)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = output.read_bytes()
        if text.count(b"\nclose ") + text.count(b"\nreset ") >= expected:
            return
        time.sleep(0.05)


def interrupted_run(name: str, count: int, size: int, seed: int, directory: Path, sig: int, *, binary: bool,
                    trigger: Callable[[random.Random], Callable[[Traffic], bool]],
                    tls: TLSEnds | None = None) -> Result:
    """``count`` streaming connections (bodies of ``size`` / 4 to ``size`` bytes each way), ``sig`` sent when
    ``trigger`` says so; the file read as it was left."""
    rng = random.Random(seed)
    plans = [stream_plan(index, rng, rng.randint(size // 4, size), binary) for index in range(count)]
    output = directory / f"{name.replace(' ', '-')}.h11t"
    traffic = Traffic(plans, 0, tls)
    recorder = Recorder(traffic.port, output, tls)
    traffic.proxy_port = recorder.port
    due = trigger(rng)
    crossed: list[int] = []  # bytes the far ends had received when the signal went

    def signal_when_due(t: Traffic) -> None:
        if not crossed and due(t):
            crossed.append(sum(len(c.upstream_received) + len(c.client_received) for c in t.conns))
            recorder.signal(sig)

    seconds = traffic.run(signal_when_due, limit=60)
    late = not crossed
    if late:  # the traffic ended before the trigger: the signal comes after, and the run says so
        crossed.append(sum(len(c.upstream_received) + len(c.client_received) for c in traffic.conns))
        recorder.signal(sig)
    code = recorder.wait()
    recorded, notes, error = read_file(output)
    check = compare(traffic.conns, recorded, exact=False)
    result = _result(name, plans, traffic, recorder, code, seconds, check, notes, error, replay(output))
    result.crossed_at_stop = crossed[0]
    if late:
        result.read_error = "the traffic ended before the signal: not a mid-stream stop"
    if sig != signal.SIGKILL and notes:  # a clean stop must leave whole records only
        result.read_error = "a clean stop left an unfinished record: " + "; ".join(notes)
    if sig != signal.SIGKILL and code != 0:
        result.read_error = f"the recorder exited {code} on {signal.Signals(sig).name}"
    return result


def when_crossed(low: float, high: float) -> Callable[[random.Random], Callable[[Traffic], bool]]:
    """Due once the far ends have received a random share (``low`` to ``high``) of all the bytes planned."""
    def make(rng: random.Random) -> Callable[[Traffic], bool]:
        share = rng.uniform(low, high)
        return lambda traffic: traffic.received >= share * traffic.planned
    return make


def _result(name: str, plans: list[Plan], traffic: Traffic, recorder: Recorder, code: int, seconds: float,
            check: Check, notes: list[str], error: str, replayed: tuple[int | None, str]) -> Result:
    conns = traffic.conns
    return Result(
        run=name, connections=len(plans), kinds=_kinds(plans),
        bytes_c2s=sum(len(c.client_sent) for c in conns), bytes_s2c=sum(len(c.upstream_sent) for c in conns),
        file_bytes=recorder.output.stat().st_size, mismatches=len(check.mismatches), lost=check.lost,
        seconds=seconds, peak_rss=recorder.peak_rss, peak_threads=recorder.peak_threads, recorder_exit=code,
        replay_exit=replayed[0], replay_said=replayed[1], stuck=traffic.stuck(), notes=notes, read_error=error,
        recorded_not_delivered=check.recorded_not_delivered, sent_not_recorded=check.sent_not_recorded,
        first_mismatches=check.mismatches[:5],
    )


# -- the report -----------------------------------------------------------------------------------


def _mb(count: int) -> str:
    return f"{count / 1e6:.1f} MB"


def _raise_fd_limit(count: int) -> tuple[int, int, int]:
    """Raise this process's soft limit on open files (the recorder inherits it); returns (soft, hard, the
    most connections it allows: each costs two descriptors here and two in the recorder)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = hard if hard != resource.RLIM_INFINITY else max(soft, 4 * count + 256)
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
        soft = want
    return soft, hard, (soft - 64) // 2


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--connections", default="100,400,1000", help="concurrent runs, comma separated")
    parser.add_argument("--kills", type=int, default=3, help="SIGKILL runs of each kind (mid-body, mid-write)")
    parser.add_argument("--streams", type=int, default=200, help="connections in each kill/TERM/INT run")
    parser.add_argument("--stream-mib", type=int, default=2, help="largest body of a kill/TERM/INT connection")
    parser.add_argument("--seed", type=int, default=14)
    parser.add_argument("--keep", metavar="DIR", help="write the transcripts here (kept)")
    parser.add_argument("--no-replay", action="store_true", help="do not replay the concurrent runs' files")
    parser.add_argument("--json", metavar="FILE", help="also write every figure as JSON")
    parser.add_argument("--tls", action="store_true", help="TLS on both sides (record --tls --upstream-tls)")
    parser.add_argument("--run-limit", type=float, default=RUN_LIMIT, metavar="S",
                        help="a concurrent run not finished after S seconds is stuck")
    args = parser.parse_args(argv)
    counts = [int(part) for part in args.connections.split(",") if part]
    soft, hard, most = _raise_fd_limit(max(counts + [args.streams]))
    print(f"h11dbg record integrity runs, {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC, "
          f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
          f"open-file limit {soft} (hard {hard}): up to {most} concurrent connections", flush=True)
    results: list[Result] = []
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))  # so the cleanup below runs
    with contextlib.ExitStack() as stack:
        stack.callback(_kill_recorders)
        if args.keep:
            directory = Path(args.keep)
            directory.mkdir(parents=True, exist_ok=True)
        else:
            directory = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="h11dbg-integrity-")))
        tls = tls_ends(directory) if args.tls else None
        for count in counts:
            if count > most:
                print(f"concurrent {count}: skipped, the open-file limit allows {most}", flush=True)
                continue
            _report(results, concurrent_run(count, args.seed + count, directory, not args.no_replay, tls,
                                            args.run_limit))
            _drop(directory, args.keep)
        runs: list[tuple[str, int, bool, Callable[[random.Random], Callable[[Traffic], bool]]]] = []
        # mid-body: printable bodies, many connections inside a body each way; mid-write: binary bodies, whose
        # records are four times their bytes, so the recorder is busy writing most of the time
        for number in range(args.kills):
            runs.append((f"kill mid-body {number + 1}", signal.SIGKILL, False, when_crossed(0.05, 0.5)))
        for number in range(args.kills):
            runs.append((f"kill mid-write {number + 1}", signal.SIGKILL, True, when_crossed(0.05, 0.5)))
        runs.append(("SIGTERM mid-body", signal.SIGTERM, False, when_crossed(0.05, 0.5)))
        runs.append(("SIGINT mid-write", signal.SIGINT, True, when_crossed(0.05, 0.5)))
        for number, (name, sig, binary, trigger) in enumerate(runs):
            _report(results, interrupted_run(name + (" TLS" if tls else ""), args.streams, args.stream_mib * MIB,
                                             args.seed * 1000 + number, directory, sig, binary=binary, trigger=trigger,
                                             tls=tls))
            _drop(directory, args.keep)
    failed = [r for r in results if not r.ok]
    print(f"{len(results)} runs: {sum(r.connections for r in results)} connections, "
          f"{_mb(sum(r.bytes_c2s + r.bytes_s2c for r in results))} sent, {sum(r.mismatches for r in results)} "
          f"mismatches, {sum(r.lost for r in results)} bytes lost, {sum(r.stuck for r in results)} stuck, "
          f"{len(failed)} failed", flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps([asdict(r) | {"ok": r.ok} for r in results], indent=1) + "\n")
    return 1 if failed else 0


def _drop(directory: Path, keep: str | None) -> None:
    """A run's transcript goes once its figures are out (a mid-write run's can be a gigabyte)."""
    if not keep:
        for path in directory.glob("*.h11t"):
            path.unlink()


def _kill_recorders() -> None:
    for proc in Recorder.running:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _report(results: list[Result], result: Result) -> None:
    results.append(result)
    r = result
    print(f"{r.run}: {r.connections} connections ({', '.join(f'{k} {v}' for k, v in r.kinds.items())}); "
          f"sent c2s {_mb(r.bytes_c2s)}, s2c {_mb(r.bytes_s2c)}; file {_mb(r.file_bytes)}; "
          f"{r.mismatches} mismatches, {r.lost} bytes lost, {r.stuck} stuck; {r.seconds:.1f} s; "
          f"recorder peak RSS {r.peak_rss / MIB:.0f} MiB, {r.peak_threads} threads, exit {r.recorder_exit}",
          flush=True)
    if r.crossed_at_stop:
        print(f"  at the signal {_mb(r.crossed_at_stop)} had crossed; in the file but not delivered "
              f"{r.recorded_not_delivered} bytes, sent but never read by the proxy {r.sent_not_recorded} bytes",
              flush=True)
    if r.replay_exit is not None:
        print(f"  replay: exit {r.replay_exit}: {r.replay_said}", flush=True)
    for line in r.first_mismatches + ([r.read_error] if r.read_error else []):
        print(f"  ! {line}", flush=True)


if __name__ == "__main__":
    sys.exit(main())
