"""Writing a transcript in another format (``h11dbg convert``): byte formats directly, HAR through a replay.

pcap, pcapng and our text format hold bytes: :func:`h11dbg.transcript.write_stream` writes them.
HAR holds parsed requests and responses, so the transcript is replayed first (our engine, both
machines of every connection, as ``h11dbg replay`` does), its steps grouped into exchanges as
``diff A B`` groups them (:mod:`h11dbg.replay.exchanges`), and each becomes the
:class:`~h11dbg.transcript.exporters.har.Exchange` a HAR entry is made of.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from typing import IO, TYPE_CHECKING

from h11dbg.replay.exchanges import Message, exchanges, raw_fields
from h11dbg.transcript import write_stream
from h11dbg.transcript.model import Open, Record, Transcript

if TYPE_CHECKING:
    from h11dbg.transcript.exporters import har
    from h11dbg.transcript.model import Direction


def write_as(transcript: Transcript, stream: IO[bytes], format: str) -> list[str]:
    """Write ``transcript`` to ``stream`` in ``format``; returns what could not be kept or was made up."""
    if format != "har":
        return write_stream(transcript, stream, format=format)
    from h11dbg.transcript.exporters.har import write_har

    notes: set[str] = set()
    write_har(har_exchanges(transcript, notes), transcript.meta, stream, notes)
    return sorted(notes)


def har_exchanges(transcript: Transcript, notes: set[str]) -> Iterator[har.Exchange]:
    """The request/response pairs of ``transcript`` as HAR entries need them (whole bodies, times), in
    the order they started; ``notes`` says what could not be read as one (an error, a protocol switch,
    bytes that never made a message)."""
    from h11dbg.engines import load_engine
    from h11dbg.replay.spans import counting
    from h11dbg.transcript.exporters import har

    servers: dict[int, str | None] = {}
    consumed: dict[int, int] = {}  # an event's id -> its direction's bytes consumed once it was parsed
    read_to: dict[tuple[int, Direction], int] = {}  # where each direction's last message ended

    def noting_servers(records: Iterable[Record]) -> Iterator[Record]:
        for record in records:
            if type(record) is Open:
                servers[record.conn] = record.server
            yield record

    def sizes(messages: list[Message], final: Message, key: tuple[int, Direction]) -> tuple[int, int | None]:
        """``final``'s head and the bytes from the end of the direction's last message to ``final``'s end
        (interim responses included), as they crossed the wire; ``None`` for what was never read."""
        start = read_to.get(key, 0)
        head_start = start
        for message in messages:
            head_end = consumed.get(id(message.head))
            end = head_end if message.kind == "InformationalResponse" else consumed.get(id(message.end))
            if message is final:
                if end is not None:
                    read_to[key] = end
                return (-1 if head_end is None else head_end - head_start), (None if end is None else end - start)
            head_start = end if end is not None else head_start
        return -1, None

    for exchange in exchanges(noting_servers(transcript.records), counting(load_engine("h11dbg"), consumed),
                              keep=sys.maxsize):
        conn = exchange.conn
        for ending in exchange.endings:  # where an error stopped a direction, a switch, bytes left over
            notes.add(f"connection {conn}: {ending}")
        if exchange.request is None:
            continue
        request = _request(exchange.request, sizes([exchange.request], exchange.request, (conn, "c2s")))
        final = next((m for m in exchange.responses if m.kind == "Response" or m.head.status_code == 101), None)
        response = None if final is None else _response(exchange.responses, final,
                                                         sizes(exchange.responses, final, (conn, "s2c")))
        yield har.Exchange(conn, servers.get(conn), request, response)


def _request(message: Message, sizes: tuple[int, int | None]) -> har.Request:
    from h11dbg.transcript.exporters import har

    head = message.head
    return har.Request(raw_fields(head.headers), message.started, message.kept, message.ended, *sizes,
                       method=bytes(head.method), target=bytes(head.target), version=bytes(head.http_version))


def _response(messages: list[Message], final: Message, sizes: tuple[int, int | None]) -> har.Response:
    """The final response (a 101 Switching Protocols is final to the exchange, if interim to HTTP)."""
    from h11dbg.transcript.exporters import har

    head = final.head
    return har.Response(raw_fields(head.headers), final.started, final.kept,
                        final.ended if final.kind == "Response" else final.started, *sizes,
                        status=head.status_code, reason=bytes(head.reason), version=bytes(head.http_version),
                        interim=messages.index(final))
