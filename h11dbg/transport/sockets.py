"""Blocking sockets with timeouts: TCP and TLS clients, a one-at-a-time listener, loopback pairs.

Every OSError is turned into :class:`NetworkError` with one line of text, so the layers above
never show a traceback for a network failure.
"""

from __future__ import annotations

import contextlib
import select
import socket
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from h11dbg.transport.address import format_address
from h11dbg.transport.errors import NetworkError, NotTLS, ReceiveTimeout, describe_os_error

if TYPE_CHECKING:
    from h11dbg.transport.tls import ServerTLS, TLSInfo

RECV_SIZE = 65536
LOOPBACK_BUFFER = 4 * 1024 * 1024


def _sockname(sock: socket.socket, peer: bool) -> str:
    try:
        addr = sock.getpeername() if peer else sock.getsockname()
    except OSError:
        return "?"
    if isinstance(addr, tuple):
        return format_address(str(addr[0]), int(addr[1]))
    return str(addr) or "socketpair"


@dataclass(frozen=True)
class ConnectPhases:
    """How long each step of making a client connection took, in seconds (``tls`` None without TLS)."""

    dns: float
    connect: float
    tls: float | None = None


class SocketTransport:
    """One connected socket.  ``recv`` returns b"" at EOF and raises ReceiveTimeout when idle.

    :meth:`peek_nowait` looks at what has arrived without waiting and keeps it for the next
    :meth:`recv`, so a front end can notice a close (or stamp when a response arrived) while the
    user types; :attr:`arrived_at` is when the bytes ``recv`` last returned came off the socket.
    """

    def __init__(self, sock: socket.socket, *, peer: str | None = None, timeout: float | None = 10.0,
                 tls: TLSInfo | None = None, phases: ConnectPhases | None = None) -> None:
        self.sock = sock
        self.timeout = timeout
        self.peer = peer if peer is not None else _sockname(sock, peer=True)
        self.local = _sockname(sock, peer=False)
        self.closed = False
        self.write_closed = False
        self.eof = False
        self.tls = isinstance(sock, ssl.SSLSocket)
        self.tls_info = tls  # what the handshake negotiated
        self.phases = phases  # a client connection's set-up times (None for accepted and loopback sockets)
        self.arrived_at = 0.0  # time.monotonic() when the bytes recv last returned were read
        # read ahead by peek_nowait, returned by the next recv: (bytes, or b"" for EOF; when read)
        self._peeked: tuple[bytes, float] | None = None

    def fileno(self) -> int:
        return self.sock.fileno()

    @property
    def peeked(self) -> bytes | None:
        """What :meth:`peek_nowait` read ahead (b"" for EOF), or None."""
        return None if self._peeked is None else self._peeked[0]

    def send(self, data: bytes) -> None:
        try:
            self.sock.settimeout(self.timeout)
            self.sock.sendall(data)
        except OSError as exc:
            raise NetworkError(describe_os_error(exc, f"sending to {self.peer}")) from None

    def recv(self, timeout: float | None = None, max_bytes: int = RECV_SIZE) -> bytes:
        if self._peeked is not None:
            data, self.arrived_at = self._peeked
            self._peeked = None
        else:
            try:
                self.sock.settimeout(self.timeout if timeout is None else timeout)
                data = self.sock.recv(max_bytes)
            except TimeoutError:
                waited = self._seconds(timeout)
                raise ReceiveTimeout(f"nothing received from {self.peer} within {waited}") from None
            except ssl.SSLZeroReturnError:
                data = b""  # the peer's close_notify after ours (Python raises for it then)
            except OSError as exc:
                raise NetworkError(describe_os_error(exc, f"receiving from {self.peer}")) from None
            self.arrived_at = time.monotonic()
        if not data:
            self.eof = True
        return data

    def peek_nowait(self) -> bytes | None:
        """What has arrived (b"" when the peer closed), kept for the next :meth:`recv`; None when
        nothing has (or only TLS records of no data, such as session tickets).  A reset raises
        NetworkError."""
        if self._peeked is not None:
            return self._peeked[0]
        if self.closed or self.eof:
            return None
        try:
            self.sock.settimeout(0.0)
            data = self.sock.recv(RECV_SIZE)
        except (BlockingIOError, ssl.SSLWantReadError, ssl.SSLWantWriteError):
            return None
        except ssl.SSLZeroReturnError:
            data = b""
        except OSError as exc:
            raise NetworkError(describe_os_error(exc, f"receiving from {self.peer}")) from None
        self._peeked = (data, time.monotonic())
        return data

    def readable_at(self, limit: float) -> Callable[[], float | None]:
        """Start noting when bytes next arrive, without reading them; the function returned gives
        that time (time.monotonic()), or None while nothing has.  A thread waits (at most ``limit``
        seconds), so the time is right even while the user types before reading the response.
        Plain TCP only: on TLS the socket is readable for records of no data (session tickets)."""
        arrived: list[float] = []
        if self.tls or self.closed:
            return lambda: None

        def wait() -> None:
            try:
                ready, _, _ = select.select([self.sock], [], [], limit)
            except (OSError, ValueError):  # closed meanwhile
                return
            if ready:
                arrived.append(time.monotonic())

        threading.Thread(target=wait, name="h11dbg-first-byte", daemon=True).start()
        return lambda: arrived[0] if arrived else None

    def wait_readable(self, timeout: float) -> bool:
        """Whether something (bytes, EOF, a reset) can be read within ``timeout`` seconds."""
        if self._peeked is not None or (isinstance(self.sock, ssl.SSLSocket) and self.sock.pending()):
            return True
        if self.closed:
            return False
        try:
            ready, _, _ = select.select([self.sock], [], [], timeout)
        except (OSError, ValueError):
            return False
        return bool(ready)

    def _seconds(self, timeout: float | None) -> str:
        value = self.timeout if timeout is None else timeout
        return "the timeout" if value is None else f"{value:.3g} s"

    def shutdown_write(self) -> bool:
        """Half-close: a FIN, or under TLS a close_notify (which ends our writing, not our reading).
        False when TLS could not send it now (the peer is not reading); the caller may try again."""
        if self.write_closed or self.closed:
            return True
        if isinstance(self.sock, ssl.SSLSocket):
            from h11dbg.transport.tls import send_close_notify

            self._read_ahead()  # sending it would discard a record waiting to be read
            if not send_close_notify(self.sock):
                return False
        else:
            # if the peer already went away, closing is what we wanted anyway
            with contextlib.suppress(OSError):
                self.sock.shutdown(socket.SHUT_WR)
        self.write_closed = True
        return True

    def _read_ahead(self) -> None:
        """Read all that has arrived into the buffer :meth:`recv` returns from next."""
        while self._peeked is None or self._peeked[0]:
            kept, self._peeked = self._peeked, None
            try:
                data = self.peek_nowait()
            except NetworkError:
                self._peeked = kept
                raise
            if kept is None:
                if data is None:
                    return
                continue  # the first read, kept as it is
            if data:
                self._peeked = (kept[0] + data, kept[1])
            else:  # nothing more, or bytes then an EOF: the bytes first (the next read finds the EOF)
                self._peeked = kept
                return

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            with contextlib.suppress(OSError):
                self.sock.close()



def _is_ip_literal(host: str) -> bool:
    for family in (socket.AF_INET, socket.AF_INET6):
        try:
            socket.inet_pton(family, host)
        except OSError:
            continue
        return True
    return False


def _dial(host: str, port: int, timeout: float | None) -> tuple[socket.socket, float, float]:
    """``socket.create_connection``'s two steps timed apart, as curl times them: the name lookup,
    then the TCP handshake (each address in turn until one answers).  Returns the socket and the
    two durations."""
    where = f"connecting to {format_address(host, port)}"
    started = time.monotonic()
    # an address needs no lookup (curl does none): the flag keeps getaddrinfo from consulting NSS;
    # an ASCII name goes as bytes, or the first call would time Python importing its IDNA codec
    numeric = socket.AI_NUMERICHOST if _is_ip_literal(host) else 0
    try:
        addresses = socket.getaddrinfo(host.encode("ascii") if host.isascii() else host, port, 0,
                                       socket.SOCK_STREAM, 0, numeric)
    except OSError as exc:
        raise NetworkError(describe_os_error(exc, where)) from None
    resolved = time.monotonic()
    last: OSError | None = None
    for family, kind, proto, _, address in addresses:
        sock = socket.socket(family, kind, proto)
        try:
            sock.settimeout(timeout)
            sock.connect(address)
        except OSError as exc:
            sock.close()
            last = exc
            continue
        return sock, resolved - started, time.monotonic() - resolved
    raise NetworkError(describe_os_error(last or OSError("no address"), where))


def connect_tcp(host: str, port: int, *, timeout: float | None = 10.0) -> SocketTransport:
    sock, dns, connect = _dial(host, port, timeout)
    return SocketTransport(sock, timeout=timeout, phases=ConnectPhases(dns, connect))


def connect_tls(
    host: str,
    port: int,
    *,
    timeout: float | None = 10.0,
    cafile: str | None = None,
    insecure: bool = False,
    server_hostname: str | None = None,
) -> SocketTransport:
    """TLS with SNI (the host name, or ``server_hostname``) and ALPN offering only http/1.1.

    A handshake that fails the way it does against a plain-text port raises :class:`NotTLS`."""
    from h11dbg.transport.tls import client_context, negotiated, plain_text_hint, version_hint

    try:
        context = client_context(cafile, insecure)
    except (OSError, ssl.SSLError) as exc:
        raise NetworkError(describe_os_error(exc, f"loading CA file {cafile}")) from None
    raw, dns, connect = _dial(host, port, timeout)
    handshake = time.monotonic()
    sni = server_hostname or host
    try:
        sock = context.wrap_socket(raw, server_hostname=sni)
    except (OSError, ssl.SSLError, ssl.CertificateError) as exc:
        raw.close()
        text = describe_os_error(exc, f"TLS handshake with {format_address(host, port)}")
        hint = plain_text_hint(exc)
        if hint:
            raise NotTLS(f"{text}: {hint}") from None
        hint = version_hint(exc)
        raise NetworkError(f"{text}: {hint}" if hint else text) from None
    phases = ConnectPhases(dns, connect, time.monotonic() - handshake)
    try:
        info = negotiated(sock, sni=sni, verified=not insecure)
    except ValueError as exc:  # a certificate cryptography cannot read
        sock.close()
        raise NetworkError(f"reading the certificate of {format_address(host, port)}: {exc}") from None
    return SocketTransport(sock, timeout=timeout, tls=info, phases=phases)


class Listener:
    """A listening socket that hands out one accepted connection at a time."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *, timeout: float | None = 10.0,
                 tls: ServerTLS | None = None) -> None:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        try:
            self.sock = socket.create_server((host, port), family=family, backlog=1)
        except OSError as exc:
            raise NetworkError(describe_os_error(exc, f"listening on {format_address(host, port)}")) from None
        self.timeout = timeout
        self.address = _sockname(self.sock, peer=False)
        self.closed = False
        self.tls = tls

    @property
    def port(self) -> int:
        return int(self.sock.getsockname()[1])

    def accept(self, timeout: float | None = None) -> SocketTransport:
        """Wait for the next client (``timeout`` None: forever)."""
        try:
            self.sock.settimeout(timeout)
            conn, _ = self.sock.accept()
        except TimeoutError:
            raise ReceiveTimeout(f"no client connected to {self.address} within {timeout:g} s") from None
        except OSError as exc:
            raise NetworkError(describe_os_error(exc, f"accepting on {self.address}")) from None
        if self.tls is None:
            return SocketTransport(conn, timeout=self.timeout)
        peer = _sockname(conn, peer=True)
        wrapped, info = self.tls.handshake(conn, peer, self.timeout)
        return SocketTransport(wrapped, peer=peer, timeout=self.timeout, tls=info)

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.sock.close()
            if self.tls is not None:
                self.tls.close()


@dataclass
class LoopbackPair:
    client: SocketTransport
    server: SocketTransport


def loopback_pair(*, timeout: float | None = 10.0) -> LoopbackPair:
    """Two connected sockets in this process: what the client writes, the server reads, and back."""
    a, b = socket.socketpair()
    for sock in (a, b):
        # both ends live in one thread: a body larger than the socket buffers would block the
        # writer forever, since the reader only runs after the write returns
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, LOOPBACK_BUFFER)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, LOOPBACK_BUFFER)
    return LoopbackPair(
        client=SocketTransport(a, peer="loopback server", timeout=timeout),
        server=SocketTransport(b, peer="loopback client", timeout=timeout),
    )
