"""TCP reassembly: captured segments in, transcript records (Open, Chunk, Close) out.

Reading the capture file is :mod:`.pcap`'s job (with dpkt for pcapng); turning segments back into
the two byte streams of each connection is ours, because the choices below decide what a user
steps through and they must be explained, not hidden.

Connections
    One connection per 4-tuple.  A SYN whose initial sequence number differs from the one we
    know (or any SYN on a 4-tuple whose connection has finished) starts a *new* connection, so
    a reused 4-tuple gives two connections.  Segments that arrive on a finished 4-tuple without
    a SYN (late ACKs, retransmitted FINs) are dropped.

Who is the client
    The sender of a SYN (without ACK); else the receiver of a SYN-ACK.  A connection whose
    handshake the capture missed is guessed, in this order: the side whose port is ``server_port``
    (the ``--port`` filter) is the server; a first payload starting ``HTTP/`` comes from the server
    and one starting with a method token and a space from the client; the side with the lower port
    is the server (clients use high ephemeral ports); failing all that, the first sender is the
    client.  Such connections are marked lossy: their first bytes may not have been captured.

Ordering, retransmissions and overlaps
    Sequence numbers are unwrapped to 64-bit stream offsets relative to the byte we expect next,
    so a stream may cross the 2**32 wraparound.  Segments ahead of the expected byte wait until
    the hole before them fills.  A byte is taken from the *first* segment that carried it:
    retransmissions are dropped and overlapping segments only contribute the bytes nobody sent
    before them (a well-behaved stack retransmits the same bytes; when it does not, the first
    copy is the one the receiver most likely accepted, and it keeps records deterministic).

Chunks and time
    The reassembler's :class:`Chunk` is the new bytes of one segment.  Its time is the capture time
    at which the bytes became readable in order: an early out-of-order segment is released when the
    hole before it fills.

Writes
    A segment is the network's unit, not the peers': one write of a 40 KiB response leaves as
    28 segments of 1448 bytes, and the receiver reads it as one or two reads.  Replaying segment
    by segment would show 28 Data events where the application saw one or two (and a recording
    made with ``h11dbg record`` shows one per read), so :class:`Writes` joins a direction's
    consecutive in-order segments into the sender's writes, as a TCP stack hands them to the
    application: a run ends at a segment with PSH set (the sender's stack marks the end of what it
    was given to send), at 64 KiB (the size ``h11dbg record`` reads), and before any other record
    of the connection (bytes the other way, a FIN, a reset), so the order of events between the
    two directions is what the capture shows.  The joined chunk's time is its last segment's.
    Segments released after a hole end a run too (their PSH flags are not tracked).
    ``--segments`` keeps one chunk per segment, for looking at the packets themselves.

Gaps
    Bytes the capture never saw (dropped by the kernel, cut by the snap length, or acknowledged
    by the peer although no segment carried them) cannot be invented.  The direction stops at the
    gap: nothing after it is emitted (not even its FIN), and a note naming the connection,
    direction and stream offset is added to ``notes`` (the importer copies it to ``Meta.lossy``).
    A hole still open at the end of the capture, or one with more than ``max_buffered`` bytes
    waiting behind it, is a gap too.

FIN gives ``Close(direction)`` once every byte before it was emitted; RST gives
``Close(direction, reset=True)`` at once and ends the connection.

Fast path
    Most of a capture is segments that arrive in order with nothing waiting, and bare ACKs; for
    those, :meth:`Reassembler.feed` only decides that nothing special happens.  An importer may
    keep the :class:`Flow` that :meth:`Reassembler.flow` gives for a segment it fed, and hand
    later segments of that 4-tuple and direction to :meth:`Flow.take` instead, which does what
    ``feed`` would do for the plain case without building a :class:`Segment` (and says when it is
    not the plain case, so the importer feeds the segment after all).
"""

from __future__ import annotations

import bisect
import re
from collections import OrderedDict
from typing import Any, NamedTuple

from h11dbg.transcript.model import DIRECTIONS, Chunk, Close, Direction, Open, Record, other_direction

FIN = 0x01
SYN = 0x02
RST = 0x04
ACK = 0x10

_MOD = 1 << 32
_MASK = _MOD - 1
_HALF = 1 << 31
_REQUEST_START = re.compile(rb"[!#$%&'*+.^_`|~0-9A-Za-z-]+ ")
_DIRECTION_WORDS = {"c2s": "client→server", "s2c": "server→client"}

Endpoint = tuple[str, int]  # (address as text, port)


class Segment(NamedTuple):
    """One captured TCP segment, already stripped of its link and IP headers.

    A named tuple rather than a frozen dataclass: a capture has millions, and a tuple is
    several times quicker to build.
    """

    time: float
    src: Endpoint
    dst: Endpoint
    seq: int
    ack: int
    flags: int
    payload: bytes = b""
    #: bytes the IP header says the segment carried but the capture cut off (snap length)
    missing: int = 0


def format_endpoint(endpoint: Endpoint) -> str:
    host, port = endpoint
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


# Plain classes rather than dataclasses, here and for _Connection: a dataclass costs a millisecond
# of every replay's start-up to build.

class _Piece:
    __slots__ = ("offset", "data", "cut")

    def __init__(self, offset: int, data: bytes, cut: bool = False) -> None:
        self.offset = offset
        self.data = data
        self.cut = cut  # the capture lost the bytes right after this piece


class _Stream:
    """One direction of a connection."""

    __slots__ = ("isn", "base", "next", "pending", "buffered", "fin", "closed", "stopped")

    def __init__(self) -> None:
        self.isn: int | None = None  # the SYN's sequence number, when seen
        self.base: int | None = None  # sequence number of stream offset 0
        self.next = 0  # offset of the next byte to emit
        self.pending: list[_Piece] = []  # sorted, non-overlapping, all > next
        self.buffered = 0
        self.fin: int | None = None  # stream offset of the FIN
        self.closed = False
        self.stopped = False  # a gap: nothing more is emitted

    def offset_of(self, seq: int) -> int:
        assert self.base is not None
        # the signed distance from the byte we expect next picks the right 2**32 lap
        diff = (seq - self.base - self.next) % _MOD
        if diff >= _HALF:
            diff -= _MOD
        return self.next + diff

    @property
    def finished(self) -> bool:
        return self.closed or (self.stopped and self.fin is not None)


class _Connection:
    __slots__ = ("id", "client", "server", "streams", "reset", "active")

    def __init__(self, id: int, client: Endpoint, server: Endpoint, streams: dict[Direction, _Stream]) -> None:
        self.id = id
        self.client = client
        self.server = server
        self.streams = streams
        self.reset = False
        self.active = True  # False once retired: a fast path's cached flow of it is stale

    @property
    def finished(self) -> bool:
        if self.reset:
            return True
        client, server = self.streams["c2s"], self.streams["s2c"]
        return (client.closed or (client.stopped and client.fin is not None)) and (
            server.closed or (server.stopped and server.fin is not None))


class Flow:
    """One direction of an active connection, for an importer's per-packet fast path."""

    __slots__ = ("connection", "conn", "direction", "peer", "stream")

    def __init__(self, connection: _Connection, direction: Direction) -> None:
        self.connection = connection
        self.conn = connection.id
        self.direction: Direction = direction
        self.stream = connection.streams[direction]
        self.peer = connection.streams[other_direction(direction)]

    def take(self, seq: int, ack: int, size: int) -> bool:
        """A segment of this flow with ACK set, no SYN, FIN or RST, and nothing cut by the capture.

        When ``feed`` would only emit its payload (the connection is still active, the segment
        starts at the byte expected next, nothing waits behind a hole, no FIN was seen, and its
        ACK does not acknowledge bytes the capture lacks), moves the stream past its ``size``
        payload bytes exactly as ``feed`` does and returns True: the caller passes the payload on
        as a chunk of ``conn`` and ``direction``.  Returns False, changing nothing, for anything
        else: the caller feeds the segment instead.
        """
        stream = self.stream
        if (not self.connection.active or stream.pending or stream.fin is not None or stream.stopped
                or seq != (stream.base + stream.next) & _MASK):  # type: ignore[operator]
            return False
        peer = self.peer
        # _check_acked's test: an ack past the peer's next byte means a gap
        if (peer.base is not None and not (peer.stopped or peer.closed)
                and 0 < (ack - peer.base - peer.next) & _MASK < _HALF):
            return False
        stream.next += size
        return True


class Reassembler:
    """Feed segments in capture order; collect the records they complete.

    ``server_port`` helps guess the client of connections whose handshake was not captured.
    ``notes`` lists why the result is lossy (empty when every byte was recovered).
    """

    def __init__(self, *, server_port: int | None = None, max_buffered: int = 16 * 1024 * 1024,
                 max_finished: int = 65536) -> None:
        self.server_port = server_port
        self.max_buffered = max_buffered
        self.max_finished = max_finished
        self.notes: list[str] = []
        self._active: dict[tuple[Endpoint, Endpoint], _Connection] = {}
        # finished connections, remembered so their stray late segments do not open new ones
        self._finished: OrderedDict[tuple[Endpoint, Endpoint], _Connection] = OrderedDict()
        self._next_id = 1  # connections are numbered from 1, as in our own transcripts

    # -- public -------------------------------------------------------------------------------

    def feed(self, seg: Segment) -> list[Record]:
        out: list[Record] = []
        time, src, dst, seq, ack, flags, payload, missing = seg
        key = (src, dst) if src < dst else (dst, src)
        connection = self._active.get(key)
        syn, fin, rst = bool(flags & SYN), bool(flags & FIN), bool(flags & RST)

        if syn:
            connection = self._on_syn(seg, key, connection, out)
            if connection is None:
                return out
        elif connection is None:
            if key in self._finished or rst or not (seg.payload or seg.missing or fin):
                return out  # a late segment of a finished connection, or a bare ACK of an unknown one
            connection = self._open(key, *self._guess_roles(seg), seg.time, out)
            self.notes.append(
                f"connection {connection.id}: already open when the capture started (no SYN seen); "
                "its first bytes may be missing"
            )

        direction: Direction = "c2s" if src == connection.client else "s2c"
        stream = connection.streams[direction]
        if stream.base is None:
            stream.base = seq + 1 if syn else seq

        if flags & ACK:
            self._check_acked(connection, other_direction(direction), ack)

        if rst:
            self._flush_pending_as_gap(connection)
            out.append(Close(connection.id, direction, seg.time, reset=True))
            connection.reset = True
            self._retire(key, connection)
            return out

        if not stream.stopped and not stream.closed:
            start = stream.offset_of(seq + 1 if syn else seq)
            if start == stream.next and not stream.pending and not missing:
                # The usual case: the next bytes in order with no hole waiting.  What _insert and
                # _drain would do, without building a piece for it.
                if payload:
                    out.append(Chunk(connection.id, direction, payload, time))
                    stream.next += len(payload)
                if fin and stream.fin is None:
                    stream.fin = stream.next
                if stream.fin is not None and stream.fin == stream.next:
                    stream.closed = True
                    out.append(Close(connection.id, direction, time))
                    if connection.finished:  # only a close (or a gap, below) can finish a connection
                        self._retire(key, connection)
                elif (stream.stopped or connection.streams[other_direction(direction)].stopped) and connection.finished:
                    self._retire(key, connection)  # the ACK check above found a gap
                return out
            if seg.payload or seg.missing:
                self._insert(stream, start, seg.payload, cut=seg.missing > 0)
            if fin and stream.fin is None:
                stream.fin = start + len(seg.payload) + seg.missing
            self._drain(connection, direction, seg.time, out)
            if stream.buffered > self.max_buffered:
                self._gap(connection, direction, f"more than {self.max_buffered} bytes waited behind a hole")
        elif fin and stream.fin is None:
            stream.fin = -1  # a FIN after a gap: the direction is over, its position unknown

        if connection.finished:
            self._retire(key, connection)
        return out

    def flow(self, seg: Segment) -> Flow | None:
        """The :class:`Flow` of ``seg``'s 4-tuple and direction, once ``seg`` was fed; None when
        that connection is not active or the direction has no stream position yet."""
        src, dst = seg.src, seg.dst
        connection = self._active.get((src, dst) if src < dst else (dst, src))
        if connection is None:
            return None
        direction: Direction = "c2s" if src == connection.client else "s2c"
        if connection.streams[direction].base is None:
            return None
        return Flow(connection, direction)

    def connection_id(self, seg: Segment) -> int | None:
        """The id of the active connection ``seg`` belongs to, if any."""
        src, dst = seg.src, seg.dst
        connection = self._active.get((src, dst) if src < dst else (dst, src))
        return None if connection is None else connection.id

    def finish(self) -> list[Record]:
        """The capture ended: report the holes still open (no records are invented)."""
        for connection in list(self._active.values()):
            self._flush_pending_as_gap(connection)
        return []

    # -- connections --------------------------------------------------------------------------

    def _on_syn(self, seg: Segment, key: tuple[Endpoint, Endpoint], connection: _Connection | None,
                out: list[Record]) -> _Connection | None:
        synack = bool(seg.flags & ACK)
        if connection is None:
            old = self._finished.get(key)
            if old is not None and self._same_handshake(old, seg):
                return None  # a retransmitted SYN of a connection that is already over
        elif self._same_handshake(connection, seg):
            return connection
        elif synack and connection.server == seg.src and connection.streams["s2c"].isn is None:
            connection.streams["s2c"].isn = seg.seq
            return connection
        else:
            # a fresh handshake on a 4-tuple still in use: the old connection ended unseen
            self._flush_pending_as_gap(connection)
            self._retire(key, connection)
        self._finished.pop(key, None)
        client, server = (seg.dst, seg.src) if synack else (seg.src, seg.dst)
        connection = self._open(key, client, server, seg.time, out)
        connection.streams["s2c" if synack else "c2s"].isn = seg.seq
        return connection

    @staticmethod
    def _same_handshake(connection: _Connection, seg: Segment) -> bool:
        synack = bool(seg.flags & ACK)
        sender = connection.server if synack else connection.client
        return sender == seg.src and connection.streams["s2c" if synack else "c2s"].isn == seg.seq

    def _open(self, key: tuple[Endpoint, Endpoint], client: Endpoint, server: Endpoint, time: float,
              out: list[Record]) -> _Connection:
        connection = _Connection(self._next_id, client, server, {"c2s": _Stream(), "s2c": _Stream()})
        self._next_id += 1
        self._active[key] = connection
        out.append(Open(connection.id, time, format_endpoint(client), format_endpoint(server)))
        return connection

    def _retire(self, key: tuple[Endpoint, Endpoint], connection: _Connection) -> None:
        connection.active = False
        if self._active.get(key) is connection:
            del self._active[key]
        self._finished[key] = connection
        self._finished.move_to_end(key)
        while len(self._finished) > self.max_finished:
            self._finished.popitem(last=False)

    def _guess_roles(self, seg: Segment) -> tuple[Endpoint, Endpoint]:
        """(client, server) for a connection whose handshake was not captured."""
        src, dst = seg.src, seg.dst
        if self.server_port is not None and self.server_port in (src[1], dst[1]) and src[1] != dst[1]:
            return (dst, src) if src[1] == self.server_port else (src, dst)
        if seg.payload.startswith(b"HTTP/"):
            return dst, src
        if _REQUEST_START.match(seg.payload):
            return src, dst
        if src[1] != dst[1]:
            return (dst, src) if src[1] < dst[1] else (src, dst)
        return src, dst

    # -- streams ------------------------------------------------------------------------------

    def _insert(self, stream: _Stream, start: int, data: bytes, *, cut: bool) -> None:
        end = start + len(data)
        if end < stream.next or (end == stream.next and not cut):
            return  # a retransmission of bytes already emitted
        if start < stream.next:
            data = data[stream.next - start:]
            start = stream.next
        # keep the bytes that earlier segments already supplied; add only the uncovered parts
        offsets = [p.offset for p in stream.pending]
        i = bisect.bisect_left(offsets, start)
        if i > 0 and stream.pending[i - 1].offset + len(stream.pending[i - 1].data) > start:
            i -= 1
        cursor = start
        new: list[_Piece] = []
        for piece in stream.pending[i:]:
            if piece.offset >= end:
                break
            if piece.offset > cursor:
                new.append(_Piece(cursor, data[cursor - start:piece.offset - start]))
            cursor = max(cursor, piece.offset + len(piece.data))
        if cursor < end:
            new.append(_Piece(cursor, data[cursor - start:]))
        if cut:
            if new and new[-1].offset + len(new[-1].data) == end:
                new[-1].cut = True
            elif not any(p.offset <= end < p.offset + len(p.data) for p in stream.pending):
                new.append(_Piece(end, b"", cut=True))  # marks where the lost bytes begin
        for piece in new:
            if piece.data or piece.cut:
                bisect.insort(stream.pending, piece, key=lambda p: p.offset)
                stream.buffered += len(piece.data)

    def _drain(self, connection: _Connection, direction: Direction, time: float, out: list[Record]) -> None:
        stream = connection.streams[direction]
        while stream.pending and stream.pending[0].offset == stream.next:
            piece = stream.pending.pop(0)
            stream.buffered -= len(piece.data)
            if piece.data:
                out.append(Chunk(connection.id, direction, piece.data, time))
                stream.next += len(piece.data)
            if piece.cut:
                self._gap(connection, direction, "the capture cut the segment short (snap length)")
                return
        if stream.fin is not None and stream.fin == stream.next and not stream.closed:
            stream.closed = True
            out.append(Close(connection.id, direction, time))

    def _check_acked(self, connection: _Connection, direction: Direction, ack: int) -> None:
        """The peer acknowledged bytes of ``direction`` that no captured segment carried: a gap."""
        stream = connection.streams[direction]
        if stream.base is None or stream.stopped or stream.closed:
            return
        acked = stream.offset_of(ack)
        if stream.fin is not None:
            acked = min(acked, stream.fin)  # the FIN takes a sequence number but is no byte
        if acked > stream.next:  # (pending never starts at ``next``: _drain has emitted it)
            self._gap(connection, direction, "the peer acknowledged bytes the capture does not contain")

    def _flush_pending_as_gap(self, connection: _Connection) -> None:
        for direction, stream in connection.streams.items():
            if stream.stopped or stream.closed:
                continue
            if stream.pending:
                self._gap(connection, direction, "later bytes were captured but the ones before them were not")
            elif stream.fin is not None and stream.fin > stream.next:
                self._gap(connection, direction, "the FIN was captured but some bytes before it were not")

    def _gap(self, connection: _Connection, direction: Direction, why: str) -> None:
        stream = connection.streams[direction]
        stream.stopped = True
        upto = stream.pending[0].offset if stream.pending and stream.pending[0].data else None
        stream.pending.clear()
        stream.buffered = 0
        size = f" ({upto - stream.next} bytes)" if upto is not None and upto > stream.next else ""
        self.notes.append(
            f"connection {connection.id} {_DIRECTION_WORDS[direction]}: bytes missing at stream offset "
            f"{stream.next}{size}: {why}; that direction stops there"
        )


PSH = 0x08
#: A write that never sees PSH is cut at this size: what ``h11dbg record`` reads at a time.
WRITE_LIMIT = 64 * 1024


class Writes:
    """Joins each direction's in-order segments into the sender's writes (see "Writes" above).

    Feed it every segment's new bytes in order through :meth:`add` (or a reassembled chunk through
    :meth:`chunk`) with the PSH flag of its segment (True when unknown); before any other record of
    a connection, or anything else that happens to it, pass on what :meth:`flush` returns; at the
    end, what :meth:`finish` returns.
    """

    __slots__ = ("limit", "runs", "last_conn", "last_direction", "last_run")

    def __init__(self, limit: int = WRITE_LIMIT) -> None:
        self.limit = limit
        # (connection, direction) -> [pieces, their size, time of the last]
        self.runs: dict[tuple[int, Direction], list[Any]] = {}
        # the run the last segment went to: the next segment nearly always continues it
        self.last_conn = -1
        self.last_direction: Direction | None = None
        self.last_run: list[Any] | None = None

    def add(self, conn: int, direction: Direction, data: bytes, time: float, push: int | bool) -> list[Record] | None:
        """The records to pass on now (None: nothing yet) after ``data``, a segment's new bytes."""
        run = self.last_run
        if run is not None and conn == self.last_conn and direction == self.last_direction:
            run[0].append(data)
            run[1] += len(data)
            run[2] = time
            if push or run[1] >= self.limit:
                del self.runs[(conn, direction)]
                self.last_run = None
                return [Chunk(conn, direction, b"".join(run[0]), time)]
            return None
        runs = self.runs
        out: list[Record] = []
        if runs:
            other = runs.pop((conn, other_direction(direction)), None)
            if other is not None:  # the other way spoke meanwhile: its write is over
                out.append(Chunk(conn, other_direction(direction), b"".join(other[0]), other[2]))
            run = runs.get((conn, direction))
        if run is None:
            if push or len(data) >= self.limit:
                out.append(Chunk(conn, direction, data, time))
                self.last_run = None
            else:
                run = runs[(conn, direction)] = [[data], len(data), time]
                self.last_conn, self.last_direction, self.last_run = conn, direction, run
            return out
        run[0].append(data)
        run[1] += len(data)
        run[2] = time
        if push or run[1] >= self.limit:
            del runs[(conn, direction)]
            out.append(Chunk(conn, direction, b"".join(run[0]), time))
            self.last_run = None
        else:
            self.last_conn, self.last_direction, self.last_run = conn, direction, run
        return out

    def chunk(self, chunk: Chunk, push: int | bool) -> list[Record]:
        return self.add(chunk.conn, chunk.direction, chunk.data, chunk.time, push) or []

    def flush(self, conn: int) -> list[Record]:
        """The writes of connection ``conn`` so far: to pass on before its next other record."""
        if not self.runs:
            return []
        out: list[Record] = []
        for direction in DIRECTIONS:
            run = self.runs.pop((conn, direction), None)
            if run is not None:
                out.append(Chunk(conn, direction, b"".join(run[0]), run[2]))
                if run is self.last_run:
                    self.last_run = None
        return out

    def finish(self) -> list[Record]:
        out: list[Record] = [Chunk(conn, direction, b"".join(run[0]), run[2])
                             for (conn, direction), run in self.runs.items()]
        self.runs.clear()
        self.last_run = None
        return out
