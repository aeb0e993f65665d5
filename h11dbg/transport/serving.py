"""One accept loop, for every server h11dbg runs itself: the recording proxy and the demo server.

A :class:`Listener` binds at once (so a busy port fails before anything else starts), then
:meth:`Listener.serve` hands each accepted connection, numbered from 1, to a handler in a thread of
its own.  :meth:`Listener.stop` ends it all: no more accepts, every connection still open shut
down, and the handlers' threads waited for (boundedly), so nothing outlives the command or test
that started it.

Rules of the house: the loop wakes up every ``poll`` seconds to notice :meth:`stop`; a handler owns
its socket, and registers any other socket it opens (:meth:`track`) so that stop reaches it too.

The backlog is large (:data:`BACKLOG`; the kernel caps it at ``net.core.somaxconn``): with
``listen(128)`` a burst of 400 connections overflowed the queue, Linux answered with SYN cookies,
and four clients lost their first bytes.  With ``limit``, a connection accepted while ``limit``
handlers are running goes to ``refuse`` (in the accepting thread, so it must be quick) instead of
getting a thread: threads and file descriptors stay bounded however many peers connect.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable

Handler = Callable[[int, socket.socket, tuple[str, int]], None]  # (number, socket, peer address)

BACKLOG = 4096


class Listener:
    def __init__(self, host: str, port: int, *, name: str, poll: float = 0.1, limit: int | None = None) -> None:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self._socket = socket.socket(family, socket.SOCK_STREAM)
        try:
            self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            self._socket.bind((host, port))
            self._socket.listen(BACKLOG)
        except OSError:
            self._socket.close()
            raise
        self._socket.settimeout(poll)
        self.address: tuple[str, int] = self._socket.getsockname()[:2]
        self.name = name
        self._stopped = threading.Event()
        self._lock = threading.Lock()
        self._open: set[socket.socket] = set()
        self._threads: list[threading.Thread] = []
        self._accepted = 0
        self._limit = limit
        self._running = 0  # handlers not yet returned
        self._acceptor: threading.Thread | None = None

    @property
    def stopped(self) -> bool:
        return self._stopped.is_set()

    def track(self, sock: socket.socket) -> None:
        """``sock`` is shut down by :meth:`stop` if it is still open then."""
        with self._lock:
            self._open.add(sock)

    def untrack(self, sock: socket.socket) -> None:
        with self._lock:
            self._open.discard(sock)

    @property
    def running(self) -> int:
        """How many handlers are running now."""
        return self._running

    def serve(self, handle: Handler, refuse: Handler | None = None) -> None:
        """Accept connections until :meth:`stop`, each handled by ``handle`` in its own thread (or,
        at the limit, by ``refuse`` in this one; without it such a connection is just closed)."""
        while not self._stopped.is_set():
            try:
                sock, peer = self._socket.accept()
            except TimeoutError:
                continue
            except OSError:
                if self._stopped.is_set():
                    return
                raise
            self._accepted += 1
            if self._limit is not None and self._running >= self._limit:
                try:
                    if refuse is not None:
                        refuse(self._accepted, sock, peer)
                finally:
                    with contextlib.suppress(OSError):
                        sock.close()
                continue
            thread = threading.Thread(target=self._run, args=(handle, self._accepted, sock, peer), daemon=True,
                                      name=f"{self.name}-{self._accepted}")
            with self._lock:
                self._open.add(sock)
                self._threads = [t for t in self._threads if t.is_alive()]
                self._threads.append(thread)
                self._running += 1
            thread.start()

    def serve_in_background(self, handle: Handler, refuse: Handler | None = None) -> threading.Thread:
        self._acceptor = threading.Thread(target=self.serve, args=(handle, refuse), name=self.name, daemon=True)
        self._acceptor.start()
        return self._acceptor

    def _run(self, handle: Handler, number: int, sock: socket.socket, peer: tuple[str, int]) -> None:
        try:
            handle(number, sock, peer)
        finally:
            with self._lock:
                self._open.discard(sock)
                self._running -= 1

    def stop(self, timeout: float = 2.0) -> None:
        """Stop accepting, shut every open connection down, and wait up to ``timeout`` for the handlers."""
        self._stopped.set()
        # shutdown first: a close alone leaves the port listening until the accept in flight returns
        with contextlib.suppress(OSError):
            self._socket.shutdown(socket.SHUT_RDWR)
        with contextlib.suppress(OSError):
            self._socket.close()
        if self._acceptor is not None and self._acceptor is not threading.current_thread():
            self._acceptor.join(timeout)
        with self._lock:
            for sock in self._open:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
            threads = [t for t in self._threads if t is not threading.current_thread()]
        deadline = time.monotonic() + timeout
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
