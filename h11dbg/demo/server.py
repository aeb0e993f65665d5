"""A small HTTP/1.1 server for teaching, built on the engine it demonstrates.

Every byte it reads goes through ``engine.Connection(SERVER)`` and every byte it writes comes out of
its ``send``, so the demo shows the engine's own framing decisions (chunked or Content-Length, when
to close, what a HEAD response may carry).  Each route shows one piece of HTTP/1.1; ``/`` lists them.

It serves 127.0.0.1 on an ephemeral port from a daemon thread, one thread per connection, and stops
cleanly (listener closed, open connections shut down, threads joined) from :meth:`DemoServer.stop`.

Run it alone with ``python -m h11dbg.demo.server --port 8080``.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import socket
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from email.utils import formatdate
from http import HTTPStatus
from typing import TYPE_CHECKING

from h11dbg.engines import EngineUnavailable, load_engine
from h11dbg.transport.serving import Listener

if TYPE_CHECKING:
    from h11dbg.engines import Engine, Request

ROUTES: dict[str, str] = {
    "/": "this index (Content-Length body; the connection stays open for the next request)",
    "/chunked": "a body sent as several chunks (Transfer-Encoding: chunked)",
    "/trailers": "a chunked body followed by trailer fields after the last chunk",
    "/upload": "POST or PUT a body; honours Expect: 100-continue, replies with the length received",
    "/nocontent": "204 No Content: a response that can never have a body",
    "/cached": "200 with an ETag; send If-None-Match with that ETag to get 304 Not Modified",
    "/close": "a response with Connection: close; the server closes after it",
    "/upgrade": "GET with Upgrade: echo and Connection: Upgrade gets 101, then every byte is echoed",
    "/slow": "a chunked body that arrives in pieces, with short pauses between them",
}
"""Every route and what it teaches; HEAD works on every GET route (headers only, no body)."""

SERVER_NAME = b"h11dbg-demo"
ETAG = b'"h11dbg-demo-1"'
UPLOAD_LIMIT = 1024 * 1024  # larger uploads are refused with 413 before the client sends the body
CHUNKS = (b"HTTP/1.1 ", b"can send ", b"a body ", b"in pieces\n")
TRAILER_BODY = b"the checksum of this body follows it, as a trailer field\n"
SLOW_PIECES = (b"one\n", b"two\n", b"three\n", b"four\n")


def _reason(status: int) -> bytes:
    try:
        return HTTPStatus(status).phrase.encode()
    except ValueError:
        return b""


class _PeerGone(Exception):
    """The client closed (or went silent) before we were done with it."""


def _header(headers: Iterable[tuple[bytes, bytes]], name: bytes) -> bytes | None:
    # h11 lower-cases names on parsing, so iterating (not raw_items) gives comparable names
    for key, value in headers:
        if key == name:
            return bytes(value)
    return None


def _etag_matches(if_none_match: bytes, etag: bytes) -> bool:
    """If-None-Match uses the weak comparison (RFC 9110 §13.1.2): W/ prefixes are ignored."""
    if if_none_match.strip() == b"*":
        return True
    wanted = etag.removeprefix(b"W/")
    return any(tag.strip().removeprefix(b"W/") == wanted for tag in if_none_match.split(b","))


class _Connection:
    """One client connection: read requests, answer them, reuse the connection while the engine allows."""

    def __init__(self, server: DemoServer, sock: socket.socket) -> None:
        self.server = server
        self.engine = server.engine
        self.sock = sock
        self.machine = self.engine.Connection(self.engine.SERVER)
        self.request: Request | None = None

    # -- I/O through the engine -------------------------------------------------------------------

    def _next_event(self) -> object:
        while True:
            event = self.machine.next_event()
            if event is not self.engine.NEED_DATA:
                return event
            try:
                data = self.sock.recv(65536)
            except OSError:
                raise _PeerGone() from None
            self.machine.receive_data(data)

    def _send(self, event: object) -> None:
        data = self.machine.send(event)
        if data:
            self.sock.sendall(data)

    # -- the connection's life --------------------------------------------------------------------

    def run(self) -> None:
        engine = self.engine
        try:
            while True:
                event = self._next_event()
                if not isinstance(event, engine.Request):
                    return  # ConnectionClosed between requests: the client is done
                self.request = event
                switched = self._dispatch(event)
                if switched:
                    self._echo()
                    return
                if self.machine.our_state is engine.DONE and self.machine.their_state is engine.DONE:
                    self.machine.start_next_cycle()
                else:
                    return  # MUST_CLOSE (Connection: close, HTTP/1.0, unread body): close it
        except engine.RemoteProtocolError as exc:
            self._refuse(exc)
        except (_PeerGone, OSError, engine.LocalProtocolError):
            pass
        finally:
            self._close()

    def _close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_WR)
        self.sock.close()

    def _refuse(self, exc: BaseException) -> None:
        """Answer a malformed request with the status the engine suggests, then close."""
        if self.machine.our_state not in (self.engine.IDLE, self.engine.SEND_RESPONSE):
            return
        status = int(getattr(exc, "error_status_hint", 400))
        body = f"{status}: {exc}\n".encode("utf-8", "replace")
        with contextlib.suppress(OSError, self.engine.LocalProtocolError):
            self._respond(status, body, extra=[(b"Connection", b"close")], head=False)

    # -- building responses -----------------------------------------------------------------------

    def _headers(self, extra: Iterable[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
        return [(b"Server", SERVER_NAME), (b"Date", formatdate(usegmt=True).encode()), *extra]

    @property
    def _is_head(self) -> bool:
        return self.request is not None and bytes(self.request.method) == b"HEAD"

    def _respond(
        self,
        status: int,
        body: bytes = b"",
        *,
        extra: Sequence[tuple[bytes, bytes]] = (),
        content_type: bytes | None = b"text/plain; charset=utf-8",
        head: bool | None = None,
    ) -> None:
        """A response with a Content-Length body (or none, for 1xx/204/304 and HEAD)."""
        head = self._is_head if head is None else head
        headers = list(extra)
        if status not in (204, 304):
            if content_type is not None:
                headers.append((b"Content-Type", content_type))
            # HEAD gets the Content-Length a GET would get, but no body (RFC 9110 §9.3.2)
            headers.append((b"Content-Length", str(len(body)).encode()))
        self._send(
            self.engine.Response(status_code=status, reason=_reason(status), headers=self._headers(headers))
        )
        if body and not head and status not in (204, 304):
            self._send(self.engine.Data(data=body))
        self._send(self.engine.EndOfMessage())

    def _respond_chunked(
        self,
        pieces: Sequence[bytes],
        *,
        extra: Sequence[tuple[bytes, bytes]] = (),
        trailers: Sequence[tuple[bytes, bytes]] = (),
        delay: float = 0.0,
    ) -> None:
        headers = [(b"Content-Type", b"text/plain; charset=utf-8"), *extra]
        headers.append((b"Transfer-Encoding", b"chunked"))
        self._send(self.engine.Response(status_code=200, reason=b"OK", headers=self._headers(headers)))
        if self._is_head:
            # the engine frames a HEAD response as empty: no chunks, and so no trailers either
            self._send(self.engine.EndOfMessage())
            return
        for index, piece in enumerate(pieces):
            if index and delay:
                time.sleep(delay)
            self._send(self.engine.Data(data=piece))
        self._send(self.engine.EndOfMessage(headers=list(trailers)))

    def _read_body(self, limit: int = UPLOAD_LIMIT) -> tuple[int, bytes]:
        """Read the request body to its end; returns (length, the first ``limit`` bytes)."""
        if self.machine.they_are_waiting_for_100_continue:
            self._send(
                self.engine.InformationalResponse(
                    status_code=100, reason=b"Continue", headers=self._headers([])
                )
            )
        length = 0
        kept = bytearray()
        while True:
            event = self._next_event()
            if isinstance(event, self.engine.Data):
                length += len(event.data)
                if len(kept) < limit:
                    kept += event.data[: limit - len(kept)]
            elif isinstance(event, self.engine.EndOfMessage) or event is self.engine.PAUSED:
                return length, bytes(kept)
            else:
                raise _PeerGone()

    # -- routes -----------------------------------------------------------------------------------

    def _dispatch(self, request: Request) -> bool:
        """Answer one request; True when the connection switched protocols."""
        method = bytes(request.method)
        path = bytes(request.target).split(b"?", 1)[0].decode("ascii", "replace")
        if path == "/upload":
            self._upload(request, method)
            return False
        self._read_body()
        if path not in ROUTES:
            self._respond(404, f"no route {path}; GET / lists the routes\n".encode())
            return False
        if method not in (b"GET", b"HEAD"):
            self._respond(405, b"this route answers GET and HEAD\n", extra=[(b"Allow", b"GET, HEAD")])
            return False
        handler: Callable[[Request], bool | None] = getattr(self, "_route_" + (path.strip("/") or "index"))
        return bool(handler(request))

    def _route_index(self, request: Request) -> None:
        width = max(len(path) for path in ROUTES)
        lines = ["h11dbg demo server: every route teaches one piece of HTTP/1.1.", ""]
        lines += [f"  {path:<{width}}  {text}" for path, text in ROUTES.items()]
        lines += ["", "HEAD works on every GET route: the same headers, no body.", ""]
        self._respond(200, "\n".join(lines).encode())

    def _route_chunked(self, request: Request) -> None:
        self._respond_chunked(CHUNKS)

    def _route_trailers(self, request: Request) -> None:
        digest = hashlib.sha256(TRAILER_BODY).hexdigest().encode()
        self._respond_chunked(
            [TRAILER_BODY[:20], TRAILER_BODY[20:]],
            extra=[(b"Trailer", b"X-Checksum")],
            trailers=[(b"X-Checksum", b"sha256=" + digest)],
        )

    def _route_slow(self, request: Request) -> None:
        self._respond_chunked(SLOW_PIECES, delay=self.server.slow_delay)

    def _route_nocontent(self, request: Request) -> None:
        self._respond(204)

    def _route_cached(self, request: Request) -> None:
        if_none_match = _header(request.headers, b"if-none-match")
        if if_none_match is not None and _etag_matches(if_none_match, ETAG):
            self._respond(304, extra=[(b"ETag", ETAG), (b"Cache-Control", b"max-age=60")])
        else:
            body = b"a cacheable body: ask again with If-None-Match: " + ETAG + b"\n"
            self._respond(200, body, extra=[(b"ETag", ETAG), (b"Cache-Control", b"max-age=60")])

    def _route_close(self, request: Request) -> None:
        # the engine sees our Connection: close and moves us to MUST_CLOSE after the response
        self._respond(200, b"this connection closes after this response\n", extra=[(b"Connection", b"close")])

    def _route_upgrade(self, request: Request) -> bool:
        upgrade = _header(request.headers, b"upgrade")
        offers = [p.strip().lower() for p in upgrade.split(b",")] if upgrade else []
        if b"echo" not in offers or self.machine.their_state is not self.engine.MIGHT_SWITCH_PROTOCOL:
            # RFC 9110 §15.5.22: a 426 must say which protocol to upgrade to
            self._respond(
                426,
                b"send Upgrade: echo and Connection: Upgrade to switch to the echo protocol\n",
                extra=[(b"Upgrade", b"echo"), (b"Connection", b"Upgrade")],
            )
            return False
        self._send(
            self.engine.InformationalResponse(
                status_code=101,
                reason=b"Switching Protocols",
                headers=self._headers([(b"Upgrade", b"echo"), (b"Connection", b"Upgrade")]),
            )
        )
        return True

    def _upload(self, request: Request, method: bytes) -> None:
        if method not in (b"POST", b"PUT"):
            self._read_body()
            self._respond(405, b"/upload takes POST or PUT\n", extra=[(b"Allow", b"POST, PUT")])
            return
        declared = _header(request.headers, b"content-length")
        # the engine took a value of at most 20 significant digits, but any number of leading
        # zeros, which int() would refuse past 4300 digits
        if declared is not None and int(declared.lstrip(b"0") or b"0") > UPLOAD_LIMIT:
            # refusing before 100 Continue spares the client sending a body we would drop; the body
            # it may send anyway is unread, so the engine leaves the connection unusable: close it
            self._respond(
                413,
                f"uploads are limited to {UPLOAD_LIMIT} bytes\n".encode(),
                extra=[(b"Connection", b"close")],
            )
            return
        waited = self.machine.they_are_waiting_for_100_continue
        length, body = self._read_body()
        note = " after 100 Continue" if waited else ""
        digest = hashlib.sha256(body).hexdigest() if length <= UPLOAD_LIMIT else "(too large to hash)"
        self._respond(200, f"received {length} bytes{note}; sha256 {digest}\n".encode())

    # -- after 101 --------------------------------------------------------------------------------

    def _echo(self) -> None:
        """The echo protocol: every byte back as it came, until the client closes."""
        leftover, closed = self.machine.trailing_data
        if leftover:
            self.sock.sendall(bytes(leftover))
        while not closed:
            try:
                data = self.sock.recv(65536)
            except OSError:
                return
            if not data:
                return
            self.sock.sendall(data)


class DemoServer:
    """The demo server on ``host``:``port`` (0: an ephemeral port), run by ``engine``."""

    def __init__(
        self,
        engine: Engine | str = "h11dbg",
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        slow_delay: float = 0.15,
        idle_timeout: float = 30.0,
    ) -> None:
        self.engine = load_engine(engine) if isinstance(engine, str) else engine
        self.slow_delay = slow_delay
        self.idle_timeout = idle_timeout
        self._listener = Listener(host, port, name="h11dbg-demo")
        self.host, self.port = self._listener.address
        self.errors: list[BaseException] = []  # unexpected failures while serving a connection

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> DemoServer:
        self._listener.serve_in_background(self._serve)
        return self

    def __enter__(self) -> DemoServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _serve(self, number: int, sock: socket.socket, peer: tuple[str, int]) -> None:
        sock.settimeout(self.idle_timeout)
        try:
            _Connection(self, sock).run()
        except Exception as exc:
            # an engine bug must not print a thread traceback over the user's REPL; it is kept
            # for whoever runs the server (the tests assert there are none) and the socket closes
            self.errors.append(exc)
            with contextlib.suppress(OSError):
                sock.close()

    def stop(self, timeout: float = 2.0) -> None:
        self._listener.stop(timeout)


def _port(text: str) -> int:
    from h11dbg.transport.address import AddressError, parse_port

    try:
        return parse_port(text)
    except AddressError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m h11dbg.demo.server", description="Run the h11dbg demo server on 127.0.0.1."
    )
    parser.add_argument("--port", type=_port, default=0, help="port to listen on (default: any free port)")
    parser.add_argument("--engine", default="h11dbg", help="engine that serves: h11dbg (default) or h11")
    args = parser.parse_args(argv)
    try:
        server = DemoServer(args.engine, port=args.port)
    except EngineUnavailable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"error: cannot listen on 127.0.0.1:{args.port}: {exc.strerror or exc}", file=sys.stderr)
        return 3
    server.start()
    print(f"h11dbg demo server ({args.engine} engine) on {server.url}/ — Ctrl-C stops it", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
