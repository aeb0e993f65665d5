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
    from h11dbg.transcript.exporters import har

    servers: dict[int, str | None] = {}

    def noting_servers(records: Iterable[Record]) -> Iterator[Record]:
        for record in records:
            if type(record) is Open:
                servers[record.conn] = record.server
            yield record

    for exchange in exchanges(noting_servers(transcript.records), load_engine("h11dbg"), keep=sys.maxsize):
        conn = exchange.conn
        for ending in exchange.endings:  # where an error stopped a direction, a switch, bytes left over
            notes.add(f"connection {conn}: {ending}")
        if exchange.request is None:
            continue
        yield har.Exchange(conn, servers.get(conn), _request(exchange.request), _response(exchange.responses))


def _request(message: Message) -> har.Request:
    from h11dbg.transcript.exporters import har

    head = message.head
    return har.Request(raw_fields(head.headers), message.started, message.kept, message.ended,
                       method=bytes(head.method), target=bytes(head.target), version=bytes(head.http_version))


def _response(messages: list[Message]) -> har.Response | None:
    """The final response (a 101 Switching Protocols is final to the exchange, if interim to HTTP)."""
    from h11dbg.transcript.exporters import har

    final = next((m for m in messages if m.kind == "Response" or m.head.status_code == 101), None)
    if final is None:
        return None
    head = final.head
    return har.Response(raw_fields(head.headers), messages[0].started, final.kept,
                        final.ended if final.kind == "Response" else final.started,
                        status=head.status_code, reason=bytes(head.reason), version=bytes(head.http_version),
                        interim=messages.index(final))
