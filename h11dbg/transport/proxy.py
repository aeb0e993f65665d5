"""The recording proxy: forwards bytes between real clients and a real server, unchanged and at
once, and records every read as a transcript chunk.

Two threads per connection, one per direction, so neither side waits for the other (a client
still uploading while the server already answers must not stall).  Each chunk is recorded before
it is forwarded, so whatever the other side sends in reply is recorded after it: the transcript's
order is causal.  Every record is written and flushed as it happens, so a Ctrl-C or a kill leaves
a file that is valid up to the last chunk.
"""

from __future__ import annotations

import contextlib
import dataclasses
import socket
import struct
import threading
import time
from collections.abc import Callable

from h11dbg.transcript.model import Chunk, Close, Direction, Open, Record, other_direction
from h11dbg.transport.address import format_address
from h11dbg.transport.serving import Listener

_READ_SIZE = 65536


class RecordingProxy:
    """Listens on ``listen``; each accepted connection gets its own connection to ``upstream``.

    ``record`` is called (from several threads, serialised here) with every transcript record;
    ``log`` gets one line per connection event for the person watching.
    """

    def __init__(
        self,
        listen: tuple[str, int],
        upstream: tuple[str, int],
        record: Callable[[Record], None],
        *,
        log: Callable[[str], None] | None = None,
        connect_timeout: float = 10.0,
    ) -> None:
        self.upstream = upstream
        self._record = record
        self._log = log or (lambda line: None)
        self._connect_timeout = connect_timeout
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self._next_conn = 1
        self._start = time.monotonic()
        self._listener = Listener(*listen, name="proxy-conn", poll=0.2)
        self.address: tuple[str, int] = self._listener.address

    def _now(self) -> float:
        return time.monotonic() - self._start

    def _write(self, record: Record) -> None:
        with self._lock:
            if not self._stopped.is_set():
                # stamped under the lock, so times in the file never go backwards between threads
                self._record(dataclasses.replace(record, time=self._now()))

    def serve_forever(self) -> None:
        """Accept connections until :meth:`stop` (or KeyboardInterrupt in the calling thread)."""
        try:
            self._listener.serve(self._handle)
        finally:
            self.stop()

    def stop(self) -> None:
        """Stop accepting and recording; later bytes are neither recorded nor forwarded."""
        with self._lock:  # a record being written finishes first
            self._stopped.set()
        self._listener.stop()

    # -- one connection --------------------------------------------------------------------

    def _handle(self, conn: int, client: socket.socket, peer: tuple[str, int]) -> None:
        client_name = format_address(*peer[:2])
        upstream_name = format_address(*self.upstream)
        try:
            server = socket.create_connection(self.upstream, timeout=self._connect_timeout)
        except OSError as exc:
            self._write(Open(conn, 0.0, client_name, upstream_name))
            self._write(Close(conn, "s2c", 0.0, reset=True))
            self._log(f"conn {conn}: {client_name} -> upstream {upstream_name} failed: {exc}")
            _reset(client)
            return
        client.settimeout(None)
        server.settimeout(None)
        self._listener.track(server)
        for sock in (client, server):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # forward promptly
        self._write(Open(conn, 0.0, client_name, upstream_name))
        self._log(f"conn {conn}: {client_name} connected")
        state = _Pair(client, server)
        replies = threading.Thread(target=self._pump, args=(conn, state, "s2c"), daemon=True)
        replies.start()
        self._pump(conn, state, "c2s")
        replies.join()
        for sock in (client, server):
            with contextlib.suppress(OSError):
                sock.close()
        self._listener.untrack(server)
        self._log(f"conn {conn}: closed")

    def _pump(self, conn: int, pair: _Pair, direction: Direction) -> None:
        source, target = (pair.client, pair.server) if direction == "c2s" else (pair.server, pair.client)
        while True:
            try:
                data = source.recv(_READ_SIZE)
            except OSError as exc:
                if pair.aborted or self._stopped.is_set():
                    return
                pair.aborted = True
                self._write(Close(conn, direction, 0.0, reset=True))
                self._log(f"conn {conn}: {direction} reset ({exc})")
                _reset(target)
                return
            if not data:
                if pair.aborted:
                    return
                self._write(Close(conn, direction, 0.0))
                with contextlib.suppress(OSError):
                    target.shutdown(socket.SHUT_WR)  # pass the half-close on
                return
            self._write(Chunk(conn, direction, data, 0.0))
            try:
                target.sendall(data)
            except OSError:
                if pair.aborted or self._stopped.is_set():
                    return
                # The receiver is gone; the reset shows up on its own reading side.
                pair.aborted = True
                self._write(Close(conn, other_direction(direction), 0.0, reset=True))
                _reset(source)
                return


class _Pair:
    def __init__(self, client: socket.socket, server: socket.socket) -> None:
        self.client = client
        self.server = server
        self.aborted = False


def _reset(sock: socket.socket) -> None:
    """Close with an RST rather than a FIN, to pass a reset on."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.close()
