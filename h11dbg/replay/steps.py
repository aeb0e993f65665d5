"""One step of a replay: what the two machines of a connection did with one record's bytes.

The replay's counterpart of the live session's log entry: UI-free, rendered by h11dbg.output.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from h11dbg.protocol import Transition
    from h11dbg.transcript.model import Direction

StepKind = Literal["open", "event", "error", "cycle", "switch", "close", "reset", "end", "paused", "resumed"]


class ReplayStep:
    """One step of a replay.  A plain class with slots: replay builds millions, and a dataclass would
    also cost every replay's start-up (building a slotted dataclass takes a few milliseconds)."""

    __slots__ = ("kind", "conn", "time", "direction", "event", "states", "error", "offset", "offset_exact",
                 "text", "transitions", "tunnelled", "peers", "timing")

    def __init__(
        self, kind: StepKind, conn: int, time: float,
        direction: Direction | None = None,  # whose bytes were parsed
        # an event of whichever engine ran (each has its own classes; h11dbg.output reads their
        # fields by name)
        event: Any = None,
        # after the step, as the parsing machine sees them (shared between steps: read it, do not change it)
        states: dict[str, str] | None = None,
        error: BaseException | None = None,
        offset: int | None = None,  # error: byte offset in that direction's stream, from the connection start
        offset_exact: bool = True,  # False when the engine does not say and we only know where parsing stood
        text: str | None = None,  # (a response's EndOfMessage with a timing: the exchange's "METHOD target")
        transitions: tuple[Transition, ...] = (),  # when the engine explains (only h11dbg.protocol does)
        tunnelled: dict[Direction, int] | None = None,  # after a protocol switch: bytes each way
        peers: tuple[str | None, str | None] = (None, None),
        # a response's EndOfMessage, when its exchange is complete: seconds from the request to the
        # response's first and last bytes (outputs show it as a line of its own after the event's)
        timing: dict[str, float | None] | None = None,
    ) -> None:
        self.kind = kind
        self.conn = conn
        self.time = time
        self.direction = direction
        self.event = event
        self.states: dict[str, str] = {} if states is None else states
        self.error = error
        self.offset = offset
        self.offset_exact = offset_exact
        self.text = text
        self.transitions = transitions
        self.tunnelled = tunnelled
        self.peers = peers
        self.timing = timing

    def __eq__(self, other: object) -> bool:
        if type(other) is not ReplayStep:
            return NotImplemented
        return all(getattr(self, name) == getattr(other, name) for name in self.__slots__)

    __hash__ = None  # type: ignore[assignment]  # (equal steps may change: not hashable)

    def __repr__(self) -> str:
        return f"ReplayStep({', '.join(f'{name}={getattr(self, name)!r}' for name in self.__slots__)})"

    @property
    def event_name(self) -> str:
        if self.kind == "event":
            return type(self.event).__name__
        return self.kind


