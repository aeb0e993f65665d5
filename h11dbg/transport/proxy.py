"""The recording proxy: forwards bytes between real clients and a real server, unchanged and at
once, and records every read as a transcript chunk.

One thread per connection moves both directions with ``poll()``, so neither side waits for the
other (a client still uploading while the server already answers must not stall), and that thread
alone owns both sockets.  With a thread per direction blocked in ``recv()``, a reset seen by one
could not reach the other: closing a socket another thread is reading from sends nothing until that
read returns, so the peer was never told.  Here a reset (RST) is passed on at once, by closing the
other side with ``SO_LINGER`` 0, and a half-close (a FIN, or TLS's close_notify) by the same to the other
side (``shutdown(SHUT_WR)``, or a close_notify to a TLS peer) once the bytes before it are through.
A direction is read only while its previous read has been forwarded, so a slow reader slows its
sender down (TCP's own back-pressure) instead of filling memory.

Each chunk is recorded before it is forwarded, so whatever the other side sends in reply is
recorded after it: the transcript's order is causal, and no byte reaches a peer before it is in the
file.  Every record is written and flushed as it happens, so a kill loses nothing that crossed (the
file may end inside the record being written, which the reader says); once stopped (Ctrl-C,
SIGTERM) nothing more is recorded, and a read that finds the proxy stopped is not forwarded either.  Each direction
ends once: a ``close`` when its sender half-closed, and a reset ends every direction still open —
nothing is recorded for that connection after it.

What the proxy does on its own — refusing a connection over ``max_connections``, resetting one idle
for ``idle_timeout`` seconds, failing to reach the upstream — is recorded as what the client saw (the
server side reset: ``reset N s2c``) and said in one log line with the reason.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import os
import select
import socket
import ssl
import struct
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from h11dbg.transcript.model import DIRECTIONS, Chunk, Close, Direction, Open, Record, other_direction
from h11dbg.transport.address import format_address
from h11dbg.transport.errors import HandshakeFailed, describe_os_error
from h11dbg.transport.serving import Listener
from h11dbg.transport.tls import send_close_notify

if TYPE_CHECKING:
    from h11dbg.transport.tls import ServerTLS

_READ_SIZE = 65536  # what one read takes (transcript importers join a capture's segments up to this)
_READABLE = select.POLLIN | select.POLLERR | select.POLLHUP
_WRITABLE = select.POLLOUT | select.POLLERR | select.POLLHUP
# a non-blocking read or write that cannot go on yet (TLS: its record is not complete, or it needs the
# other way first, e.g. a session ticket); poll says when to try again
_NOT_YET = (BlockingIOError, InterruptedError, ssl.SSLWantReadError, ssl.SSLWantWriteError)


class RecordingProxy:
    """Listens on ``listen``; each accepted connection gets its own connection to ``upstream``.

    ``record`` is called (from several threads, serialised here) with every transcript record;
    ``log`` gets one line per connection event for the person watching.  ``idle_timeout`` (seconds,
    0 for never) resets a connection on which neither side sent anything for that long;
    ``max_connections`` refuses, with a reset, a connection that would go over it (their defaults
    are the ``record`` command's).
    """

    def __init__(
        self,
        listen: tuple[str, int],
        upstream: tuple[str, int],
        record: Callable[[Record], None],
        *,
        log: Callable[[str], None] | None = None,
        connect_timeout: float = 10.0,
        idle_timeout: float,
        max_connections: int,
        client_tls: ServerTLS | None = None,
        upstream_tls: ssl.SSLContext | None = None,
        upstream_sni: str | None = None,
    ) -> None:
        self.upstream = upstream
        self._record = record
        self._log = log or (lambda line: None)
        self._connect_timeout = connect_timeout
        self._idle_timeout = idle_timeout
        # a handshake that stalls is a connection on which neither side sends anything: the idle limit
        # bounds it too when it is the shorter (a slowloris over TLS is let go as one over TCP is)
        self._handshake_timeout = min(connect_timeout, idle_timeout) if idle_timeout else connect_timeout
        self._max_connections = max_connections
        # TLS terminated on either side: what is recorded is the plaintext in between
        self._client_tls = client_tls
        self._upstream_tls = upstream_tls
        self._upstream_sni = upstream_sni or upstream[0]
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self._start = time.monotonic()
        self._listener = Listener(*listen, name="proxy-conn", poll=0.2, limit=max_connections)
        self.address: tuple[str, int] = self._listener.address
        self.refused = 0  # connections refused at the cap
        self.idle = 0  # connections reset for being idle

    def _now(self) -> float:
        return time.monotonic() - self._start

    def _write(self, record: Record) -> bool:
        """Record ``record``; False once stopped (then nothing is recorded, and the caller must not pass
        on what it describes: a chunk forwarded but not recorded would be a byte lost)."""
        with self._lock:
            if self._stopped.is_set():
                return False
            # stamped under the lock, so times in the file never go backwards between threads
            self._record(dataclasses.replace(record, time=self._now()))
            return True

    def serve_forever(self) -> None:
        """Accept connections until :meth:`stop` (or KeyboardInterrupt in the calling thread)."""
        try:
            self._listener.serve(self._handle, self._refuse)
        finally:
            self.stop()

    def stop(self) -> None:
        """Stop accepting and recording; later bytes are neither recorded nor forwarded."""
        with self._lock:  # a record being written finishes first
            self._stopped.set()
        self._listener.stop()

    # -- one connection --------------------------------------------------------------------

    def _refuse(self, conn: int, client: socket.socket, peer: tuple[str, int]) -> None:
        self.refused += 1
        self._write(Open(conn, 0.0, format_address(*peer[:2]), format_address(*self.upstream)))
        self._write(Close(conn, "s2c", 0.0, reset=True))
        self._log(f"conn {conn}: refused (reset): {self._max_connections} connections open, "
                  "the --max-connections limit")
        _reset(client)

    def _handle(self, conn: int, client: socket.socket, peer: tuple[str, int]) -> None:
        client_name = format_address(*peer[:2])
        upstream_name = format_address(*self.upstream)
        if self._client_tls is not None:
            try:
                client, _ = self._client_tls.handshake(client, client_name, self._handshake_timeout)
            except HandshakeFailed as exc:
                self._log(f"conn {conn}: {exc}")  # nothing was said in HTTP: nothing to record
                return
            self._listener.track(client)
        failed = "failed"
        try:
            server = socket.create_connection(self.upstream, timeout=self._connect_timeout)
            if self._upstream_tls is not None:
                failed = "TLS handshake failed"
                try:
                    server.settimeout(self._handshake_timeout)
                    server = self._upstream_tls.wrap_socket(server, server_hostname=self._upstream_sni)
                except OSError:
                    server.close()
                    raise
        except OSError as exc:
            self._write(Open(conn, 0.0, client_name, upstream_name))
            self._write(Close(conn, "s2c", 0.0, reset=True))
            self._log(f"conn {conn}: {client_name} -> upstream {upstream_name} {self._why(exc, failed)}")
            _reset(client)
            return
        self._listener.track(server)
        try:
            for sock in (client, server):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # forward promptly
                sock.setblocking(False)
            self._write(Open(conn, 0.0, client_name, upstream_name))
            self._log(f"conn {conn}: {client_name} connected")
            outcome = _Relay(self, conn, client, server).run()
        finally:
            for sock in (client, server):
                with contextlib.suppress(OSError):
                    sock.close()  # after a reset already closed with SO_LINGER 0: a no-op
            self._listener.untrack(server)
            self._listener.untrack(client)
        self._log(f"conn {conn}: {outcome}")


    def _why(self, exc: OSError, failed: str) -> str:
        """Why the upstream could not be reached, in the words ``connect`` uses for the same failure."""
        text = describe_os_error(exc, failed)
        if self._upstream_tls is not None and failed != "failed":
            from h11dbg.transport.tls import plain_text_hint, version_hint

            if plain_text_hint(exc):
                return f"{text}: {plain_text_hint(exc)} (record without --upstream-tls)"
            if version_hint(exc):
                return f"{text}: {version_hint(exc)}"
        return text


class _Relay:
    """Both directions of one connection, moved by the one thread that owns both sockets."""

    def __init__(self, proxy: RecordingProxy, conn: int, client: socket.socket, server: socket.socket) -> None:
        self.proxy = proxy
        self.conn = conn
        self.client = client
        self.server = server
        # per direction: its sender's socket, its receiver's socket, the read not yet forwarded
        self.source = {"c2s": client, "s2c": server}
        self.target = {"c2s": server, "s2c": client}
        self.pending: dict[Direction, bytes] = {"c2s": b"", "s2c": b""}
        self.ended: set[Direction] = set()  # its sender half-closed (recorded)
        self.shut: set[Direction] = set()  # ... and the half-close was passed on
        self.last_activity = time.monotonic()

    def run(self) -> str:
        """Relay until both directions are closed, a reset, the idle timeout or a stop; returns what
        ended it, for the log."""
        poller = select.poll()
        by_fd = {self.client.fileno(): self.client, self.server.fileno(): self.server}
        registered = set(by_fd)
        idle = self.proxy._idle_timeout
        while len(self.shut) < 2:
            for fd, sock in by_fd.items():
                mask = self._interest(sock)
                if mask is None:
                    if fd in registered:
                        poller.unregister(fd)
                        registered.discard(fd)
                else:
                    poller.register(fd, mask)  # registered with 0 still reports an error (a reset)
            wait = None if not idle else max(0.0, self.last_activity + idle - time.monotonic())
            events = poller.poll(None if wait is None else wait * 1000)
            if self.proxy._stopped.is_set():
                return "stopped"
            if not events:
                if wait is not None and time.monotonic() >= self.last_activity + idle:
                    return self._expire(idle)
                continue
            for fd, flags in events:
                ended = self._serve(by_fd[fd], flags)
                if ended is not None:
                    return ended
        return "closed"

    def _interest(self, sock: socket.socket) -> int | None:
        """What to poll ``sock`` for; None once it has nothing more to say or hear."""
        mask = 0
        done = True
        for direction in DIRECTIONS:
            if self.source[direction] is sock and direction not in self.ended:
                done = False
                if not self.pending[direction]:
                    mask |= select.POLLIN
            if self.target[direction] is sock and direction not in self.shut:
                done = False
                if self.pending[direction]:
                    mask |= select.POLLOUT
        return None if done else mask

    def _serve(self, sock: socket.socket, flags: int) -> str | None:
        for direction in DIRECTIONS:
            if (self.source[direction] is sock and flags & _READABLE and direction not in self.ended
                    and not self.pending[direction]):
                ended = self._read(direction)
                if ended is not None:
                    return ended
            if self.target[direction] is sock and flags & _WRITABLE and self.pending[direction]:
                ended = self._forward(direction)
                if ended is not None:
                    return ended
        for direction in DIRECTIONS:
            if direction in self.ended and direction not in self.shut and not self.pending[direction]:
                self._forward(direction)  # a close_notify that had to wait
        if flags & select.POLLERR:  # a socket polled for nothing else: its peer reset
            error = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if error:
                sent: Direction = "c2s" if sock is self.client else "s2c"
                return self._pass_reset(sent, OSError(error, os.strerror(error)))
        return None

    def _read(self, direction: Direction) -> str | None:
        try:
            data = self.source[direction].recv(_READ_SIZE)
        except _NOT_YET:
            return None
        except ssl.SSLZeroReturnError:
            data = b""  # the peer's close_notify after ours (a clean end; Python's recv() raises for it then)
        except OSError as exc:
            return self._pass_reset(direction, exc)
        if not data and _reset_under_tls(self.source[direction]):
            return self._pass_reset(direction, ConnectionResetError(errno.ECONNRESET, os.strerror(errno.ECONNRESET)))
        self.last_activity = time.monotonic()
        # stopped between poll() and this read (SIGTERM, Ctrl-C): what was read is not passed on
        if not self.proxy._write(Chunk(self.conn, direction, data, 0.0) if data else Close(self.conn, direction)):
            return "stopped"
        if data:
            self.pending[direction] = data
        else:
            self.ended.add(direction)
        return self._forward(direction)

    def _forward(self, direction: Direction) -> str | None:
        """Send what is pending (as much as the receiver takes now), then pass a half-close on."""
        target = self.target[direction]
        if self.pending[direction]:
            try:
                sent = target.send(self.pending[direction])
            except _NOT_YET:
                return None
            except OSError as exc:  # the receiver is gone: it reset
                return self._pass_reset(other_direction(direction), exc)
            self.pending[direction] = self.pending[direction][sent:]
            self.last_activity = time.monotonic()
        if not self.pending[direction] and direction in self.ended and direction not in self.shut:
            if isinstance(target, ssl.SSLSocket):
                if not self._close_notify(direction, target):
                    return None  # tried again after the next event
            else:
                with contextlib.suppress(OSError):
                    target.shutdown(socket.SHUT_WR)  # pass the half-close on
            self.shut.add(direction)
        return None

    def _close_notify(self, direction: Direction, target: ssl.SSLSocket) -> bool:
        """Pass a half-close on to a TLS receiver as TLS's own, a close_notify; without it a TLS client
        never saw a close-delimited response end.  Returns whether it was sent.  While the receiver may
        still send, not while a record of its waits to be read, which sending would discard (the next
        event reads it, then this runs again)."""
        if other_direction(direction) not in self.ended and (target.pending() or _poll_now(target) & select.POLLIN):
            return False
        return send_close_notify(target)

    def _pass_reset(self, direction: Direction, exc: OSError) -> str:
        """The sender of ``direction`` reset: record it and reset the other side at once."""
        self.proxy._write(Close(self.conn, direction, 0.0, reset=True))
        _reset(self.target[direction])
        _reset(self.source[direction])
        return f"{direction} reset ({exc.strerror or exc}), passed on"

    def _expire(self, idle: float) -> str:
        self.proxy.idle += 1
        self.proxy._write(Close(self.conn, "s2c", 0.0, reset=True))
        _reset(self.client)
        _reset(self.server)
        return f"idle for {idle:g} s: both sides reset (the --idle-timeout limit)"


def _reset_under_tls(sock: socket.socket) -> bool:
    """Whether a TLS peer's end of stream was a TCP reset.  OpenSSL reports a reset as the same EOF as a FIN
    without close_notify (its errno is lost), but the socket tells them apart: after a reset it is closed
    (POLLHUP), after a FIN it waits in CLOSE_WAIT for our side, which a TLS socket never half-closes."""
    if not isinstance(sock, ssl.SSLSocket):
        return False  # plain TCP: recv() raised ECONNRESET itself
    return bool(_poll_now(sock) & (select.POLLHUP | select.POLLERR))


def _poll_now(sock: socket.socket) -> int:
    """What ``poll()`` says of ``sock`` now, without waiting."""
    poller = select.poll()
    poller.register(sock.fileno(), select.POLLIN)
    return next((flags for _, flags in poller.poll(0)), 0)


def _reset(sock: socket.socket) -> None:
    """Close with an RST rather than a FIN, to pass a reset on."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.close()
