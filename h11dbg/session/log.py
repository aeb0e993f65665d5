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
]


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
