"""A replay regrouped into exchanges: each request with its responses, body, states and errors.

``h11dbg diff A B`` compares two recordings exchange by exchange (:mod:`h11dbg.replay.compare`), so
it needs the replay's steps (the engine's own events, states and errors, parsed by the same two
machines per connection as ``replay``) gathered per request/response cycle rather than per chunk.

An exchange opens with the first event or error of a connection's cycle and closes at the
keep-alive ``cycle`` step or at the connection's end.  Exchanges are numbered in the order they
opened (the order their first bytes were recorded in, whatever the connections) and handed out in
that order once complete, so only the exchanges still in flight are held in memory; a body is kept
whole up to :data:`BODY_KEPT` bytes and beyond that only counted and hashed.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

from h11dbg.replay.machines import Replayer
from h11dbg.transcript.model import DIRECTIONS, Chunk

if TYPE_CHECKING:
    from h11dbg.engines import Engine
    from h11dbg.replay.steps import ReplayStep
    from h11dbg.transcript.model import Direction, Record

#: How many bytes of each body are kept to find the first byte two bodies differ at; past it, two
#: bodies are compared by size and hash only.
BODY_KEPT = 1 << 20

#: Message kinds: the events that open a message.
HEADS = frozenset({"Request", "InformationalResponse", "Response"})


class Message:
    """A request or a response as the engine read it: its head event, body and trailers."""

    __slots__ = ("head", "direction", "framing", "size", "kept", "_hash", "trailers", "complete", "chunks",
                 "keep", "started", "ended", "end")

    def __init__(self, head: Any, direction: Direction, framing: tuple[str, int | None], started: float = 0.0,
                 keep: int = BODY_KEPT) -> None:
        self.head = head  # the engine's Request, InformationalResponse or Response
        self.direction = direction
        self.framing = framing  # (kind, length) as h11dbg.protocol.message_framing says
        self.size = 0
        self.kept = bytearray()  # the body's first BODY_KEPT bytes
        self._hash = hashlib.blake2b(digest_size=16)
        self.trailers: list[tuple[bytes, bytes]] = []
        self.complete = False  # its EndOfMessage was parsed
        self.chunks = 0  # chunked framing: how many chunks the body came in
        self.keep = keep  # how much of the body ``kept`` holds
        self.started = started  # the time of the record its head was parsed from
        self.ended: float | None = None  # and its EndOfMessage's, once parsed
        self.end: Any = None  # that EndOfMessage (whose bytes it ends at: see h11dbg.replay.spans.counting)

    @property
    def kind(self) -> str:
        return type(self.head).__name__

    def add(self, data: bytes, chunk_start: bool) -> None:
        self.size += len(data)
        room = self.keep - len(self.kept)
        if room > 0:
            self.kept += data[:room]
        self._hash.update(data)
        if chunk_start:
            self.chunks += 1

    def digest(self) -> bytes:
        return self._hash.digest()


class Exchange:
    """One request/response cycle of a connection, or what the engine made of its bytes."""

    __slots__ = ("number", "conn", "cycle", "request", "responses", "errors", "error_bytes", "states", "endings")

    def __init__(self, number: int, conn: int, cycle: int) -> None:
        self.number = number  # 1-based, in the order exchanges opened across the whole recording
        self.conn = conn
        self.cycle = cycle  # 1-based: which cycle of its connection
        self.request: Message | None = None
        self.responses: list[Message] = []  # interim (1xx) responses first, then the final one
        self.errors: list[ReplayStep] = []
        self.error_bytes: list[bytes | None] = []  # each error's bytes from its offset on (if still held)
        self.states: dict[str, str] = {}  # after the exchange's last event or error
        self.endings: list[str] = []  # a reset, a protocol switch, bytes that never made a message

    @property
    def messages(self) -> list[Message]:
        return ([self.request] if self.request is not None else []) + self.responses

    def message(self, direction: Direction) -> Message | None:
        """The message whose body the bytes going ``direction`` belong to now."""
        if direction == "c2s":
            return self.request
        return self.responses[-1] if self.responses else None


def _framing(head: Any, request: Message | None) -> tuple[str, int | None]:
    from h11dbg.protocol import message_framing

    if type(head).__name__ == "InformationalResponse":  # a 1xx response never has a body
        return ("content-length", 0)
    method = None if request is None else bytes(request.head.method)
    return message_framing(method, head)


#: How many of the latest bytes of each direction of a connection are held, to show the bytes an
#: error is at; and how many of them an error shows.
STREAM_HELD = 1 << 16
ERROR_BYTES = 48


class _Tail:
    """The latest bytes of one direction of a connection, and where they start in its stream."""

    __slots__ = ("data", "start")

    def __init__(self) -> None:
        self.data = bytearray()
        self.start = 0

    def add(self, data: bytes) -> None:
        self.data += data
        extra = len(self.data) - STREAM_HELD
        if extra > 0:
            del self.data[:extra]
            self.start += extra

    def at(self, offset: int | None) -> bytes | None:
        """The bytes from ``offset`` on; at the end of the stream (an error at the close: a message
        cut short), the bytes before it."""
        if offset is None or offset < self.start:
            return None
        at = offset - self.start
        if at >= len(self.data):
            return bytes(self.data[max(0, len(self.data) - ERROR_BYTES) :])
        return bytes(self.data[at : at + ERROR_BYTES])


class ExchangeGrouper:
    """Turns replay steps into exchanges, handed out in the order they opened.  It is shown each
    record before its steps (:meth:`saw`), to hold the bytes an error is at."""

    def __init__(self, keep: int = BODY_KEPT) -> None:
        self.keep = keep  # how many bytes of each body its Message keeps
        self._tails: dict[tuple[int, Direction], _Tail] = {}
        self._open: dict[int, Exchange] = {}  # conn -> its exchange in progress
        self._cycles: dict[int, int] = {}  # conn -> cycles seen
        self._waiting: dict[int, Exchange | None] = {}  # number -> the exchange once complete (None: in flight)
        self._next_out = 1
        self.count = 0

    def saw(self, conn: int, direction: Direction, data: bytes) -> None:
        tail = self._tails.get((conn, direction))
        if tail is None:
            tail = self._tails[conn, direction] = _Tail()
        tail.add(data)

    def add(self, steps: Iterable[ReplayStep]) -> list[Exchange]:
        done = False
        for step in steps:
            done = self._step(step) or done
        return self._ready() if done else []

    def finish(self) -> list[Exchange]:
        for exchange in list(self._open.values()):
            self._close(exchange)
        return self._ready()

    def _step(self, step: ReplayStep) -> bool:
        """Take one step; whether an exchange was completed."""
        kind = step.kind
        exchange = self._open.get(step.conn)
        if kind == "event":
            name = type(step.event).__name__
            if name == "ConnectionClosed":  # the close itself is no part of any message
                return False
            exchange = exchange or self._start(step.conn)
            direction: Direction = step.direction or "c2s"
            if name == "Data":
                message = exchange.message(direction)
                if message is not None:
                    message.add(bytes(step.event.data), bool(getattr(step.event, "chunk_start", False)))
                return False
            exchange.states = step.states
            if name in HEADS:
                message = Message(step.event, direction, _framing(step.event, exchange.request), step.time,
                                  self.keep)
                if name == "Request":
                    exchange.request = message
                else:
                    exchange.responses.append(message)
            elif name == "EndOfMessage":
                message = exchange.message(direction)
                if message is not None:
                    message.complete = True
                    message.ended = step.time
                    message.end = step.event
                    message.trailers = raw_fields(step.event.headers)
            return False
        if kind == "error":
            exchange = exchange or self._start(step.conn)
            exchange.errors.append(step)
            tail = self._tails.get((step.conn, step.direction or "c2s"))
            exchange.error_bytes.append(None if tail is None else tail.at(step.offset))
            exchange.states = step.states
            return False
        if exchange is None:
            # a reset, or bytes that never made a message, outside any exchange (before the first
            # request, or after a completed one) is what happened there: an exchange of its own
            if not (kind == "reset" or kind == "end" and step.text):
                return False
            exchange = self._start(step.conn)
            exchange.states = step.states
        if kind in ("reset", "switch"):
            exchange.endings.append(step.text or kind)
            return False
        if kind == "cycle":
            self._close(exchange)
            return True
        if kind == "end":
            if step.text:
                exchange.endings.append(step.text)
            if step.tunnelled:
                exchange.endings.append(
                    f"tunnelled c2s {step.tunnelled['c2s']} bytes, s2c {step.tunnelled['s2c']} bytes")
            self._close(exchange)
            for direction in DIRECTIONS:
                self._tails.pop((step.conn, direction), None)
            return True
        return False

    def _start(self, conn: int) -> Exchange:
        self.count += 1
        cycle = self._cycles[conn] = self._cycles.get(conn, 0) + 1
        exchange = self._open[conn] = Exchange(self.count, conn, cycle)
        self._waiting[exchange.number] = None
        return exchange

    def _close(self, exchange: Exchange) -> None:
        del self._open[exchange.conn]
        self._waiting[exchange.number] = exchange

    def _ready(self) -> list[Exchange]:
        ready = []
        waiting = self._waiting
        while (exchange := waiting.get(self._next_out)) is not None:
            del waiting[self._next_out]
            ready.append(exchange)
            self._next_out += 1
        return ready


def raw_fields(headers: Any) -> list[tuple[bytes, bytes]]:
    """An engine's header fields as bytes, in wire order and case (both engines offer ``raw_items``)."""
    return [(bytes(name), bytes(value)) for name, value in headers.raw_items()]


def exchanges(records: Iterable[Record], engine: Engine, keep: int = BODY_KEPT) -> Iterator[Exchange]:
    """The exchanges of a recording, replayed on ``engine`` (h11dbg.protocol: framing is read with
    its rules), in the order they opened; ``keep``: how many bytes of each body are held."""
    replayer = Replayer(engine)
    grouper = ExchangeGrouper(keep)
    for record in records:
        if type(record) is Chunk:
            grouper.saw(record.conn, record.direction, record.data)
        steps = replayer.feed(record)
        if steps:
            yield from grouper.add(steps)
    yield from grouper.add(replayer.finish())
    yield from grouper.finish()
