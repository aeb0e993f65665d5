"""The debugger's UI-free core: a :class:`Session` drives engine Connection(s) over a real transport.

Build one in a single call::

    session = Session.connect("h11dbg", "example.com", 443, tls=True, timeout=10.0)
    session = Session.listen("h11dbg", "127.0.0.1", 8080)   # then session.accept()
    session = Session.loopback("h11")                        # client and server in this process

``engine`` is an engine name (``"h11dbg"``, ``"h11"``) or an already imported engine module.
Network failures raise :class:`h11dbg.transport.NetworkError` (one line of text, no traceback);
protocol errors never raise: they become ``"error"`` entries in :attr:`Session.log` and the session
keeps going.  Every stepping method returns the :class:`~h11dbg.session.log.LogEntry` objects it
appended to ``session.log``.

Method summary (``actor`` is ``"client"``/``"server"``; None means :attr:`Session.actor`):

* ``send_event(event, actor=None)`` — the acting side's ``Connection.send(event)``, then write the bytes.
* ``send_raw(data, actor=None)`` — write bytes that bypass the state machine.
* ``recv(actor=None, timeout=None)`` — one socket read fed to ``receive_data`` (exact bytes logged).
* ``next(actor=None)`` — one ``next_event()`` with the states before and after.
* ``run(timeout=None, actor=None)`` — recv + next until the peer's current message is complete,
  the connection closes, an error, or the timeout.
* ``send_close(actor=None)`` — send ``ConnectionClosed`` (half-closes the socket).
* ``cycle()`` — ``start_next_cycle()`` (both connections in loopback).
* ``accept(timeout=None)`` — listen mode: wait for the next client (one connection at a time).
* ``reconnect()`` — connect mode: a new connection to the same peer (the next connection id).
* ``poll(wait=0.0)`` — while the user types: notice the peer closing the connection between messages
  (a ``"closed"`` entry), and stamp when a response starts arriving; ``watch_fileno()`` is the socket
  a front end waits on for it (None when there is nothing to watch).
* ``close()`` — release sockets and the listener (idempotent; call it when the session ends).
* ``start_recording(stream, path)`` — stream every record to an open file as it happens (``--record``).
* ``save(path, force=False)`` — write everything recorded so far as a transcript (``save``).
* ``states()``, ``explain()``, ``toolbar()`` — read-only views for the REPL and scripts.

Every byte that crosses a socket, every half-close and reset, is also kept as transcript records
in :attr:`Session.recorder` (one chunk per real send/recv; in loopback each byte once, as written).

A client's exchanges are timed as ``curl -w`` times them: after each complete response a
``"timing"`` entry (:class:`~h11dbg.session.log.Timing`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from h11dbg.engines import is_explainable, load_engine
from h11dbg.session.banners import FIRST_BYTES, other_protocol_note
from h11dbg.session.explain import Explanation, describe_state, engine_role, explain
from h11dbg.session.hints import suggestions
from h11dbg.session.log import CloseSituation, EntryKind, LogEntry, PeerClose, Timing
from h11dbg.session.recording import Recorder
from h11dbg.session.tls import Rerun, client_hello_note, plain_port_message, serving_note, tls_port_note
from h11dbg.transcript.escaping import escape
from h11dbg.transcript.files import OutputFileError, recording_meta
from h11dbg.transcript.model import ROLES, Direction, Meta, Role, other_role, sent_by
from h11dbg.transport import (
    ConnectPhases,
    HandshakeFailed,
    Listener,
    NetworkError,
    NotTLS,
    ReceiveTimeout,
    SocketTransport,
    connect_tcp,
    connect_tls,
    format_address,
    host_header,
    loopback_pair,
)

if TYPE_CHECKING:
    from h11dbg.engines import Engine, Machine
    from h11dbg.protocol import Transition
    from h11dbg.transport.tls import ServerTLS

# A loopback peer is in this process: whatever it wrote is already readable, so waiting long
# for more only makes the user wait.
LOOPBACK_READ_TIMEOUT = 0.5
# Events after which the peer's current message is complete (``run`` stops there).
_MESSAGE_ENDS = ("EndOfMessage", "InformationalResponse", "ConnectionClosed")
# States with no message in flight: a close now is between messages (a keep-alive timeout, or the
# close a message announced), not a message cut short.
_BETWEEN_MESSAGES = ("IDLE", "DONE", "MUST_CLOSE")
# Methods a client may retry on its own after a failed connection (RFC 9110 §9.2.2, RFC 9112 §9.3.1).
IDEMPOTENT_METHODS = frozenset({b"GET", b"HEAD", b"PUT", b"DELETE", b"OPTIONS", b"TRACE"})


def _seconds(value: float | None) -> float | None:
    return None if value is None else round(value, 6)


class SessionError(Exception):
    """A command cannot run in the session's current situation (a user mistake, not a protocol error)."""


class ConnectionGone(SessionError):
    """Nothing can be sent: the peer closed the connection (``reconnect`` opens a new one)."""


@dataclass
class Exchange:
    """A request on its way: when it started and when the response's bytes arrived (monotonic)."""

    started: float  # the first request byte was written
    phases: ConnectPhases | None  # the connection's set-up, for its first exchange only
    request: str  # ``GET /x``
    idempotent: bool
    idle_before: float  # how long the connection had carried nothing when the request was written
    readable_at: Callable[[], float | None] = lambda: None  # when the response's bytes arrived, unread
    first_byte: float | None = None
    last_byte: float = 0.0


@dataclass
class Side:
    """One engine Connection (one role) and the socket it speaks through."""

    role: Role
    machine: Machine
    transport: SocketTransport
    pending: list[Transition] = field(default_factory=list)  # not yet attached to an entry
    received: bytes = b""  # the first bytes read on this connection (enough to tell TLS, SSH ... from HTTP)
    last_activity: float = field(default_factory=time.monotonic)  # the last byte either way
    exchanges: int = 0  # requests written on this connection
    exchange: Exchange | None = None  # the one waiting for (the rest of) its response
    peer_closed: LogEntry | None = None  # the "closed" entry, once the peer closed the connection

    @property
    def out_direction(self) -> Direction:
        return sent_by(self.role)

    @property
    def in_direction(self) -> Direction:
        return sent_by(other_role(self.role))


class Session:
    """Owns the engine, the Connection(s), the transport and the event log."""

    def __init__(
        self,
        engine: str | Engine,
        mode: str,
        *,
        timeout: float | None = 10.0,
        address: str = "",
        host: str = "localhost",
    ) -> None:
        self.engine = load_engine(engine) if isinstance(engine, str) else engine
        self.engine_name = engine if isinstance(engine, str) else engine.__name__.split(".")[0]
        self.explainable = is_explainable(self.engine)
        self.mode = mode  # "connect" | "listen" | "loopback"
        self.timeout = timeout
        self.address = address  # the peer (connect), our listening address (listen), "loopback"
        self.host = host  # the Host header value `request` fills in
        self.log: list[LogEntry] = []
        self.conn_id = 0
        self.started = time.monotonic()
        self.sides: dict[Role, Side] = {}
        self.actor: Role = "client"
        self.listener: Listener | None = None
        self.timeouts = 0  # reads that found nothing in time (batch mode turns these into exit 3)
        self.closed = False
        self.command = mode  # the CLI command, for a recording's metadata ("demo" sets its own)
        self.tls: str | None = None  # the TLS summary of a connect --tls session
        self.rerun: Rerun | None = None  # this command line with TLS on/off, for the notes that suggest it
        self.target: tuple[str, int, str | None] | None = None  # connect: host, port, SNI name
        self.tls_hint: str | None = None  # the plain-vs-TLS note, said once per session
        self.other_protocol_said = False  # and the note on a peer speaking SSH, SMTP, HTTP/2 ...
        self._dial: Callable[[], SocketTransport] | None = None  # connect mode: how to reach the peer again
        self.recorder = Recorder(on_failure=lambda text: self._note(text))

    # ----------------------------------------------------------------- construction
    @classmethod
    def connect(
        cls,
        engine: str | Engine,
        host: str,
        port: int,
        *,
        tls: bool = False,
        cafile: str | None = None,
        insecure: bool = False,
        server_hostname: str | None = None,
        timeout: float | None = 10.0,
        rerun: Rerun | None = None,
    ) -> Session:
        """A CLIENT over TCP (or TLS with SNI and ALPN http/1.1) to ``host:port``.

        ``rerun`` gives the command line with TLS switched, for the notes that find TLS and plain
        text mistaken for each other (:mod:`h11dbg.session.tls`)."""
        session = cls(engine, "connect", timeout=timeout, address=format_address(host, port),
                      host=host_header(host, port, tls))
        session.rerun = rerun
        session.target = (host, port, server_hostname)

        def dial() -> SocketTransport:
            if not tls:
                return connect_tcp(host, port, timeout=timeout)
            try:
                return connect_tls(host, port, timeout=timeout, cafile=cafile, insecure=insecure,
                                   server_hostname=server_hostname)
            except NotTLS as exc:
                raise NotTLS(plain_port_message(str(exc), rerun)) from None

        session._dial = dial
        session._connected(dial(), f"connected to {{peer}} from {{local}} (engine {session.engine_name})")
        return session

    def _connected(self, transport: SocketTransport, text: str) -> None:
        self.started = time.monotonic()
        self._open_side("client", transport)
        self._note(text.format(peer=transport.peer, local=transport.local))
        if transport.tls_info is not None:
            self.tls = transport.tls_info.summary()
            self._note(self.tls, tls=transport.tls_info)

    def reconnect(self) -> list[LogEntry]:
        """Connect mode: close this connection (if still open) and open a new one to the same peer,
        with the same options; it gets the next connection id, in the same log and recording."""
        if self._dial is None:
            raise SessionError("reconnect only works in connect mode")
        mark = len(self.log)
        side = self.sides.get("client")
        if side is not None and not side.transport.closed:
            self._close_transport(side)
            self._note(f"connection {self.conn_id} closed", side)
        self._connected(self._dial(), f"connection {self.conn_id + 1}: connected to {{peer}} from {{local}}")
        return self.log[mark:]

    @classmethod
    def listen(
        cls, engine: str | Engine, host: str = "127.0.0.1", port: int = 0, *, timeout: float | None = 10.0,
        tls: ServerTLS | None = None, rerun: Rerun | None = None,
    ) -> Session:
        """A SERVER listening on ``host:port`` (port 0: any free port); call :meth:`accept` next.

        With ``tls`` every client is a TLS client (the listener does the handshake on accept)."""
        session = cls(engine, "listen", timeout=timeout)
        session.rerun = rerun
        try:
            session.listener = Listener(host, port, timeout=timeout, tls=tls)
        except BaseException:
            if tls is not None:
                tls.close()
            raise
        session.address = session.listener.address
        session.host = session.listener.address
        session.actor = "server"  # its side exists once a client is accepted
        session._note(f"listening on {session.listener.address} (engine {session.engine_name})")
        if tls is not None:
            certificate = tls.info.certificate
            session.tls = f"TLS server, certificate SHA-256 {certificate.sha256 if certificate else '?'}"
            session._note(serving_note(tls.info, session.listener.address), tls=tls.info)
        return session

    @classmethod
    def loopback(cls, engine: str | Engine, *, timeout: float | None = LOOPBACK_READ_TIMEOUT) -> Session:
        """CLIENT and SERVER in this process over a socket pair; switch sides with :attr:`actor`."""
        session = cls(engine, "loopback", timeout=timeout, address="loopback", host="localhost")
        pair = loopback_pair(timeout=timeout)
        session.conn_id = 1
        session.recorder.open(1, None, None)  # a socket pair has no addresses
        session.sides["client"] = session._new_side("client", pair.client)
        session.sides["server"] = session._new_side("server", pair.server)
        session._note(f"loopback: client and server in one process (engine {session.engine_name}); "
                      "`as server` / `as client` switches sides")
        return session

    def _new_side(self, role: Role, transport: SocketTransport) -> Side:
        machine = self.engine.Connection(engine_role(self.engine, role))
        side = Side(role, machine, transport)
        if self.explainable and hasattr(machine, "add_observer"):
            machine.add_observer(side.pending.append)
        return side

    def _open_side(self, role: Role, transport: SocketTransport) -> Side:
        self.conn_id += 1
        if role == "client":
            self.recorder.open(self.conn_id, transport.local, transport.peer)
        else:
            self.recorder.open(self.conn_id, transport.peer, transport.local)
        side = self._new_side(role, transport)
        self.sides[role] = side
        return side

    def accept(self, timeout: float | None = None, said: Callable[[], None] | None = None) -> list[LogEntry]:
        """Listen mode: wait for the next client (``timeout`` None waits forever).

        A connection still open is finished first: read until the client closes (at most the
        session timeout), then closed.  A client whose TLS handshake fails is a note, and the wait goes
        on (``timeout`` bounds it all); ``said`` is called after each such note, so a front end can
        show it while the wait goes on.
        """
        if self.listener is None:
            raise SessionError("accept only works in listen mode")
        mark = len(self.log)
        side = self.sides.get("server")
        if side is not None:
            if not side.transport.closed:
                # one connection at a time: let the client finish (it usually closes once it has its
                # response), then close whatever is left of this one
                self.wait_closed()
                self._close_transport(side)
            self._note(f"connection {self.conn_id} closed; waiting for the next client", side)
        deadline = None if timeout is None else time.monotonic() + timeout
        failed: list[HandshakeFailed] = []
        while True:
            left = None if deadline is None else max(0.001, deadline - time.monotonic())
            try:
                transport = self.listener.accept(left)
                break
            except HandshakeFailed as exc:
                # a client that cannot speak TLS with us is not a connection to serve: wait for the next
                failed.append(exc)
                self._note(f"{exc}; waiting for the next client")
                if said is not None:
                    said()
            except ReceiveTimeout:
                if not failed:
                    raise
                tried = "1 client tried" if len(failed) == 1 else f"{len(failed)} clients tried"
                raise ReceiveTimeout(f"no client completed a TLS handshake on {self.listener.address} within "
                                     f"{timeout:g} s: {tried}, the last: {failed[-1]}") from None
        self.started = time.monotonic()
        self._open_side("server", transport)
        self._note(f"connection {self.conn_id} from {transport.peer}")
        if transport.tls_info is not None:
            self._note(transport.tls_info.summary(), tls=transport.tls_info)
        return self.log[mark:]

    # ----------------------------------------------------------------- helpers
    def side(self, actor: Role | None = None) -> Side:
        """The side ``actor`` (else :attr:`actor`) plays; SessionError when it has no connection."""
        role = actor or self.actor
        side = self.sides.get(role)
        if side is None:
            if self.mode == "listen" and role == "server":
                raise SessionError("no connection yet: waiting for a client (use `accept`)")
            raise SessionError(f"there is no {role} side in {self.mode} mode")
        return side

    def _states(self, side: Side) -> dict[str, str]:
        states = side.machine.states
        return {"client": str(states[self.engine.CLIENT]), "server": str(states[self.engine.SERVER])}

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def _append(self, kind: EntryKind, side: Side | None = None, **fields: Any) -> LogEntry:
        transitions: tuple[Transition, ...] = ()
        if side is not None and side.pending:
            transitions = tuple(side.pending)
            side.pending.clear()
        if side is not None:
            fields.setdefault("actor", side.role)
            if "states_after" not in fields:
                fields["states_after"] = self._states(side)
        entry = LogEntry(seq=len(self.log) + 1, time=round(self.elapsed(), 6), conn=self.conn_id,
                         kind=kind, transitions=transitions, **fields)
        self.log.append(entry)
        return entry

    def _note(self, text: str, side: Side | None = None, **fields: Any) -> LogEntry:
        return self._append("note", side, text=text, **fields)

    def _hint(self, text: str, side: Side, **fields: Any) -> LogEntry:
        """A note that ends in what to type next (h11dbg.session.hints), from where it leaves us."""
        self._note(text, side, **fields)
        self.log[-1] = replace(self.log[-1], suggestions=tuple(suggestions(self, side.role)))
        return self.log[-1]

    def _error(self, side: Side, exc: BaseException, direction: Direction, before: dict[str, str]) -> LogEntry:
        explanation = getattr(exc, "explanation", None) or str(exc)
        return self._append("error", side, direction=direction, error=exc, states_before=before,
                            text=explanation)

    def error_entry(self, exc: BaseException, actor: Role | None = None) -> LogEntry:
        """Log a LocalProtocolError raised while *building* an event (states are unchanged)."""
        side = self.side(actor)
        return self._error(side, exc, side.out_direction, self._states(side))

    # ----------------------------------------------------------------- sending
    def send_event(self, event: object, actor: Role | None = None) -> list[LogEntry]:
        """``Connection.send(event)``; the bytes go on the wire; a LocalProtocolError becomes an error entry."""
        side = self.side(actor)
        kind = type(event).__name__
        mark = len(self.log)
        if kind != "ConnectionClosed":
            if kind == "Request" and self.mode == "connect" and self._between_messages(side):
                # a close that came while nobody watched (a script's commands, no prompt) is said
                # now, before the request meets it
                self._notice(side)
            # refuse before the engine moves: a state change for bytes that never left is a lie
            self._check_writable(side)
        before = self._states(side)
        try:
            data = side.machine.send(event)
        except self.engine.LocalProtocolError as exc:
            self._error(side, exc, side.out_direction, before)
            return self.log[mark:]
        except Exception as exc:
            if self.engine_name == "h11dbg":
                raise  # our own engine's failure is a bug to see, in the tests first
            # h11 0.16 fails on its own message when a client's request meets a server state that
            # takes none (AttributeError): say what the engine did, rather than end in a traceback
            self._error(side, exc, side.out_direction, before)
            return self.log[mark:]
        if data:
            if kind == "Request" and self.mode == "connect":  # (loopback's peer is this process)
                self._start_exchange(side, event)
            self._wire_send(side, data)
        self._append("event", side, direction=side.out_direction, event=event, data=data or b"",
                     states_before=before)
        if kind == "ConnectionClosed":
            if side.transport.eof:
                self._close_transport(side)
            elif side.transport.shutdown_write():
                self.recorder.close(self.conn_id, side.out_direction)
            else:
                self._note("TLS close_notify not sent: the peer reads nothing (its buffer is full); the socket "
                           "closes when the session ends", side)
        return self.log[mark:]

    def _start_exchange(self, side: Side, request: Any) -> None:
        now = time.monotonic()
        side.exchanges += 1
        method = bytes(request.method)
        side.exchange = Exchange(
            started=now, phases=side.transport.phases if side.exchanges == 1 else None,
            request=f"{escape(method)} {escape(bytes(request.target))}",
            idempotent=method in IDEMPOTENT_METHODS, idle_before=now - side.last_activity,
            readable_at=side.transport.readable_at(self.timeout or 3600.0))

    def _check_writable(self, side: Side) -> None:
        if side.transport.closed and side.peer_closed is not None:
            closed = side.peer_closed
            peer = closed.closed.peer if closed.closed else "peer"
            raise ConnectionGone(f"the {peer} closed this connection at {closed.time:.3f} s: nothing was sent"
                                 + ("; `reconnect` opens a new one" if self._dial else ""))
        if side.transport.closed:
            raise SessionError("the connection is closed" + (": `accept` waits for the next client"
                                                            if self.mode == "listen" else ""))
        if side.transport.write_closed:
            raise SessionError("this side already closed its sending half (`close`): nothing more can be sent")

    def _wire_send(self, side: Side, data: bytes) -> None:
        self._check_writable(side)
        try:
            side.transport.send(data)
        except NetworkError as exc:
            # sending fails once the peer has reset (or fully closed) the connection
            self.recorder.close(self.conn_id, side.in_direction, reset=True)
            self._note(f"network error: {exc}", side, direction=side.out_direction)
            self._tls_mistaken(side, "reset the connection")
            raise
        side.last_activity = time.monotonic()
        self.recorder.chunk(self.conn_id, side.out_direction, data)

    def _wire_recv(self, side: Side, timeout: float | None) -> bytes:
        """One socket read (b"" at EOF), recorded; ReceiveTimeout/NetworkError pass through."""
        try:
            data = side.transport.recv(timeout)
        except ReceiveTimeout:
            raise
        except NetworkError:
            self.recorder.close(self.conn_id, side.in_direction, reset=True)
            raise
        if len(side.received) < FIRST_BYTES:
            side.received += data[:FIRST_BYTES - len(side.received)]
        if self.mode != "loopback":
            # in loopback the other side's write already recorded these bytes (and its half-close)
            if data:
                self.recorder.chunk(self.conn_id, side.in_direction, data)
            else:
                self.recorder.close(self.conn_id, side.in_direction)
        arrived = side.transport.arrived_at
        exchange = side.exchange
        if exchange is not None:
            if data and exchange.first_byte is None:
                # bytes that waited in the socket while the user typed arrived when they arrived
                arrived = exchange.first_byte = min(arrived, exchange.readable_at() or arrived)
            exchange.last_byte = arrived  # the EOF too: a response that ends at the close ends there
        if data:
            side.last_activity = arrived
        return data

    def _close_transport(self, side: Side) -> None:
        """Close the socket; our sending direction ends there if it had not already."""
        if not side.transport.closed:
            self.recorder.close(self.conn_id, side.out_direction)
        side.transport.close()

    def send_raw(self, data: bytes, actor: Role | None = None) -> list[LogEntry]:
        """Write bytes that bypass the state machine (the engine does not see them)."""
        side = self.side(actor)
        self._wire_send(side, data)
        return [self._append("sent", side, direction=side.out_direction, data=data,
                             states_before=self._states(side),
                             text="raw bytes: the state machine did not see them")]

    def send_close(self, actor: Role | None = None) -> list[LogEntry]:
        return self.send_event(self.engine.ConnectionClosed(), actor)

    # ----------------------------------------------------------------- receiving
    def recv(self, actor: Role | None = None, timeout: float | None = None) -> list[LogEntry]:
        """One socket read, fed to ``receive_data`` (b"" at EOF); logs the exact bytes."""
        side = self.side(actor)
        if side.transport.eof:
            return [self._note("the peer already closed its side: nothing more to read", side)]
        try:
            data = self._wire_recv(side, timeout)
        except ReceiveTimeout as exc:
            self.timeouts += 1
            return [self._note(f"timeout: {exc}", side)]
        except NetworkError as exc:
            self._note(f"network error: {exc}", side, direction=side.in_direction)
            self._tls_mistaken(side, "reset the connection")
            raise
        before = self._states(side)
        side.machine.receive_data(data)
        if data:
            entries = [self._append("received", side, direction=side.in_direction, data=data,
                                    states_before=before)]
        else:
            entries = [self._append("eof", side, direction=side.in_direction, states_before=before,
                                    text="the peer closed its sending side (EOF)")]
            if side.transport.write_closed:
                self._close_transport(side)
        mark = len(self.log)
        if not data:
            self._tls_mistaken(side, "closed the connection")
        return entries + self.log[mark:]

    def _tls_mistaken(self, side: Side, ended: str) -> None:
        """The first bytes of a plain connection are TLS (said after the engine's error), or it ended
        (``ended``: how) before a byte arrived.  Said once, as a note (:mod:`h11dbg.session.tls`)."""
        if self.tls_hint is not None or side.transport.tls:
            return
        text = None
        if self.mode == "listen" and side.received:
            text = client_hello_note(side.received, self.rerun)
        elif self.mode == "connect" and self.target is not None and (ended or side.received):
            host, port, sni = self.target
            text = tls_port_note(host, port, sni, first_bytes=side.received, what=ended, timeout=self.timeout,
                                 rerun=self.rerun)
        if text is not None:
            self.tls_hint = text
            self._note(text, side)
        elif not ended:
            self._other_protocol(side)

    def _other_protocol(self, side: Side) -> None:
        """The first bytes come from a peer that speaks another protocol (SSH, SMTP, HTTP/2): say which."""
        if self.other_protocol_said or self.mode == "loopback":
            return
        text = other_protocol_note(side.received, other_role(side.role))
        if text is not None:
            self.other_protocol_said = True
            self._note(text, side)

    def buffered(self, actor: Role | None = None) -> int:
        """Bytes received but not yet parsed into events."""
        try:
            side = self.side(actor)
        except SessionError:
            return 0
        return len(side.machine.trailing_data[0])

    def next(self, actor: Role | None = None) -> list[LogEntry]:
        """One ``next_event()``: the event (or NEED_DATA / PAUSED) with the states before and after."""
        mark = len(self.log)
        entry = self._next(self.side(actor), quiet_need_data=False)
        return self.log[mark:] or [entry]  # (a TLS note may follow an error)

    def _next(self, side: Side, quiet_need_data: bool) -> LogEntry:
        machine = side.machine
        before = self._states(side)
        buffer_before = machine.trailing_data[0]
        try:
            event = machine.next_event()
        except self.engine.RemoteProtocolError as exc:
            exchange = side.exchange
            if (exchange is not None and exchange.first_byte is None and side.transport.eof
                    and not buffer_before and before["server"] == "SEND_RESPONSE"):
                # the peer closed instead of answering: the engine's error is right, but what the
                # user needs to know is the keep-alive race (or a server that gave up)
                return self._peer_closed(side, "unanswered", exchange.idle_before, error=exc)
            error = self._error(side, exc, side.in_direction, before)
            self._tls_mistaken(side, "")  # the last word: why these bytes are no HTTP, and what to run
            return error
        except Exception as exc:
            if self.engine_name == "h11dbg":
                raise  # our own engine's failure is a bug to see, in the tests first
            # h11 0.16 fails on its own message when a request arrives for a server in ERROR
            # (AttributeError): say what the engine did, rather than end in a traceback
            return self._error(side, exc, side.in_direction, before)
        if event is self.engine.NEED_DATA or event is self.engine.PAUSED:
            name = "NEED_DATA" if event is self.engine.NEED_DATA else "PAUSED"
            if name == "NEED_DATA":
                text = f"NEED_DATA: {len(buffer_before)} bytes buffered are not a whole event yet"
            else:
                text = self._paused_text(side, len(buffer_before))
            if quiet_need_data and name == "NEED_DATA":
                # run() reads on by itself; a note per partial read would only be noise
                return LogEntry(seq=0, time=0.0, conn=self.conn_id, kind="note", event=event, text=text)
            return self._hint(text, side, event=event, states_before=before)
        consumed = len(buffer_before) - len(machine.trailing_data[0])
        entry = self._append("event", side, direction=side.in_direction, event=event,
                             data=buffer_before[:consumed], states_before=before)
        kind = type(event).__name__
        if kind == "Request" and getattr(event, "method", b"") == b"PRI":  # HTTP/2's preface is a request line
            self._other_protocol(side)
        if kind == "ConnectionClosed" and side.transport.write_closed:
            self._close_transport(side)
        elif kind == "EndOfMessage" and side.exchange is not None:
            self._finish_exchange(side, side.exchange)
        return entry

    def _finish_exchange(self, side: Side, exchange: Exchange) -> None:
        """The response is complete: its times, counted as curl counts them."""
        side.exchange = None
        if exchange.first_byte is None:
            return
        phases = exchange.phases
        dns = connect = tls = None
        base = 0.0
        if phases is not None:
            dns = phases.dns
            connect = base = dns + phases.connect
            if phases.tls is not None:
                tls = base = connect + phases.tls
        timing = Timing(
            dns=_seconds(dns), connect=_seconds(connect), tls=_seconds(tls),
            first_byte=round(base + exchange.first_byte - exchange.started, 6),
            total=round(base + exchange.last_byte - exchange.started, 6))
        self._append("timing", side, timing=timing)

    # ----------------------------------------------------------------- the peer closing
    def _between_messages(self, side: Side) -> bool:
        """No message in flight either way and nothing unparsed: a close now is no message's end."""
        states = self._states(side)
        return (states["client"] in _BETWEEN_MESSAGES and states["server"] in _BETWEEN_MESSAGES
                and not side.machine.trailing_data[0])

    def _awaiting_response(self, side: Side) -> bool:
        """A request was written and not a byte of its response has arrived."""
        exchange = side.exchange
        return (exchange is not None and exchange.first_byte is None and side.transport.peeked is None
                and not side.machine.trailing_data[0])

    def _watched(self) -> Side | None:
        if self.mode == "loopback":
            return None  # the peer is this process: it does nothing while the user types
        side = self.sides.get(self.actor)
        if side is None or side.transport.closed or side.transport.eof or side.transport.peeked is not None:
            return None
        if self._between_messages(side) or self._awaiting_response(side):
            return side
        return None

    def watch_fileno(self) -> int | None:
        """The socket a front end should wait on while the user types (for :meth:`poll`), or None
        when nothing there needs noticing now."""
        side = self._watched()
        return None if side is None else side.transport.fileno()

    def poll(self, wait: float = 0.0) -> list[LogEntry]:
        """Look at the socket without taking anything the user means to step through.  A close (or
        reset) between messages or instead of a response is processed at once, with a ``"closed"``
        entry; bytes that arrive are left for ``recv``/``run``, their arrival time kept (for timing)
        and, between messages, said in a note.  Waits up to ``wait`` seconds for something to arrive."""
        side = self._watched()
        if side is None or (wait > 0 and not side.transport.wait_readable(wait)):
            return []
        return self._notice(side)

    def _notice(self, side: Side) -> list[LogEntry]:
        mark = len(self.log)
        between = self._between_messages(side)
        try:
            peeked = side.transport.peek_nowait()
        except NetworkError as exc:  # a reset
            self.recorder.close(self.conn_id, side.in_direction, reset=True)
            if between:
                side.transport.eof = True
                closed_at = time.monotonic()
                self._feed_eof(side, f"the {self.their_role(side.role)} reset the connection (RST)")
                self._close_between_messages(side, closed_at, reset=True)
            else:
                self._note(f"network error: {exc}", side, direction=side.in_direction)
                self._tls_mistaken(side, "reset the connection")
                self._close_transport(side)
            return self.log[mark:]
        if peeked == b"":
            if between:
                self.recv(side.role)
                self._close_between_messages(side, side.transport.arrived_at)
            elif self._awaiting_response(side):
                self.run(actor=side.role)
        elif peeked and between:
            self._note(f"the {self.their_role(side.role)} sent {len(peeked)} bytes between messages "
                       "(not read yet: `recv` or `run` reads them)", side, direction=side.in_direction)
        return self.log[mark:]

    def _feed_eof(self, side: Side, text: str) -> None:
        before = self._states(side)
        side.machine.receive_data(b"")
        self._append("eof", side, direction=side.in_direction, states_before=before, text=text)

    def _close_between_messages(self, side: Side, closed_at: float, reset: bool = False) -> None:
        """The EOF is in the engine: let it say ConnectionClosed, close our side as every client and
        server does then, and say what happened."""
        announced = any(state == "MUST_CLOSE" for state in self._states(side).values())
        idle = closed_at - side.last_activity
        while True:
            entry = self._next(side, quiet_need_data=True)
            if entry.kind in ("error", "closed") or entry.event in (self.engine.NEED_DATA, self.engine.PAUSED) \
                    or type(entry.event).__name__ == "ConnectionClosed":
                break
        if self._states(side)[side.role] == "MUST_CLOSE":
            self.send_close(side.role)
        self._close_transport(side)
        self._peer_closed(side, "announced" if announced else "idle", idle, reset=reset)

    def _peer_closed(self, side: Side, situation: CloseSituation, idle: float, *, reset: bool = False,
                     error: BaseException | None = None) -> LogEntry:
        exchange = side.exchange
        side.exchange = None
        close = PeerClose(
            peer=self.their_role(side.role), situation=situation, idle=round(idle, 6), reset=reset,
            request=exchange.request if exchange else None,
            idempotent=exchange.idempotent if exchange else None,
            reused=side.exchanges > 1 if exchange else side.exchanges > 0,
            reconnect=self._dial is not None)
        entry = self._append("closed", side, direction=side.in_direction, closed=close, error=error)
        side.peer_closed = entry
        self._close_transport(side)
        return entry

    def _paused_text(self, side: Side, buffered: int) -> str:
        their = self._states(side)[self.their_role(side.role)]
        if their == "SWITCHED_PROTOCOL":
            return (f"PAUSED: the connection switched protocols; the {buffered} bytes after the switch are "
                    "in trailing_data and are not HTTP/1.1")
        if their == "MIGHT_SWITCH_PROTOCOL" or self._states(side)[side.role] == "MIGHT_SWITCH_PROTOCOL":
            return "PAUSED: a protocol switch was proposed; the server's answer decides what comes next"
        return "PAUSED: the peer's message is complete"

    def run(self, timeout: float | None = None, actor: Role | None = None) -> list[LogEntry]:
        """Receive and process until the peer's current message is complete, it closes, or timeout."""
        side = self.side(actor)
        machine = side.machine
        mark = len(self.log)
        their = self._states(side)[other_role(side.role)]
        if their in ("DONE", "CLOSED", "ERROR", "MIGHT_SWITCH_PROTOCOL", "SWITCHED_PROTOCOL") \
                and not machine.trailing_data[0]:
            self._hint(f"nothing to run: the peer is {their}", side)
            return self.log[mark:]
        limit = self.timeout if timeout is None else timeout
        deadline = None if limit is None else time.monotonic() + limit
        while True:
            entry = self._next(side, quiet_need_data=True)
            if entry.kind in ("error", "closed"):
                break
            if entry.event is self.engine.PAUSED:
                break
            if entry.event is self.engine.NEED_DATA:
                remaining = None if deadline is None else deadline - time.monotonic()
                # at the deadline, bytes that have already arrived are still taken: a loaded machine
                # that got here late must not call "not complete" what is waiting in the socket
                if remaining is not None and remaining <= 0 and side.transport.peek_nowait() is None:
                    self.timeouts += 1
                    self._note(f"timeout: the peer's message was not complete within {limit:g} s", side)
                    break
                # (in loopback both sides are the user's: a close there is a step of the lesson)
                between = self.mode != "loopback" and self._between_messages(side)
                got = self.recv(side.role, timeout=remaining if remaining is None or remaining > 0 else 0.001)
                if got[0].kind == "note":  # timeout or already closed
                    break
                if between and got[0].kind == "eof":
                    # the peer closed before its next message began: the same close as when poll() sees
                    # it while the user types (whichever comes first is a matter of microseconds)
                    self._close_between_messages(side, side.transport.arrived_at)
                    break
                continue
            if type(entry.event).__name__ in _MESSAGE_ENDS:
                break
            if type(entry.event).__name__ == "Request" and machine.they_are_waiting_for_100_continue:
                # reading on would wait for a body the client holds back until we answer
                self._hint("the client sent Expect: 100-continue and waits for 100 Continue or the final "
                           "response before it sends its body", side)
                break
        return self.log[mark:]

    def wait_closed(self, timeout: float | None = None, actor: Role | None = None) -> list[LogEntry]:
        """Keep reading and parsing until the peer closes (or the timeout); used at a batch's end."""
        side = self.side(actor)
        mark = len(self.log)
        limit = self.timeout if timeout is None else timeout
        deadline = None if limit is None else time.monotonic() + limit
        while not side.transport.eof and not side.transport.closed:
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                break
            try:
                data = self._wire_recv(side, remaining)
            except ReceiveTimeout:
                break
            before = self._states(side)
            side.machine.receive_data(data)
            if data:
                self._append("received", side, direction=side.in_direction, data=data, states_before=before)
            else:
                self._append("eof", side, direction=side.in_direction, states_before=before,
                             text="the peer closed its sending side (EOF)")
            while True:
                entry = self._next(side, quiet_need_data=True)
                if entry.kind in ("error", "closed") or entry.event in (self.engine.NEED_DATA, self.engine.PAUSED):
                    break
                if type(entry.event).__name__ == "ConnectionClosed":
                    break
        return self.log[mark:]

    # ----------------------------------------------------------------- cycle / close
    def cycle(self) -> list[LogEntry]:
        """``start_next_cycle()``: both roles DONE -> IDLE (on both connections in loopback)."""
        mark = len(self.log)
        roles: tuple[Role, ...] = ROLES if self.mode == "loopback" else (self.actor,)
        if self.mode == "loopback":
            # a connection that never began a cycle (its side only wrote raw bytes) has none to end:
            # leave it be when the other one has
            started = [role for role in roles if self._states(self.side(role)) != {"client": "IDLE", "server": "IDLE"}]
            roles = tuple(started) or roles
        for role in roles:
            side = self.side(role)
            before = self._states(side)
            try:
                side.machine.start_next_cycle()
            except self.engine.LocalProtocolError as exc:
                self._error(side, exc, side.out_direction, before)
                continue
            self._append("state", side, states_before=before,
                         text=f"start_next_cycle() on the {role}'s connection: both sides back to IDLE")
        return self.log[mark:]

    def close(self) -> None:
        """Release every socket and the listener.  Idempotent."""
        if self.closed:
            return
        self.closed = True
        for side in self.sides.values():
            self._close_transport(side)
        if self.listener is not None:
            self.listener.close()
        self.recorder.finish()

    # ----------------------------------------------------------------- recording
    def peers(self) -> str:
        """Between whom this session's traffic goes, for a recording's ``peers`` line."""
        if self.mode == "loopback":
            return "loopback client -> loopback server (one process, a socket pair)"
        if self.mode == "listen":
            return f"clients -> {self.address}"
        side = self.sides.get("client")
        if side is not None:
            return f"{side.transport.local} -> {side.transport.peer}"
        return f"? -> {self.address}"

    def recording_meta(self) -> Meta:
        meta = recording_meta(self.command, peers=self.peers(), engine=self.engine_name)
        if self.tls:
            # what the engine saw is what a replay needs; the TLS records themselves are not kept
            meta.extra["tls"] = f"{self.tls}; the chunks are the plaintext inside TLS"
        return meta

    def start_recording(self, stream: IO[bytes], path: str | Path) -> LogEntry:
        """Stream every record, from the session's start, to ``stream`` (a new file at ``path``) as it
        happens.  Raises :class:`~h11dbg.transcript.files.OutputFileError` if it cannot be written."""
        self.recorder.stream_to(stream, self.recording_meta(), path)
        return self._note(f"recording to {path}")

    def save(self, path: str | Path, force: bool = False) -> str:
        """Write everything recorded so far to ``path``; returns a one-line summary.

        Raises :class:`SessionError` (one line) if the file exists (without ``force``) or cannot be written.
        """
        try:
            self.recorder.save(path, self.recording_meta(), force=force)
        except OutputFileError as exc:
            raise SessionError(str(exc)) from None
        return f"saved {self.recorder.summary()} to {path}"

    @property
    def connected(self) -> bool:
        """True while the current connection's socket is open (listen: a client is being served)."""
        return any(not s.transport.closed for s in self.sides.values())

    # ----------------------------------------------------------------- views
    def states(self, actor: Role | None = None) -> dict[str, str]:
        """``{"client": ..., "server": ...}`` as the acting side's engine sees them."""
        try:
            return self._states(self.side(actor))
        except SessionError:
            return {"client": "-", "server": "-"}

    def their_role(self, actor: Role | None = None) -> Role:
        return other_role(actor or self.actor)

    def explain(self, actor: Role | None = None) -> Explanation:
        """Why each side is where it is, what may legally come next, and the last rule applied."""
        side = self.side(actor)
        return explain(self.engine, side.machine, side.role, self.log, self.mode, self.buffered(side.role),
                       tuple(suggestions(self, side.role)))

    def describe(self, role: str, state: str) -> str:
        return describe_state(role, state)

    def toolbar(self) -> dict[str, str | int | float]:
        states = self.states()
        bar: dict[str, str | int | float] = {
            "role": self.actor,
            "peer": self.address,
            "our_state": states[self.actor],
            "their_state": states[self.their_role()],
            "buffered": self.buffered(),
            "engine": self.engine_name,
            "elapsed": round(self.elapsed(), 3),
        }
        if self.recorder.streaming:
            bar["recording"] = str(self.recorder.path)
        return bar

