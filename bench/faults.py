"""The fault table (issue 14): network faults on 127.0.0.1 against the CLI as a user runs it.

Usage::

    .venv/bin/python bench/faults.py                     # every scenario, a Markdown table
    .venv/bin/python bench/faults.py --only reset,tls    # some classes of scenario
    .venv/bin/python bench/faults.py --json out.json     # the rows as JSON too
    .venv/bin/python bench/faults.py --verbose           # every line each command printed

Each scenario starts a real misbehaving peer in this process (a server that resets, half-closes,
stays silent, speaks TLS or SSH, or a client that does) and runs ``python -m h11dbg`` against it
in a child process: ``connect`` with a script on standard input, ``listen`` with a script file,
``record`` between a client and an upstream.  A row says what the user sees (the one line on stderr,
or the output line that names the fault when the run ends without one), the exit code, and two
times from the fault: until that line was printed, and until the command exited (``record`` runs on
until it is stopped with SIGTERM: its row times the log line, and its exit code is the one after
SIGTERM).  A row is a defect when the command hangs past its bound, prints a traceback, exits with
a code outside ui/exits.py, or says nothing about the fault; the command exits 1 when any row is.
Times are wall-clock on a shared machine: they show the order of magnitude (milliseconds, or the
timeout that bounds the scenario), not a benchmark.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import re
import socket
import ssl
import struct
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

if __package__ in (None, ""):  # run as ``python bench/faults.py``: make ``h11dbg`` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from h11dbg.transport.tls import send_close_notify  # noqa: E402
from h11dbg.ui.exits import ExitCode  # noqa: E402

# The bounds every scenario runs under: the CLI's own timeouts, short so the table takes a minute.
READ_TIMEOUT = 2.0  # connect/listen --timeout
ACCEPT_TIMEOUT = 4.0  # listen --accept-timeout
IDLE_TIMEOUT = 1.0  # record --idle-timeout
SLOW_INTERVAL = 0.5  # slowloris: a byte every SLOW_INTERVAL s
# A command still running this long after its fault is a hang (the longest bound above, plus slack
# for a loaded machine).
HANG = 20.0

# When nothing is said on stderr (a protocol error is exit 1 with the error in the output), the row's
# line is the first output line after the fault that says one of these.
SAID = r"ERROR|reset|closed|timeout|TLS|looks like"
# set-up lines, not about a fault: listen's certificate note, a handshake's outcome
STARTED = re.compile(r"TLS with (a throwaway|the certificate)|#\d+ TLS TLSv")
NO_TLS10 = "(not run: this Python's OpenSSL cannot speak TLS 1.0)"

CLASSES = ("reset", "half-close", "silent", "tls", "banner", "slowloris")

REQUEST = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"
CLIENT_SCRIPT = "request GET /\neom\nrun\n"
SERVER_SCRIPT = "run\nresponse 200 Content-Length: 5\ndata hello\neom\n"

SSH_BANNER = b"SSH-2.0-OpenSSH_9.6p1 Ubuntu-3ubuntu13.5\r\n"
SMTP_BANNER = b"220 mail.example.com ESMTP Postfix (Ubuntu)\r\n"
SMTP_HELO = b"EHLO client.example.com\r\n"
BLOB = bytes(range(256)) * 4
H2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
# what an h2-only server sends first: a SETTINGS frame (MAX_CONCURRENT_STREAMS 100), then, given an
# HTTP/1.1 request instead of the preface, a GOAWAY (PROTOCOL_ERROR) before closing
H2_SETTINGS = b"\x00\x00\x06\x04\x00\x00\x00\x00\x00" + b"\x00\x03\x00\x00\x00\x64"
H2_GOAWAY = b"\x00\x00\x08\x07\x00\x00\x00\x00\x00" + b"\x00\x00\x00\x00" + b"\x00\x00\x00\x01"


# -- what a run printed --------------------------------------------------------------------------

@dataclass
class Row:
    kind: str  # one of CLASSES
    command: str  # as the user typed it (addresses shortened)
    fault: str
    seen: str = ""  # the one line the user sees
    exit: int | None = None  # None: it did not end (a hang)
    reported: float | None = None  # seconds from the fault until the line was printed
    exited: float | None = None  # seconds from the fault until the command exited
    defects: list[str] = field(default_factory=list)
    output: list[str] = field(default_factory=list)  # every line, "err: ..." / "out: ..."


class Child:
    """``python -m h11dbg ARGS`` with each output line timestamped as it arrives."""

    def __init__(self, args: list[str], stdin: str | None = None, cwd: Path | None = None) -> None:
        self.args = args
        self.proc = subprocess.Popen([sys.executable, "-m", "h11dbg", *args], cwd=cwd,
                                     stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.lines: list[tuple[float, str, str]] = []  # (time, "out" or "err", text)
        self.ended: float | None = None
        self._changed = threading.Condition()
        self._readers = [threading.Thread(target=self._read, args=(stream, name), daemon=True)
                         for stream, name in ((self.proc.stdout, "out"), (self.proc.stderr, "err"))]
        for reader in self._readers:
            reader.start()
        if stdin is not None:
            assert self.proc.stdin is not None
            self.proc.stdin.write(stdin.encode())
            self.proc.stdin.close()

    def _read(self, stream: object, name: str) -> None:
        for raw in iter(stream.readline, b""):  # type: ignore[attr-defined]
            with self._changed:
                self.lines.append((time.monotonic(), name, raw.decode(errors="replace").rstrip("\n")))
                self._changed.notify_all()

    def wait_line(self, pattern: str, timeout: float = 15.0) -> str:
        """The first output line matching ``pattern`` (waiting for it)."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                for _, _, text in self.lines:
                    if re.search(pattern, text):
                        return text
                left = deadline - time.monotonic()
                if left <= 0 or self.proc.poll() is not None and not any(r.is_alive() for r in self._readers):
                    raise TimeoutError(f"no line matching {pattern!r} from h11dbg {' '.join(self.args)}: "
                                       f"{[text for _, _, text in self.lines]}")
                self._changed.wait(min(left, 0.1))

    def wait(self, timeout: float) -> int | None:
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            return None
        self.ended = time.monotonic()
        for reader in self._readers:
            reader.join(5)
        return code

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


class Clock:
    """When the peer did the faulty thing (the first time it did, if it does it on each connection)."""

    def __init__(self) -> None:
        self.marked: float | None = None  # the peer's own mark
        self.handshake: float | None = None  # when its TLS handshake began
        self.done = threading.Event()

    @property
    def at(self) -> float | None:
        """The fault's time: the peer's own mark, or else the start of its TLS handshake (the fault when
        nothing after the handshake is)."""
        return self.marked if self.marked is not None else self.handshake

    def mark(self) -> None:
        if self.marked is None:
            self.marked = time.monotonic()
        self.done.set()

    def mark_handshake(self) -> None:
        if self.handshake is None:
            self.handshake = time.monotonic()


def _verdict(row: Row, child: Child, fault_at: float | None, code: int | None, pick: str,
             said: Callable[[str], bool] = lambda text: True) -> Row:
    """Fill ``row`` from what ``child`` printed: the line, the exit code, the times, the defects.
    The line is the one on stderr (of those ``said`` keeps), or else the first output line after the
    fault matching ``pick``."""
    row.exit = code
    row.output = [f"{stream}: {text}" for _, stream, text in child.lines]
    errors = [(at, text) for at, stream, text in child.lines if stream == "err" and said(text)]
    chosen: tuple[float, str] | None = None
    if errors:
        chosen = errors[-1]
        if len(errors) > 1:
            row.defects.append(f"{len(errors)} lines on stderr")
    else:  # the last word first: why the bytes are no HTTP, then the engine's error, then the rest
        after = [(at, text) for at, _, text in child.lines if (fault_at is None or at >= fault_at - 0.05)
                 and not STARTED.search(text)]
        for wanted in ("looks like", "ERROR", pick):
            chosen = next(((at, text) for at, text in after if re.search(wanted, text)), None)
            if chosen is not None:
                break
    if chosen is None:
        row.defects.append("nothing said about the fault")
    else:
        row.seen = _shorten(chosen[1])
    # reported: the first line about the fault, which may come before the stderr line that ends the run
    first = next((at for at, stream, text in child.lines if (fault_at is None or at >= fault_at - 0.05)
                  and (re.search(pick, text) or stream == "err" and said(text))), None)
    if first is not None and fault_at is not None:
        row.reported = max(0.0, first - fault_at)
    if fault_at is not None and child.ended is not None:
        row.exited = max(0.0, child.ended - fault_at)
    if code is None:
        row.defects.append(f"still running {HANG:g} s after the fault (killed)")
    elif code not in tuple(ExitCode):
        row.defects.append(f"exit code {code} is not in ui/exits.py")
    if any("Traceback" in text for _, _, text in child.lines):
        row.defects.append("a traceback")
    return row


def _shorten(text: str) -> str:
    """A line as the table shows it: timestamps and ports out (they change every run)."""
    text = re.sub(r"^\[\s*[\d.]+s\] ", "", text)
    text = re.sub(r"127\.0\.0\.1:\d+", "127.0.0.1:PORT", text)
    text = re.sub(r"port \d+", "port PORT", text)
    text = re.sub(r"/tmp/[\w./-]+", "/tmp/...", text)
    return text


# -- misbehaving peers ----------------------------------------------------------------------------

def reset(sock: socket.socket) -> None:
    """Close with an RST (SO_LINGER 0), as a crashing peer or a firewall does."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def read_until(sock: socket.socket, end: bytes, limit: float = 10.0) -> bytes:
    """What ``sock`` sends up to ``end`` (less at EOF, an error or the limit).  A TLS record ends it
    too: a plain HTTP server refuses a ClientHello at once (connect's TLS probe meets one)."""
    sock.settimeout(limit)
    data = b""
    with contextlib.suppress(OSError):
        while end not in data and not data.startswith(b"\x16\x03"):
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    return data


def hold(sock: socket.socket, limit: float = HANG) -> None:
    """Keep ``sock`` open, reading and dropping what comes, until its peer closes or ``limit``."""
    sock.settimeout(limit)
    with contextlib.suppress(OSError):
        while sock.recv(65536):
            pass
    sock.close()


Behaviour = Callable[[socket.socket, Clock], None]


def accept_each(sock: socket.socket, stop: threading.Event, handle: Callable[[socket.socket], None]) -> None:
    """Hand each connection ``sock`` accepts to ``handle`` until ``stop`` is set (``sock`` has a timeout,
    so that it is looked at) or ``sock`` is closed."""
    while not stop.is_set():
        try:
            conn, _ = sock.accept()
        except TimeoutError:
            continue
        except OSError:
            return
        handle(conn)


class Peer:
    """A server on 127.0.0.1 that runs ``behaviour`` on every connection it accepts, each in a thread
    (h11dbg may open a second connection: connect's TLS probe, record's upstream)."""

    def __init__(self, behaviour: Behaviour, tls: ssl.SSLContext | None = None) -> None:
        self.behaviour = behaviour
        self.tls = tls
        self.clock = Clock()
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = int(self.sock.getsockname()[1])
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._accepter = threading.Thread(target=accept_each, args=(self.sock, self._stop, self._start), daemon=True)
        self._accepter.start()

    def _start(self, conn: socket.socket) -> None:
        thread = threading.Thread(target=self._serve, args=(conn,), daemon=True)
        thread.start()
        self._threads.append(thread)

    def _serve(self, conn: socket.socket) -> None:
        with contextlib.suppress(OSError, ssl.SSLError):
            if self.tls is not None:  # unless the behaviour marks a later fault, it is in the handshake
                self.clock.mark_handshake()
                conn.settimeout(10)
                conn = self.tls.wrap_socket(conn, server_side=True)
            self.behaviour(conn, self.clock)
        with contextlib.suppress(OSError):
            conn.close()

    def close(self) -> None:
        self._stop.set()
        self._accepter.join(2)
        self.sock.close()


@contextlib.contextmanager
def peer(behaviour: Behaviour, tls: ssl.SSLContext | None = None) -> Iterator[Peer]:
    server = Peer(behaviour, tls)
    try:
        yield server
    finally:
        server.close()


# -- certificates ---------------------------------------------------------------------------------

@dataclass
class Certs:
    ca: Path  # the CA that issued both
    good: ssl.SSLContext  # a server context for localhost / 127.0.0.1
    other: ssl.SSLContext  # one for other.example only (a wrong hostname for 127.0.0.1)
    good_cert: Path
    good_key: Path


def make_certs(directory: Path) -> Certs:
    import trustme

    ca = trustme.CA()
    ca_file = directory / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    good = ca.issue_cert("localhost", "127.0.0.1")
    other = ca.issue_cert("other.example")
    cert_file, key_file = directory / "cert.pem", directory / "key.pem"
    good.cert_chain_pems[0].write_to_path(str(cert_file))
    good.private_key_pem.write_to_path(str(key_file))
    contexts = []
    for issued in (good, other):
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        issued.configure_cert(context)
        contexts.append(context)
    return Certs(ca_file, contexts[0], contexts[1], cert_file, key_file)


def tls10_only(context: ssl.SSLContext) -> ssl.SSLContext | None:
    """``context`` limited to TLS 1.0, or None when this Python/OpenSSL cannot speak it at all."""
    try:
        with warnings.catch_warnings():  # deprecated, which is the point of the scenario
            warnings.simplefilter("ignore", DeprecationWarning)
            context.minimum_version = ssl.TLSVersion.TLSv1
            context.maximum_version = ssl.TLSVersion.TLSv1
        context.set_ciphers("DEFAULT:@SECLEVEL=0")
    except (ValueError, ssl.SSLError):
        return None
    return context


# -- running the CLI ------------------------------------------------------------------------------

def run_connect(row: Row, server: Peer, *options: str, script: str = CLIENT_SCRIPT) -> Row:
    child = Child(["connect", f"127.0.0.1:{server.port}", "--timeout", f"{READ_TIMEOUT:g}", *options], stdin=script)
    code = child.wait(HANG + READ_TIMEOUT * 2)
    return _verdict(row, child, server.clock.at, code, SAID)


def run_listen(row: Row, client: Callable[[int, Clock], None], directory: Path, *options: str,
               script: str = SERVER_SCRIPT) -> Row:
    script_file = directory / "serve.h11"
    script_file.write_text(script)
    child = Child(["listen", "0", "--timeout", f"{READ_TIMEOUT:g}", "--accept-timeout", f"{ACCEPT_TIMEOUT:g}",
                   "--script", str(script_file), *options])
    clock = Clock()
    try:
        line = child.wait_line(r"listening on 127\.0\.0\.1:\d+")
        port = int(re.search(r"127\.0\.0\.1:(\d+)", line).group(1))  # type: ignore[union-attr]
        runner = threading.Thread(target=_quietly, args=(client, port, clock), daemon=True)
        runner.start()
        code = child.wait(HANG + ACCEPT_TIMEOUT + READ_TIMEOUT * 2)
    finally:
        child.kill()
    return _verdict(row, child, clock.at, code, SAID)


def _quietly(client: Callable[[int, Clock], None], port: int, clock: Clock) -> None:
    with contextlib.suppress(OSError, ssl.SSLError):
        client(port, clock)
    clock.done.set()


def run_record(row: Row, upstream: Peer, client: Callable[[int, Clock], None], directory: Path, *options: str,
               pick: str = r"^conn 1: (?!.*connected)") -> Row:
    output = directory / "rec.h11t"
    output.unlink(missing_ok=True)
    child = Child(["record", "--listen", "127.0.0.1:0", "--upstream", f"127.0.0.1:{upstream.port}", "-o",
                   str(output), "--idle-timeout", f"{IDLE_TIMEOUT:g}", *options])
    clock = Clock()
    try:
        line = child.wait_line(r"^recording ")
        port = int(re.search(r"127\.0\.0\.1:(\d+)", line).group(1))  # type: ignore[union-attr]
        runner = threading.Thread(target=_quietly, args=(client, port, clock), daemon=True)
        runner.start()
        runner.join(HANG)
        # a fault either peer marked; else the handshake one of them began (a TLS mismatch)
        fault_at = _earliest(clock.marked, upstream.clock.marked) or _earliest(clock.at, upstream.clock.at)
        with contextlib.suppress(TimeoutError):
            child.wait_line(pick, timeout=HANG)
        child.proc.terminate()
        code = child.wait(10)
    finally:
        child.kill()
    # its own lines (recording ..., stopped ...) are not about the fault: the connection's are
    row = _verdict(row, child, fault_at, code, pick, said=lambda text: re.match(pick, text) is not None)
    row.exited = None  # it runs until stopped
    if row.kind in ("reset", "half-close") and "--idle-timeout" in row.seen:
        row.defects.append(f"not passed on: the connection waited for --idle-timeout {IDLE_TIMEOUT:g}")
    return row


def _earliest(*times: float | None) -> float | None:
    known = [at for at in times if at is not None]
    return min(known) if known else None




# -- the scenarios --------------------------------------------------------------------------------

def client_hello() -> bytes:
    """The first flight of a TLS client (a ClientHello record), as bytes to send or cut."""
    context = ssl.create_default_context()
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = context.wrap_bio(incoming, outgoing, server_hostname="localhost")
    with contextlib.suppress(ssl.SSLWantReadError):
        tls.do_handshake()
    return outgoing.read()


def _then(*steps: Callable[[socket.socket, Clock], None]) -> Behaviour:
    def behaviour(sock: socket.socket, clock: Clock) -> None:
        for step in steps:
            step(sock, clock)
    return behaviour


def _send(data: bytes) -> Callable[[socket.socket, Clock], None]:
    return lambda sock, clock: sock.sendall(data)


def _read_head(sock: socket.socket, clock: Clock) -> None:
    read_until(sock, b"\r\n\r\n")


def _read_some(sock: socket.socket, clock: Clock) -> None:
    sock.settimeout(10)
    sock.recv(65536)


def _pause(seconds: float) -> Callable[[socket.socket, Clock], None]:
    return lambda sock, clock: time.sleep(seconds)


def _mark(sock: socket.socket, clock: Clock) -> None:
    clock.mark()


def _reset(sock: socket.socket, clock: Clock) -> None:
    clock.mark()
    reset(sock)


def _fin(sock: socket.socket, clock: Clock) -> None:
    """A half-close: a FIN, or TLS's own, a close_notify."""
    clock.mark()
    if isinstance(sock, ssl.SSLSocket):
        send_close_notify(sock)
    else:
        sock.shutdown(socket.SHUT_WR)


def _hold(sock: socket.socket, clock: Clock) -> None:
    hold(sock)


def _close(sock: socket.socket, clock: Clock) -> None:
    sock.close()


def _drip(data: bytes, interval: float = SLOW_INTERVAL) -> Callable[[socket.socket, Clock], None]:
    def drip(sock: socket.socket, clock: Clock) -> None:
        clock.mark()
        for index in range(len(data)):
            sock.sendall(data[index:index + 1])
            time.sleep(interval)
    return drip


def _mark_then_drip(data: bytes, interval: float) -> Callable[[socket.socket, Clock], None]:
    """A byte every ``interval`` s; the fault is the silence after the last byte."""
    def drip(sock: socket.socket, clock: Clock) -> None:
        for index in range(len(data)):
            sock.sendall(data[index:index + 1])
            if index < len(data) - 1:
                time.sleep(interval)
        clock.mark()
        hold(sock, IDLE_TIMEOUT * 4)
    return drip


def _client(*steps: Callable[[socket.socket, Clock], None], tls: ssl.SSLContext | None = None
            ) -> Callable[[int, Clock], None]:
    """A misbehaving client: connect to 127.0.0.1:PORT, then each step (over TLS when ``tls`` is given)."""
    def client(port: int, clock: Clock) -> None:
        sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        try:
            if tls is not None:
                clock.mark_handshake()
                sock = tls.wrap_socket(sock, server_hostname="localhost")
            for step in steps:
                step(sock, clock)
        finally:
            with contextlib.suppress(OSError):
                sock.close()
    return client


def _read_to_end(sock: socket.socket, clock: Clock) -> None:
    read_until(sock, b"\x00never\x00")


PARTIAL_HEAD = b"HTTP/1.1 200 OK\r\nContent-Le"
CUT_BODY = b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nhello"
PARTIAL_REQUEST = b"GET / HTTP/1.1\r\nHo"
CLOSE_DELIMITED = b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\na body that ends at the close"
UPLOAD = b"POST /upload HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100\r\n\r\nhello"
SETTLE = 0.3  # lets the bytes before a reset be read first (an RST discards what is unread)


@dataclass(frozen=True)
class Scenario:
    kind: str
    command: str
    fault: str
    run: Callable[[Row, Path, Certs], Row]


def scenarios() -> list[Scenario]:
    table: list[Scenario] = []

    def upstream_run(behaviour: Behaviour, tls: Callable[[Certs], ssl.SSLContext | None] | None,
                     extra: Callable[[Certs], list[str]] | None, go: Callable[[Peer, list[str]], Row]
                     ) -> Callable[[Row, Path, Certs], Row]:
        """Run ``go`` against a peer server (TLS when ``tls`` gives a context), with ``extra`` options."""
        def run(row: Row, directory: Path, certs: Certs) -> Row:
            context = tls(certs) if tls is not None else None
            if tls is not None and context is None:
                row.seen = NO_TLS10
                return row
            with peer(behaviour, context) as server:
                return go(server, extra(certs) if extra is not None else [])
        return run

    def connect(kind: str, fault: str, behaviour: Behaviour, *options: str, script: str = CLIENT_SCRIPT,
                tls: Callable[[Certs], ssl.SSLContext | None] | None = None,
                extra: Callable[[Certs], list[str]] | None = None) -> None:
        shown = " ".join(["connect 127.0.0.1:PORT", *options, "< script"])
        table.append(Scenario(kind, shown, fault, lambda row, directory, certs: upstream_run(
            behaviour, tls, extra, lambda server, more: run_connect(row, server, *options, *more, script=script)
        )(row, directory, certs)))

    def listen(kind: str, fault: str, client: Callable[[Certs], Callable[[int, Clock], None] | None],
               *options: str) -> None:
        shown = " ".join(["listen 0", *options, "--script serve.h11"])

        def run(row: Row, directory: Path, certs: Certs) -> Row:
            behaviour = client(certs)
            if behaviour is None:
                row.seen = NO_TLS10
                return row
            return run_listen(row, behaviour, directory, *options)
        table.append(Scenario(kind, shown, fault, run))

    def record(kind: str, fault: str, upstream: Behaviour, client: Callable[[int, Clock], None], *options: str,
               tls: Callable[[Certs], ssl.SSLContext | None] | None = None,
               extra: Callable[[Certs], list[str]] | None = None) -> None:
        shown = " ".join(["record", *options])
        table.append(Scenario(kind, shown, fault, lambda row, directory, certs: upstream_run(
            upstream, tls, extra, lambda server, more: run_record(row, server, client, directory, *options, *more)
        )(row, directory, certs)))

    answer = _then(_read_head, _send(RESPONSE), _hold)
    cafile: Callable[[Certs], list[str]] = lambda certs: ["--cafile", str(certs.ca)]  # noqa: E731
    insecure_client = ssl.create_default_context()
    insecure_client.check_hostname = False
    insecure_client.verify_mode = ssl.CERT_NONE

    # resets
    connect("reset", "server resets mid-head", _then(_read_head, _send(PARTIAL_HEAD), _pause(SETTLE), _reset))
    connect("reset", "server resets mid-body (5 of 100 bytes)",
            _then(_read_head, _send(CUT_BODY), _pause(SETTLE), _reset))
    connect("reset", "server resets after the response, the client reading on",
            _then(_read_head, _send(RESPONSE), _pause(SETTLE), _reset), script=CLIENT_SCRIPT + "recv\n")
    listen("reset", "client resets mid-head",
           lambda certs: _client(_send(PARTIAL_REQUEST), _pause(SETTLE), _reset))
    listen("reset", "client resets mid-body (5 of 100 bytes)",
           lambda certs: _client(_send(UPLOAD), _pause(SETTLE), _reset))
    listen("reset", "client resets after the response",
           lambda certs: _client(_send(REQUEST), _read_some, _reset))
    record("reset", "upstream resets mid-head", _then(_read_head, _send(PARTIAL_HEAD), _pause(SETTLE), _reset),
           _client(_send(REQUEST), _read_to_end))
    record("reset", "upstream resets mid-body", _then(_read_head, _send(CUT_BODY), _pause(SETTLE), _reset),
           _client(_send(REQUEST), _read_to_end))
    record("reset", "upstream resets after the response",
           _then(_read_head, _send(RESPONSE), _pause(SETTLE), _reset), _client(_send(REQUEST), _read_to_end))
    record("reset", "client resets mid-head", _then(_hold), _client(_send(PARTIAL_REQUEST), _pause(SETTLE), _reset))
    record("reset", "client resets mid-upload", _then(_hold), _client(_send(UPLOAD), _pause(SETTLE), _reset))
    record("reset", "client resets after the response", answer,
           _client(_send(REQUEST), _read_some, _reset))

    # resets once traffic flows over TLS, on either side of record (the plaintext is relayed and recorded)
    def tls_client(*steps: Callable[[socket.socket, Clock], None]) -> Callable[[int, Clock], None]:
        return _client(*steps, tls=insecure_client)
    record("reset", "upstream resets mid-body, the client over TLS",
           _then(_read_head, _send(CUT_BODY), _pause(SETTLE), _reset), tls_client(_send(REQUEST), _read_to_end),
           "--tls")
    record("reset", "client over TLS resets mid-upload", _then(_hold),
           tls_client(_send(UPLOAD), _pause(SETTLE), _reset), "--tls")
    record("reset", "TLS upstream resets mid-body", _then(_read_head, _send(CUT_BODY), _pause(SETTLE), _reset),
           _client(_send(REQUEST), _read_to_end), "--upstream-tls", tls=_server_context, extra=cafile)

    # half-closes
    connect("half-close", "server half-closes before sending anything", _then(_fin, _hold))
    connect("half-close", "server half-closes mid-request (after the head of a POST)",
            _then(_read_head, _fin, _hold),
            script="request POST / Content-Length: 10\ndata hello\nrecv 1\ndata world\neom\nrun\n")
    connect("half-close", "server half-closes after a complete request", _then(_read_head, _fin, _hold))
    connect("half-close", "TLS server half-closes after a complete request (close_notify)",
            _then(_read_head, _fin, _hold), "--tls", tls=lambda certs: certs.good, extra=cafile)
    listen("half-close", "client half-closes before sending anything", lambda certs: _client(_fin, _read_to_end))
    listen("half-close", "client half-closes 0.3 s after connecting (listen already reading)",
           lambda certs: _client(_pause(SETTLE), _fin, _read_to_end))
    listen("half-close", "client half-closes mid-request",
           lambda certs: _client(_send(PARTIAL_REQUEST), _pause(SETTLE), _fin, _read_to_end))
    listen("half-close", "client half-closes after a complete request",
           lambda certs: _client(_send(REQUEST), _fin, _read_to_end))
    listen("half-close", "TLS client half-closes after a complete request (close_notify)",
           lambda certs: _client(_send(REQUEST), _fin, _read_to_end, tls=insecure_client), "--tls")
    record("half-close", "client half-closes before sending anything", _then(_hold), _client(_fin, _read_to_end))
    record("half-close", "client half-closes mid-request", _then(_hold),
           _client(_send(PARTIAL_REQUEST), _pause(SETTLE), _fin, _read_to_end))
    record("half-close", "client half-closes after a complete request", _then(_read_head, _send(RESPONSE), _close),
           _client(_send(REQUEST), _fin, _read_to_end))
    record("half-close", "upstream half-closes before sending anything", _then(_fin, _hold),
           _client(_send(REQUEST), _read_to_end))
    # over TLS a half-close is a close_notify (RFC 8446 §6.1): a TLS side must get one
    record("half-close", "upstream half-closes after a close-delimited response, the client over TLS",
           _then(_read_head, _send(CLOSE_DELIMITED), _fin, _hold), tls_client(_send(REQUEST), _read_to_end), "--tls")
    record("half-close", "client half-closes after a complete request, the TLS upstream answering at its end",
           _then(_read_head, _read_to_end, _send(RESPONSE), _close), _client(_send(REQUEST), _fin, _read_to_end),
           "--upstream-tls", tls=_server_context, extra=cafile)

    # silent peers
    connect("silent", "server accepts and never speaks", _then(_read_head, _mark, _hold))
    listen("silent", "client connects and never speaks", lambda certs: _client(_mark, _hold))
    record("silent", "client connects and never speaks (--idle-timeout 1)", _then(_hold), _client(_mark, _hold))
    record("silent", "upstream never answers (--idle-timeout 1)", _then(_read_head, _mark, _hold),
           _client(_send(REQUEST), _read_to_end))

    # TLS mismatches
    connect("tls", "--tls to a plain HTTP server",
            _then(_read_some, _mark, _send(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n"
                                           b"Connection: close\r\n\r\n"), _close), "--tls")
    connect("tls", "plain HTTP to a TLS server", _then(_hold), tls=lambda certs: certs.good)
    connect("tls", "a certificate not trusted (no --cafile)", _then(_hold), "--tls", tls=lambda certs: certs.good)
    connect("tls", "a certificate for another hostname", _then(_hold), "--tls", tls=lambda certs: certs.other,
            extra=cafile)
    connect("tls", "the server cuts the handshake (reset after the ClientHello)", _then(_read_some, _reset),
            "--tls", extra=cafile)
    connect("tls", "the server stalls the handshake (reads the ClientHello, never answers)",
            _then(_read_some, _mark, _hold), "--tls", extra=cafile)
    connect("tls", "a server that speaks TLS 1.0 only", _then(_hold), "--tls",
            tls=lambda certs: tls10_only(_server_context(certs)), extra=cafile)
    listen("tls", "a TLS client at a plain listen (ClientHello)",
           lambda certs: _client(_then(_mark), _hold, tls=insecure_client))
    listen("tls", "a plain HTTP client at listen --tls", lambda certs: _client(_mark, _send(REQUEST), _read_to_end),
           "--tls")
    listen("tls", "a client that does not trust the certificate",
           lambda certs: _client(_hold, tls=ssl.create_default_context()), "--tls")
    listen("tls", "a client that cuts the handshake (half a ClientHello, then a reset)",
           lambda certs: _client(_send(client_hello()[:60]), _pause(SETTLE), _reset), "--tls")
    listen("tls", "a client that stalls the handshake (half a ClientHello, then silence)",
           lambda certs: _client(_send(client_hello()[:60]), _mark, _hold), "--tls")
    listen("tls", "a client that speaks TLS 1.0 only", lambda certs: _tls10_client(), "--tls")
    record("tls", "a plain client at record --tls", _then(_hold), _client(_mark, _send(REQUEST), _read_to_end),
           "--tls")
    record("tls", "--upstream-tls to a plain upstream", _then(_read_some, _mark, _close),
           _client(_send(REQUEST), _read_to_end), "--upstream-tls")
    record("tls", "an upstream certificate not trusted", _then(_hold), _client(_send(REQUEST), _read_to_end),
           "--upstream-tls", tls=lambda certs: certs.good)
    record("tls", "an upstream certificate for another hostname", _then(_hold),
           _client(_send(REQUEST), _read_to_end), "--upstream-tls", tls=lambda certs: certs.other, extra=cafile)
    record("tls", "a client that stalls the handshake (half a ClientHello, then silence)", _then(_hold),
           _client(_send(client_hello()[:60]), _mark, _hold), "--tls")
    record("tls", "the upstream stalls the handshake (reads the ClientHello, never answers)",
           _then(_read_some, _mark, _hold), _client(_send(REQUEST), _read_to_end), "--upstream-tls", extra=cafile)
    record("tls", "the upstream cuts the handshake", _then(_read_some, _reset),
           _client(_send(REQUEST), _read_to_end), "--upstream-tls", extra=cafile)
    record("tls", "an upstream that speaks TLS 1.0 only", _then(_hold), _client(_send(REQUEST), _read_to_end),
           "--upstream-tls", tls=lambda certs: tls10_only(_server_context(certs)), extra=cafile)

    # non-HTTP banners
    connect("banner", "an SSH server (SSH-2.0-... banner)",
            _then(_send(SSH_BANNER), _mark, _read_some, _send(b"Invalid SSH identification string.\r\n"), _close))
    connect("banner", "an SMTP server (220 ... ESMTP)",
            _then(_send(SMTP_BANNER), _mark, _read_some, _send(b"502 5.5.2 Error: command not recognized\r\n"),
                  _hold))
    connect("banner", "a binary blob (every byte value)", _then(_read_head, _mark, _send(BLOB), _close))
    connect("banner", "an HTTP/2 server (SETTINGS, then GOAWAY)",
            _then(_send(H2_SETTINGS), _mark, _read_some, _send(H2_GOAWAY), _close))
    listen("banner", "an SSH client (SSH-2.0-... banner)", lambda certs: _client(_mark, _send(SSH_BANNER),
                                                                                 _read_to_end))
    listen("banner", "an SMTP client (EHLO)", lambda certs: _client(_mark, _send(SMTP_HELO), _read_to_end))
    listen("banner", "a binary blob (every byte value)", lambda certs: _client(_mark, _send(BLOB), _read_to_end))
    listen("banner", "an HTTP/2 client (the preface and SETTINGS)",
           lambda certs: _client(_mark, _send(H2_PREFACE + H2_SETTINGS), _read_to_end))
    record("banner", "an SSH upstream (passed through, recorded)",
           _then(_send(SSH_BANNER), _mark, _read_some, _close), _client(_send(REQUEST), _read_to_end))
    record("banner", "an HTTP/2 client (passed through, recorded)", _then(_read_some, _send(H2_SETTINGS), _close),
           _client(_mark, _send(H2_PREFACE + H2_SETTINGS), _read_to_end))

    # slowloris
    connect("slowloris", f"the server sends its response a byte every {SLOW_INTERVAL:g} s",
            _then(_read_head, _drip(RESPONSE)))
    listen("slowloris", f"a request a byte every {SLOW_INTERVAL:g} s",
           lambda certs: _client(_drip(REQUEST), _read_to_end))
    record("slowloris", f"a request a byte every {IDLE_TIMEOUT * 2:g} s (--idle-timeout 1)", _then(_hold),
           _client(_then(_mark), _drip(REQUEST, IDLE_TIMEOUT * 2)))
    record("slowloris", f"a byte every {SLOW_INTERVAL:g} s for 3 s, then silence (--idle-timeout 1)", _then(_hold),
           _client(_mark_then_drip(REQUEST[:6], SLOW_INTERVAL)))
    return table


def _server_context(certs: Certs) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(str(certs.good_cert), str(certs.good_key))
    return context


def _tls10_client() -> Callable[[int, Clock], None] | None:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    limited = tls10_only(context)
    return None if limited is None else _client(_hold, tls=limited)


# -- the table ------------------------------------------------------------------------------------

def run_all(kinds: tuple[str, ...], commands: tuple[str, ...], verbose: bool = False) -> list[Row]:
    rows = []
    with tempfile.TemporaryDirectory(prefix="h11dbg-faults-") as tmp:
        directory = Path(tmp)
        certs = make_certs(directory)
        for scenario in scenarios():
            if scenario.kind not in kinds or scenario.command.split()[0] not in commands:
                continue
            row = Row(scenario.kind, scenario.command, scenario.fault)
            row = scenario.run(row, directory, certs)
            rows.append(row)
            if verbose:
                print(f"## {row.command}: {row.fault}", file=sys.stderr)
                for line in row.output:
                    print(f"   {line}", file=sys.stderr)
    return rows


def _seconds(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value * 1000:.0f} ms" if value < 1 else f"{value:.2f} s"


def table(rows: list[Row]) -> list[str]:
    lines = ["| class | command | fault | what the user sees | exit | reported after | exited after |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for row in rows:
        seen = row.seen.replace("|", "\\|")
        if row.defects:
            seen += " **DEFECT: " + "; ".join(row.defects) + "**"
        code = "-" if row.exit is None else str(row.exit)
        lines.append(f"| {row.kind} | `{row.command}` | {row.fault} | {seen} | {code} | {_seconds(row.reported)} "
                     f"| {_seconds(row.exited)} |")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default=",".join(CLASSES), help=f"classes, comma-separated: {', '.join(CLASSES)}")
    parser.add_argument("--commands", default="connect,listen,record", help="commands, comma-separated")
    parser.add_argument("--json", type=Path, help="also write the rows to this file")
    parser.add_argument("--verbose", action="store_true", help="every line each command printed, on stderr")
    args = parser.parse_args(argv)
    kinds = tuple(args.only.split(","))
    commands = tuple(args.commands.split(","))
    unknown = [kind for kind in kinds if kind not in CLASSES]
    if unknown:
        parser.error(f"unknown class {unknown[0]!r}; the classes: {', '.join(CLASSES)}")
    started = time.monotonic()
    rows = run_all(kinds, commands, verbose=args.verbose)
    print("\n".join(table(rows)))
    defects = sum(bool(row.defects) for row in rows)
    print(f"\n{len(rows)} scenarios in {time.monotonic() - started:.0f} s, {defects} defects")
    if args.json:
        args.json.write_text(json.dumps([asdict(row) for row in rows], indent=1))
    return 1 if defects else 0


if __name__ == "__main__":
    sys.exit(main())
