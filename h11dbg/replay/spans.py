"""A whole replay at once, each step with the bytes it consumed: what an export needs to show.

``replay`` streams its steps and forgets them; an export (a stepper page, a diagram) holds the whole
replay, both byte streams of every connection, and for each step the run of its direction's stream it
was made of.  With h11dbg's engine the run is exact: ``bytes_consumed`` after each event (the engine
counts it anyway).  With an engine that does not count, it is the bytes of the read that produced the
step, said as such (``exact`` is False).
"""

from __future__ import annotations

import types
from typing import TYPE_CHECKING, Any, NamedTuple

from h11dbg.replay.machines import Replayer
from h11dbg.transcript.model import Chunk, Close, Open

if TYPE_CHECKING:
    from h11dbg.engines import Engine
    from h11dbg.replay.steps import ReplayStep
    from h11dbg.transcript.model import Direction, Transcript


class Spanned(NamedTuple):
    step: ReplayStep
    start: int | None  # the run of the step's direction's stream it was made of, [start, end)
    end: int | None


class Replayed(NamedTuple):
    steps: list[Spanned]
    streams: dict[tuple[int, Direction], bytes]  # every byte each side of each connection sent
    notes: list[str]  # why a lossy input's bytes may differ from the wire
    exact: bool  # spans measured by the engine, not the reads they came in
    connections: int
    errors: int


def counting(engine: Engine, ends: dict[int, int]) -> Engine:
    """``engine`` with a Connection that notes, for each event it parses, how many of the peer's bytes
    it had consumed by then (keyed by the event's id: valid while the event is kept alive, as the steps
    keep theirs)."""
    base: Any = engine.Connection

    class Connection(base):  # type: ignore[misc]
        def next_event(self) -> Any:
            event = super().next_event()
            ends[id(event)] = self.bytes_consumed
            return event

    counting = types.ModuleType(engine.__name__)
    counting.__dict__.update(vars(engine))
    counting.Connection = Connection  # type: ignore[attr-defined]
    return counting


def replay_whole(transcript: Transcript, engine: Engine) -> Replayed:
    """Replay all of ``transcript`` on ``engine``, keeping every step with its span."""
    ends: dict[int, int] = {}
    exact = hasattr(engine.Connection, "bytes_consumed")
    replayer = Replayer(counting(engine, ends) if exact else engine)
    streams: dict[tuple[int, Direction], bytearray] = {}
    consumed: dict[tuple[int, Direction], int] = {}
    spanned: list[Spanned] = []
    notes: list[str] = [transcript.meta.lossy] if transcript.meta.lossy else []

    def keep(steps: list[ReplayStep], read: tuple[int, int] | None, direction: Direction | None) -> None:
        for step in steps:
            key = (step.conn, step.direction) if step.direction else None
            span: tuple[int | None, int | None] = (None, None)
            if key is not None and step.kind == "event" and exact and id(step.event) in ends:
                start = consumed.get(key, 0)
                consumed[key] = ends[id(step.event)]
                span = (start, consumed[key])
            elif key is not None and step.kind == "error" and step.offset is not None:
                span = (step.offset, len(streams.get(key, b"")))  # from the bad byte to what was read
            elif read is not None and step.direction == direction:
                span = read
            spanned.append(Spanned(step, *span))

    for record in transcript:
        read = None
        if isinstance(record, Chunk):
            stream = streams.setdefault((record.conn, record.direction), bytearray())
            read = (len(stream), len(stream) + len(record.data))
            stream += record.data
        elif isinstance(record, Open | Close):
            streams.setdefault((record.conn, "c2s"), bytearray())
            streams.setdefault((record.conn, "s2c"), bytearray())
        keep(replayer.feed(record), read, getattr(record, "direction", None))
    keep(replayer.finish(), None, None)
    notes += transcript.notes or []
    return Replayed(spanned, {key: bytes(value) for key, value in streams.items()}, notes, exact,
                    replayer.connections, replayer.errors)
