"""The Connection: one side of an HTTP/1.1 connection, bytes in and bytes out, no I/O.

It ties the state machine (``_state``) to the readers (``_receive``) and
writers (``_send``): after every state change it picks the reader for the
peer's new state and the writer for ours, using the message framing rules of
RFC 9112 §6.3 when a body starts.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ._events import (
    ConnectionClosed,
    Data,
    EndOfMessage,
    Event,
    InformationalResponse,
    Request,
    Response,
)
from ._headers import Headers, get_comma_header, has_expect_100_continue, set_comma_header
from ._receive import (
    Reader,
    ReceiveBuffer,
    chunked_reader,
    content_length_reader,
    head_reader,
    nothing_reader,
    until_close_reader,
)
from ._send import (
    ChunkedWriter,
    ContentLengthWriter,
    UntilCloseWriter,
    check_request,
    check_response,
    write_request,
    write_response,
)
from ._state import (
    _SWITCH_CONNECT,
    _SWITCH_UPGRADE,
    CLIENT,
    CLOSED,
    DONE,
    ERROR,
    IDLE,
    MIGHT_SWITCH_PROTOCOL,
    MUST_CLOSE,
    SEND_BODY,
    SEND_RESPONSE,
    SERVER,
    SWITCHED_PROTOCOL,
    ConnectionState,
    Transition,
)
from ._util import LocalProtocolError, RemoteProtocolError, Sentinel

__all__ = ["DEFAULT_MAX_INCOMPLETE_EVENT_SIZE", "Connection", "NEED_DATA", "PAUSED"]

# The largest head (or chunk-size line, or trailer section) we buffer before refusing: 16 KiB, as h11.
DEFAULT_MAX_INCOMPLETE_EVENT_SIZE = 16 * 1024


class NEED_DATA(Sentinel, metaclass=Sentinel):
    """next_event(): no complete event yet; call receive_data() with more bytes."""


class PAUSED(Sentinel, metaclass=Sentinel):
    """next_event(): the peer sent more than this cycle allows; start_next_cycle() or switch protocol."""


Observer = Callable[[Transition], Any]
Writer = Callable[[Event], list[Any]]
Framing = tuple[str, int] | tuple[str, None]


def message_framing(request_method: bytes | None, event: Request | Response) -> Framing:
    """How the body of ``event`` is delimited (RFC 9112 §6.3), in the order the RFC gives:
    ``("chunked", None)``, ``("content-length", N)`` (0 also for the responses that have no body
    whatever their fields say) or ``("http/1.0", None)`` (a response read until the close).  Public
    for ``h11dbg diff A B``, which reports how two recordings framed their messages."""
    if type(event) is Response:
        status = event.status_code
        if (
            status in (204, 304)
            or request_method == b"HEAD"
            or (request_method == b"CONNECT" and 200 <= status < 300)
        ):
            return ("content-length", 0)
    headers = event.headers
    facts = headers._facts or headers.facts()
    if facts.chunked:
        return ("chunked", None)
    if facts.content_length is not None:
        return ("content-length", facts.content_length)
    if type(event) is Request:
        return ("content-length", 0)
    return ("http/1.0", None)


class Connection:
    """One side (``our_role``: CLIENT or SERVER) of an HTTP/1.1 connection.

    The API is h11's.  Additions, all optional: ``keep_alive_http10`` (let an
    HTTP/1.0 message with ``Connection: keep-alive`` keep the connection, as real
    HTTP/1.0 peers do), and :meth:`add_observer` to be told of every state change
    as a :class:`Transition`.
    """

    def __init__(
        self,
        our_role: type[Sentinel],
        max_incomplete_event_size: int = DEFAULT_MAX_INCOMPLETE_EVENT_SIZE,
        *,
        keep_alive_http10: bool = False,
    ) -> None:
        if our_role not in (CLIENT, SERVER):
            raise ValueError(f"expected CLIENT or SERVER, not {our_role!r}")
        self._max_incomplete_event_size = max_incomplete_event_size
        self._keep_alive_http10 = keep_alive_http10
        self.our_role = our_role
        self.their_role: type[Sentinel] = SERVER if our_role is CLIENT else CLIENT
        self._cstate = ConnectionState()
        self._observers: tuple[Observer, ...] = ()  # rarely set: a shared empty tuple costs nothing
        self._receive_buffer = ReceiveBuffer()
        self._receive_buffer_closed = False
        self.their_http_version: bytes | None = None
        self._request_method: bytes | None = None
        self.client_is_waiting_for_100_continue = False
        # the readers/writers below were chosen for these states; a change of state picks anew
        self._writer_state: type[Sentinel] = IDLE
        self._reader_state: type[Sentinel] = IDLE
        # both roles start IDLE: we may send a head, and the peer's head is what we read next
        self._writer: Writer | None = _write_head
        self._reader: Reader | None = head_reader(our_role is SERVER, max_incomplete_event_size)

    # -- state -------------------------------------------------------------------------------

    @property
    def states(self) -> dict[type[Sentinel], type[Sentinel]]:
        return dict(self._cstate.states)

    @property
    def our_state(self) -> type[Sentinel]:
        return self._cstate.states[self.our_role]

    @property
    def their_state(self) -> type[Sentinel]:
        return self._cstate.states[self.their_role]

    @property
    def they_are_waiting_for_100_continue(self) -> bool:
        return self.their_role is CLIENT and self.client_is_waiting_for_100_continue

    @property
    def trailing_data(self) -> tuple[bytes, bool]:
        """Bytes received but not consumed, and whether the peer has closed (EOF seen)."""
        return (bytes(self._receive_buffer), self._receive_buffer_closed)

    @property
    def bytes_consumed(self) -> int:
        """How many of the peer's bytes have been turned into events so far."""
        return self._receive_buffer.offset

    def start_next_cycle(self) -> None:
        """Both sides are DONE on a keep-alive connection: reset both to IDLE for the next request."""
        self._cstate.start_next_cycle()
        self._request_method = None
        self.client_is_waiting_for_100_continue = False
        self._after_change(None, "start_next_cycle")

    # -- explain -----------------------------------------------------------------------------

    def add_observer(self, observer: Observer) -> None:
        """Call ``observer(transition)`` for every state change of either role from now on."""
        self._observers = (*self._observers, observer)

    def remove_observer(self, observer: Observer) -> None:
        observers = list(self._observers)
        observers.remove(observer)
        self._observers = tuple(observers)

    def _after_change(self, event: Event | None, cause: str | None = None,
                      error: BaseException | None = None) -> None:
        """Pick new readers/writers for changed states, then tell observers why things moved."""
        states = self._cstate.states
        if states[self.our_role] is not self._writer_state:
            self._writer = self._writer_for(event)
        if states[self.their_role] is not self._reader_state:
            self._reader = self._reader_for(event)
        changes = self._cstate.changes
        if changes:
            observers = self._observers
            if observers:
                cause = cause or type(event).__name__
                build = Transition.build
                records = [build(role, old, new, rule, cause, event, error) for role, old, new, rule in changes]
                changes.clear()
                for record in records:
                    for observer in observers:
                        observer(record)
            else:
                changes.clear()

    # -- readers and writers -----------------------------------------------------------------

    def _reader_for(self, event: Event | None) -> Reader | None:
        role = self.their_role
        state = self._reader_state = self._cstate.states[role]
        if state is SEND_BODY:
            assert type(event) is Request or type(event) is Response
            kind, length = message_framing(self._request_method, event)
            if kind == "chunked":
                return chunked_reader(self._max_incomplete_event_size)
            if kind == "content-length":
                assert length is not None
                return content_length_reader(length)
            return until_close_reader()
        if role is CLIENT:
            if state is IDLE:
                return head_reader(True, self._max_incomplete_event_size)
        elif state is IDLE or state is SEND_RESPONSE:
            return head_reader(False, self._max_incomplete_event_size, self._request_method)
        if state is DONE or state is MUST_CLOSE or state is CLOSED:
            return nothing_reader()
        return None

    def _writer_for(self, event: Event | None) -> Writer | None:
        role = self.our_role
        state = self._writer_state = self._cstate.states[role]
        if state is SEND_BODY:
            assert type(event) is Request or type(event) is Response
            kind, length = message_framing(self._request_method, event)
            if kind == "chunked":
                return ChunkedWriter()
            if kind == "content-length":
                assert length is not None
                return ContentLengthWriter(length)
            return UntilCloseWriter()
        if role is CLIENT:
            if state is IDLE:
                return _write_head
        elif state is IDLE or state is SEND_RESPONSE:
            return _write_head
        return None

    # -- the core: every event, sent or received, goes through here --------------------------

    def _process_event(self, role: type[Sentinel], event: Event) -> None:
        cstate = self._cstate
        event_type = type(event)
        if event_type is Data and cstate.states[role] is SEND_BODY:
            # the hot path of every body: Data changes no state
            if role is CLIENT:
                self.client_is_waiting_for_100_continue = False
            return
        if event_type is Data or event_type is EndOfMessage or event_type is ConnectionClosed:
            cstate._fire(role, event_type)
            cstate._settle()
            if role is CLIENT and event_type is not ConnectionClosed:
                self.client_is_waiting_for_100_continue = False
            self._after_change(event)
            return
        if event_type is Request:
            request: Request = event  # type: ignore[assignment]
            if role is CLIENT:
                # a request that proposes a protocol switch (RFC 9110 §7.8, §9.3.6)
                if request.method == b"CONNECT":
                    cstate.process_client_switch_proposal(_SWITCH_CONNECT)
                headers = request.headers
                if (headers._facts or headers.facts()).upgrade:
                    cstate.process_client_switch_proposal(_SWITCH_UPGRADE)
            cstate.process_event(role, Request)
            self._request_method = request.method
            if role is self.their_role:
                self.their_http_version = request.http_version
            if not self._keep_alive(request):
                cstate.process_keep_alive_disabled()
            if has_expect_100_continue(request.http_version, request.headers):
                self.client_is_waiting_for_100_continue = True
        else:
            response: InformationalResponse | Response = event  # type: ignore[assignment]
            switch: type[Sentinel] | None = None
            if role is SERVER:
                status = response.status_code
                if event_type is InformationalResponse:
                    if status == 101:
                        switch = _SWITCH_UPGRADE
                elif 200 <= status < 300 and _SWITCH_CONNECT in cstate.pending_switch_proposals:
                    switch = _SWITCH_CONNECT
            cstate.process_event(role, event_type, switch)
            if role is self.their_role:
                self.their_http_version = response.http_version
            if event_type is Response and not self._keep_alive(response):
                cstate.process_keep_alive_disabled()
            self.client_is_waiting_for_100_continue = False
        self._after_change(event)

    def _keep_alive(self, event: Any) -> bool:
        headers = event.headers
        tokens = (headers._facts or headers.facts()).connection
        if b"close" in tokens:
            return False
        if event.http_version < b"1.1":
            return self._keep_alive_http10 and b"keep-alive" in tokens
        return True

    def _process_error(self, role: type[Sentinel], error: BaseException | None = None) -> None:
        self._cstate.process_error(role)
        self._after_change(None, "protocol error", error)

    # -- receiving ---------------------------------------------------------------------------

    def receive_data(self, data: bytes) -> None:
        """Add bytes from the peer; ``b""`` means the peer closed its side (EOF)."""
        if data:
            if self._receive_buffer_closed:
                raise RuntimeError("received close, then received more data?")
            buf = self._receive_buffer
            if buf.pos:
                buf.append(data)
            else:
                buf.data += data
        else:
            self._receive_buffer_closed = True

    def next_event(self) -> Any:
        """The next event from the peer, or NEED_DATA, or PAUSED."""
        their_role = self.their_role
        state = self._cstate.states[their_role]
        if state is ERROR:
            raise RemoteProtocolError("Can't receive data when peer state is ERROR",
                                      rule="peer-in-error", section="RFC 9112 §2.2")
        buf = self._receive_buffer
        try:
            if state is DONE:
                # the peer finished this cycle's message and sent more (pipelining): wait for us
                if len(buf.data) > buf.pos:
                    return PAUSED
            elif state is MIGHT_SWITCH_PROTOCOL or state is SWITCHED_PROTOCOL:
                return PAUSED
            reader = self._reader
            assert reader is not None
            event = reader(buf)
            if event is None:
                buffered = len(buf.data) - buf.pos
                if buffered > self._max_incomplete_event_size:
                    raise LocalProtocolError(
                        "Receive buffer too long", 431, rule="max-incomplete-event-size",
                        section="RFC 9112 §2.3", offset=buf.offset,
                        explanation="an incomplete event grew past max_incomplete_event_size="
                        f"{self._max_incomplete_event_size} bytes",
                    )
                if self._receive_buffer_closed:
                    if not buffered:
                        read_eof = getattr(reader, "read_eof", None)
                        event = read_eof() if read_eof is not None else ConnectionClosed()
                        self._process_event(their_role, event)
                        return event
                    # closed in the middle of an event (a head, a chunk-size line ...)
                    raise LocalProtocolError(
                        "peer unexpectedly closed connection", rule="incomplete-message",
                        section="RFC 9112 §8", offset=buf.offset + buffered,
                        offending=bytes(buf)[-32:],
                        explanation="the connection closed in the middle of a message",
                    )
                return NEED_DATA
            self._process_event(their_role, event)
            return event
        except BaseException as exc:
            self._process_error(their_role, exc)
            if isinstance(exc, LocalProtocolError):
                exc._reraise_as_remote_protocol_error()
            raise

    # -- sending -----------------------------------------------------------------------------

    def send(self, event: Event) -> bytes | None:
        """The bytes to send for ``event`` (None for ConnectionClosed: close the socket instead)."""
        data_list = self.send_with_data_passthrough(event)
        if data_list is None:
            return None
        if len(data_list) == 1 and type(data_list[0]) is bytes:
            return data_list[0]
        return b"".join(data_list)

    def send_with_data_passthrough(self, event: Event) -> list[Any] | None:
        """Like send(), but a Data event's payload object is passed through without copying."""
        if self._cstate.states[self.our_role] is ERROR:
            raise _sending_in_error()
        try:
            if type(event) is Response:
                event = self._clean_up_response_headers_for_sending(event)
            writer = self._writer
            self._process_event(self.our_role, event)
            if type(event) is ConnectionClosed:
                return None
            assert writer is not None
            return writer(event)
        except BaseException as exc:
            self._process_error(self.our_role, exc)
            raise

    def advance(self, event: Event, *, observe: bool = True) -> None:
        """Change state exactly as ``send(event)`` would, without producing the bytes.

        An h11dbg extension, for a machine that mirrors traffic which another machine parsed
        (``h11dbg replay`` keeps a client and a server machine in step this way): the same checks,
        the same new states, the same errors, minus writing out the head.  With ``observe=False``
        the observers hear nothing of it either.
        """
        observers = self._observers
        if not observe:
            self._observers = ()
        try:
            if self._cstate.states[self.our_role] is ERROR:
                raise _sending_in_error()
            try:
                # send_with_data_passthrough's steps (kept apart: sending is the hot path of the
                # engine's own users, and one more call there costs them)
                if type(event) is Response:
                    event = self._clean_up_response_headers_for_sending(event)
                writer = self._writer
                self._process_event(self.our_role, event)
                if type(event) is ConnectionClosed:
                    return
                assert writer is not None
                if writer is _write_head:
                    _check_head(event)  # what writing the head could refuse, without writing it
                else:
                    writer(event)  # body writers keep the framing's count: they must see every event
            except BaseException as exc:
                self._process_error(self.our_role, exc)
                raise
        finally:
            self._observers = observers

    def send_failed(self) -> None:
        """Tell the connection that sending failed (the socket broke): our state becomes ERROR."""
        self._process_error(self.our_role)

    def _clean_up_response_headers_for_sending(self, response: Response) -> Response:
        """Make the framing headers agree with what the client can read (RFC 9112 §6, §9.3)."""
        headers: Headers = response.headers
        need_close = False
        # A HEAD response must carry the headers a GET response would (RFC 9110 §9.3.2).
        method = b"GET" if self._request_method == b"HEAD" else self._request_method
        kind, _ = message_framing(method, response)
        if kind in ("chunked", "http/1.0"):
            # Delimit the body ourselves: chunked for HTTP/1.1 clients, else by closing.
            headers = set_comma_header(headers, b"content-length", [])
            if self.their_http_version is None or self.their_http_version < b"1.1":
                headers = set_comma_header(headers, b"transfer-encoding", [])
                if self._request_method != b"HEAD":
                    need_close = True
            else:
                headers = set_comma_header(headers, b"transfer-encoding", [b"chunked"])
        if not self._cstate.keep_alive or need_close:
            tokens = set(get_comma_header(headers, b"connection"))
            tokens.discard(b"keep-alive")
            tokens.add(b"close")
            headers = set_comma_header(headers, b"connection", sorted(tokens))
        elif self._keep_alive_http10 and self.their_http_version == b"1.0":
            # an HTTP/1.0 client keeps the connection only when told so explicitly
            tokens = set(get_comma_header(headers, b"connection"))
            if b"keep-alive" not in tokens:
                tokens.add(b"keep-alive")
                headers = set_comma_header(headers, b"connection", sorted(tokens))
        if headers is response.headers:
            return response
        return Response(headers=headers, status_code=response.status_code,
                        http_version=response.http_version, reason=response.reason, _parsed=True)


def _write_head(event: Event) -> list[Any]:
    if type(event) is Request:
        return write_request(event)
    if type(event) is Response or type(event) is InformationalResponse:
        return write_response(event)
    raise LocalProtocolError(f"can't send {type(event).__name__} now")  # pragma: no cover


def _sending_in_error() -> LocalProtocolError:
    return LocalProtocolError("Can't send data when our state is ERROR", rule="our-state-error",
                              section="RFC 9112 §2.2")


def _check_head(event: Event) -> None:
    if type(event) is Request:
        check_request(event)
    elif type(event) is Response or type(event) is InformationalResponse:
        check_response(event)
    else:
        raise LocalProtocolError(f"can't send {type(event).__name__} now")  # pragma: no cover

