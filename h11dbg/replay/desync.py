"""Request smuggling made visible: the same client bytes as three parsers split them into requests.

Smuggling is two parsers disagreeing about where a message ends.  A front end that frames a body by
Content-Length (and takes the first of two) and a back end that frames it by Transfer-Encoding (and
takes the last Content-Length) can read one connection's bytes as different requests; the bytes one
of them takes for a body, the other takes for a request of its own ("GET /admin").  The two lenient
readers here are models of such parsers, written for this comparison (line ends may be a bare LF,
as lenient parsers allow); the third reader is the strict engine, which refuses the ambiguous message
instead of guessing.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, NamedTuple

from h11dbg.transcript.model import Chunk

if TYPE_CHECKING:
    from h11dbg.engines import Engine
    from h11dbg.transcript.model import Transcript

_HEAD_END = re.compile(rb"\r?\n\r?\n")
_LINE_END = re.compile(rb"\r?\n")


class Request(NamedTuple):
    """One request as a reader sees it: bytes [start, end) of the client's stream (``end`` None: the
    bytes ran out first), its start line, and how its body was framed."""

    start: int
    end: int | None
    method: bytes
    target: bytes
    framing: str  # "Content-Length: 6", "chunked", "no body"
    body: int  # body bytes (for chunked, the chunk data)


class Reading(NamedTuple):
    """How one reader split a connection's client bytes."""

    reader: str
    requests: list[Request]
    error: str | None = None  # the strict engine's refusal: "msg [rule, section]"
    error_offset: int | None = None


class Desync(NamedTuple):
    conn: int
    data: bytes
    readings: list[Reading]

    @property
    def agree(self) -> bool:
        """Whether all three readers put the same requests in the same places (a refusal never agrees)."""
        bounds = {tuple((r.start, r.end) for r in reading.requests) for reading in self.readings}
        return len(bounds) <= 1 and not any(reading.error for reading in self.readings)

    def only_in(self, reading: Reading) -> list[Request]:
        """The requests ``reading`` sees start where neither lenient reader but itself sees one: the
        smuggled ones (the strict reader's are compared with both lenient readers)."""
        others = {r.start for other in self.readings[:2] if other is not reading for r in other.requests}
        return [r for r in reading.requests if r.start not in others]


FRONT_END = "front end (Content-Length first)"
BACK_END = "back end (Transfer-Encoding first)"


def _lenient(data: bytes, reader: str, *, chunked_first: bool, last_length: bool) -> Reading:
    requests: list[Request] = []
    at = 0
    while at < len(data):
        while data.startswith((b"\r\n", b"\n"), at):  # blank lines between requests: tolerated
            at += 2 if data.startswith(b"\r\n", at) else 1
        if at >= len(data):
            break
        head_end = _HEAD_END.search(data, at)
        line = _LINE_END.split(data[at : head_end.start() if head_end else len(data)], maxsplit=1)[0]
        method, _, rest = line.partition(b" ")
        target = rest.partition(b" ")[0]
        if head_end is None:
            requests.append(Request(at, None, method, target, "no body", 0))
            break
        fields = [field.partition(b":") for field in _LINE_END.split(data[at : head_end.start()])[1:]]
        lengths = [value.strip() for name, _, value in fields if name.strip().lower() == b"content-length"]
        encodings = b",".join(value for name, _, value in fields if name.strip().lower() == b"transfer-encoding")
        chunked = b"chunked" in encodings.lower()
        body_at = head_end.end()
        if chunked and (chunked_first or not lengths):
            end, size = _chunked_end(data, body_at)
            requests.append(Request(at, end, method, target, "chunked", size))
        elif lengths and lengths[-1 if last_length else 0].isdigit():
            value = lengths[-1 if last_length else 0]
            size = int(value)
            end_or_none = body_at + size if body_at + size <= len(data) else None
            requests.append(Request(at, end_or_none, method, target, f"Content-Length: {value.decode()}", size))
            end = end_or_none
        else:
            requests.append(Request(at, body_at, method, target, "no body", 0))
            end = body_at
        if end is None:
            break
        at = end
    return Reading(reader, requests)


def _chunked_end(data: bytes, at: int) -> tuple[int | None, int]:
    """Where a chunked body starting at ``at`` ends (None: not within ``data``), and its data size."""
    size_total = 0
    while True:
        line_end = _LINE_END.search(data, at)
        if line_end is None:
            return None, size_total
        size_text = data[at : line_end.start()].partition(b";")[0].strip()
        try:
            size = int(size_text, 16)
        except ValueError:
            return None, size_total
        at = line_end.end()
        if size == 0:
            while True:  # trailer lines, up to the blank one
                line_end = _LINE_END.search(data, at)
                if line_end is None:
                    return None, size_total
                blank = line_end.start() == at
                at = line_end.end()
                if blank:
                    return at, size_total
        at += size
        size_total += size
        crlf = _LINE_END.match(data, at)
        if crlf is None:
            return None, size_total
        at = crlf.end()


def _strict(data: bytes, engine: Engine) -> Reading:
    """The engine as a server: requests until it refuses one (it answers each with an empty 204 to
    move on, as a server would)."""
    requests: list[Request] = []
    machine: Any = engine.Connection(engine.SERVER)
    machine.receive_data(data)
    start = body = 0
    head: Any = None
    name_of_reader = f"{engine.__name__.split('.')[0]} (strict)"

    def consumed() -> int:  # h11's public API, so either engine says it
        return len(data) - len(machine.trailing_data[0])
    while True:
        try:
            event = machine.next_event()
        except engine.RemoteProtocolError as exc:
            rule = getattr(exc, "rule", None)
            section = getattr(exc, "section", None)
            said = f"{exc}" + (f" [{rule}, {section}]" if rule else "")
            return Reading(name_of_reader, requests, said, getattr(exc, "offset", None))
        if event is engine.NEED_DATA or event is engine.PAUSED:
            if head is not None:
                requests.append(Request(start, None, bytes(head.method), bytes(head.target), "", 0))
            return Reading(name_of_reader, requests)
        name = type(event).__name__
        if name == "Request":
            head, body = event, 0
        elif name == "Data":
            body += len(event.data)
        elif name == "EndOfMessage":
            end: int | None = consumed()
            headers = {bytes(k).lower(): bytes(v) for k, v in head.headers}
            framing = ("chunked" if b"transfer-encoding" in headers else
                       f"Content-Length: {headers[b'content-length'].decode()}" if b"content-length" in headers
                       else "no body")
            requests.append(Request(start, end, bytes(head.method), bytes(head.target), framing, body))
            head = None
            machine.send(engine.Response(status_code=204, headers=[]))
            machine.send(engine.EndOfMessage())
            if machine.our_state is not engine.DONE or machine.their_state is not engine.DONE:
                return Reading(name_of_reader, requests)
            machine.start_next_cycle()
            start = end if end is not None else start
        elif name == "ConnectionClosed":
            return Reading(name_of_reader, requests)


def desyncs(transcript: Transcript, engine: Engine) -> Iterable[Desync]:
    """For each connection, its client bytes read by the front end, the back end and the engine."""
    streams: dict[int, bytearray] = {}
    for record in transcript:
        if isinstance(record, Chunk) and record.direction == "c2s":
            streams.setdefault(record.conn, bytearray()).extend(record.data)
    for conn, stream in streams.items():
        data = bytes(stream)
        yield Desync(conn, data, [
            _lenient(data, FRONT_END, chunked_first=False, last_length=False),
            _lenient(data, BACK_END, chunked_first=True, last_length=True),
            _strict(data, engine),
        ])
