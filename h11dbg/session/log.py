"""The session's event log: what happened, in order, with the states before and after.

The debugger's UI-free core appends a :class:`LogEntry` for everything that happens on a
connection; the REPL, the batch runner and ``--json`` only render these entries.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from h11dbg.protocol import Transition
    from h11dbg.session.hints import Suggestion
    from h11dbg.transcript.model import Direction, Role
    from h11dbg.transport.tls import TLSInfo

EntryKind = Literal[
    "event",      # an h11 event sent by us or parsed from the peer (``event`` is set)
    "error",      # a LocalProtocolError / RemoteProtocolError (``error`` is set)
    "sent",       # bytes written to the socket that bypassed the state machine (``raw``)
    "received",   # bytes read from the socket (``recv``), before parsing
    "eof",        # the peer closed its sending side
    "state",      # a state change with no event of its own (start_next_cycle, keep-alive off ...)
    "note",       # anything else worth showing (connected, TLS details, timeout ...)
    "timing",     # a response completed: its exchange's times (``timing`` is set)
    "closed",     # the peer closed the connection between messages or instead of answering (``closed``)
]

CloseSituation = Literal[
    "idle",        # a persistent connection with nothing in flight (a keep-alive timeout)
    "announced",   # after a message that turned keep-alive off (Connection: close, HTTP/1.0)
    "unanswered",  # while a request waited for its response, before any byte of it
]


@dataclass(frozen=True)
class Timing:
    """One exchange's times as ``curl -w`` gives them: seconds, each counted from the start, so each
    includes the ones before it (``time_namelookup``, ``time_connect``, ``time_appconnect``,
    ``time_starttransfer``, ``time_total``).

    The start is the lookup of the peer's name for a connection's first exchange, and the first
    request byte written for a later one (then ``dns``, ``connect`` and ``tls`` are None: nothing was
    set up); the pause between connecting and writing the request is not counted.  ``tls`` is None
    on plain TCP.
    """

    dns: float | None
    connect: float | None
    tls: float | None
    first_byte: float
    total: float

    @property
    def transfer(self) -> float:
        """From the first response byte to the last."""
        return self.total - self.first_byte


@dataclass(frozen=True)
class PeerClose:
    """The peer closed (or reset) the connection where no byte of a message was in flight."""

    peer: Role  # who closed
    situation: CloseSituation
    idle: float  # seconds from the last byte either way to the close
    reset: bool = False  # a reset (RST), not a close (FIN)
    request: str | None = None  # the unanswered request's method and target (``GET /x``)
    idempotent: bool | None = None  # whether that request may be retried on its own (RFC 9110 §9.2.2)
    reused: bool = False  # the connection had carried an exchange before: the keep-alive race
    reconnect: bool = False  # `reconnect` can open a new connection (connect mode)


@dataclass(frozen=True)
class LogEntry:
    seq: int
    time: float  # seconds since the session connected
    conn: int
    kind: EntryKind
    direction: Direction | None = None  # None for notes
    actor: Role | None = None  # whose engine produced it
    # an event of whichever engine ran (each has its own classes; h11dbg.output reads their fields
    # by name), or NEED_DATA / PAUSED in a note
    event: Any = None
    data: bytes = b""  # bytes the event produced (sent) or consumed (received)
    states_before: dict[str, str] = field(default_factory=dict)  # {"client": "IDLE", "server": "IDLE"}
    states_after: dict[str, str] = field(default_factory=dict)
    error: BaseException | None = None
    transitions: tuple[Transition, ...] = ()  # when the engine explains (only h11dbg.protocol does)
    text: str | None = None  # a note's text, or a one-sentence explanation
    suggestions: tuple[Suggestion, ...] = ()  # what to type next, where a note ends in a hint
    tls: TLSInfo | None = None  # a note on a TLS handshake (or a listener's certificate): its terms
    timing: Timing | None = None  # "timing" entries
    closed: PeerClose | None = None  # "closed" entries
