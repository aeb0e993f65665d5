"""The transcript model: what was said on one or more TCP connections, byte for byte.

A transcript is metadata plus a flat, time-ordered stream of records; each record names its
connection, so connections may interleave (as they do in a proxy recording or a pcap) and a
reader can stream a multi-GB file without holding it.  Every reader (our text format, pcap,
curl --trace, HAR) yields these records; every writer and replay consumes them.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Literal

Direction = Literal["c2s", "s2c"]  # client→server, server→client
Role = Literal["client", "server"]
DIRECTIONS: tuple[Direction, Direction] = ("c2s", "s2c")
ROLES: tuple[Role, Role] = ("client", "server")


def other_direction(direction: Direction) -> Direction:
    return "s2c" if direction == "c2s" else "c2s"


def other_role(role: Role) -> Role:
    return "server" if role == "client" else "client"


def sender(direction: Direction) -> Role:
    """The role that sends in ``direction``."""
    return "client" if direction == "c2s" else "server"


def sent_by(role: Role) -> Direction:
    """The direction ``role`` sends in."""
    return "c2s" if role == "client" else "s2c"


#: A record's time is seconds since the transcript's start, under 10**TIME_DIGITS (about 31 years)
#: either way: further is a corrupt or hand-edited time (thousands of digits read as infinity) that no
#: writer could hold (pcap's 32-bit seconds, HAR's dates), so every reader refuses it where it reads it.
TIME_DIGITS = 9
MAX_TIME = 10.0**TIME_DIGITS


def absurd_time(seconds: float) -> bool:
    """Whether ``seconds`` is no time a record may have (past :data:`MAX_TIME`, infinite or NaN)."""
    return not -MAX_TIME < seconds < MAX_TIME


def absurd_time_message(shown: str) -> str:
    """What a reader says about an absurd time, ``shown`` as the file has it."""
    return f"the time {shown} is not within {MAX_TIME:.0f} s (about 31 years) of the transcript's start"


@dataclass(frozen=True)
class Open:
    """A connection starts.  ``time`` is seconds since the transcript's start."""

    conn: int
    time: float = 0.0
    client: str | None = None  # "127.0.0.1:50312", "[::1]:50312"
    server: str | None = None


@dataclass(frozen=True, init=False)
class Chunk:
    """Bytes that one side sent, as one read (chunk boundaries are kept: they decide NEED_DATA)."""

    conn: int
    direction: Direction
    data: bytes
    time: float = 0.0

    def __init__(self, conn: int, direction: Direction, data: bytes, time: float = 0.0) -> None:
        # What the generated __init__ does, minus a frozen class's object.__setattr__ per field:
        # a large transcript or capture has a chunk per read, and this halves building one.
        fields = self.__dict__
        fields["conn"] = conn
        fields["direction"] = direction
        fields["data"] = data
        fields["time"] = time


@dataclass(frozen=True)
class Close:
    """``direction`` stopped sending (a FIN: half-close) or, with ``reset``, the connection was reset."""

    conn: int
    direction: Direction
    time: float = 0.0
    reset: bool = False


Record = Open | Chunk | Close


@dataclass
class Meta:
    version: int = 1
    tool: str | None = None
    recorded_at: str | None = None  # ISO 8601
    description: str | None = None
    source_format: str = "h11dbg"  # "h11dbg", "pcap", "pcapng", "curl-trace", "curl-trace-ascii", "har"
    lossy: str | None = None  # why the bytes may not be exactly what crossed the wire
    extra: dict[str, str] = field(default_factory=dict)
    peers: str | None = None  # "127.0.0.1:8080 -> 127.0.0.1:8000": what was recorded between


@dataclass
class Transcript:
    """Metadata and records; ``notes`` says when losses become known.

    Most importers know every loss before the first record (a HAR or a ``--trace-ascii`` dump is
    lossy as a whole): ``meta.lossy`` says it all and ``notes`` is None.  A capture's losses (a
    gap, a skipped packet, a connection whose handshake was not captured) show up only while its
    packets are reassembled, and finding them first would mean reading the capture twice.  Such an
    importer gives a live ``notes`` list instead: it appends one line per loss as it finds it,
    before it yields the records that follow, so a reader that compares ``len(notes)`` between
    records can tell where each loss was found.  Each iteration starts the list afresh, and
    ``meta.lossy`` becomes the notes joined by ``"; "`` once an iteration has ended.
    """

    meta: Meta
    records: Iterable[Record]  # may be a one-shot iterator for streamed files
    notes: list[str] | None = None

    def __iter__(self) -> Iterator[Record]:
        return iter(self.records)

    def complete_meta(self) -> None:
        """Make ``meta.lossy`` complete before the first record, for writers that put it in a header.

        With live ``notes`` this reads every record once now (the input is read twice in all);
        such an importer's records can be iterated again.  Otherwise there is nothing to do.
        """
        if self.notes is not None:
            for _ in self.records:
                pass
