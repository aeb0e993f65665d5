"""Writing a transcript in another format (``h11dbg convert``): byte formats directly, HAR through a replay.

pcap, pcapng and our text format hold bytes: :func:`h11dbg.transcript.write_stream` writes them.
HAR holds parsed requests and responses, so the transcript is replayed first (our engine, both
machines of every connection, as ``h11dbg replay`` does) and the events become
:class:`~h11dbg.transcript.exporters.har.Exchange` objects.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import IO, Any

from h11dbg.replay.machines import Replayer
from h11dbg.transcript import write_stream
from h11dbg.transcript.model import Transcript


def export(transcript: Transcript, stream: IO[bytes], format: str) -> list[str]:
    """Write ``transcript`` to ``stream`` in ``format``; returns what could not be kept or was made up."""
    if format != "har":
        return write_stream(transcript, stream, format=format)
    from h11dbg.transcript.exporters.har import write_har

    notes: set[str] = set()
    write_har(exchanges(transcript, notes), transcript.meta, stream, notes)
    return sorted(notes)


def exchanges(transcript: Transcript, notes: set[str]) -> Iterator[Any]:
    """The request/response pairs of ``transcript``, in the order their requests started; ``notes``
    says what could not be read as one (bytes after an error or a protocol switch)."""
    from h11dbg.engines import load_engine
    from h11dbg.transcript.exporters.har import Exchange, Request, Response

    replayer = Replayer(load_engine("h11dbg"))
    servers: dict[int, str | None] = {}
    waiting: dict[int, list[Exchange]] = {}  # per connection: requests whose response is not complete
    sending: dict[int, Exchange] = {}  # per connection: the request whose body is being read
    done: list[Exchange] = []  # all exchanges, in request order (yielded at the end: responses come later)

    for record in transcript.records:
        for step in replayer.feed(record):
            conn, kind, time = step.conn, step.kind, step.time
            if kind == "open":
                servers[conn] = step.peers[1]
            elif kind == "error":
                notes.add(f"connection {conn}: the bytes after its protocol error ({type(step.error).__name__})")
            elif kind == "switch":
                notes.add(f"connection {conn}: the bytes after its protocol switch (tunnelled, not HTTP/1.1)")
            if kind != "event":
                continue
            event = step.event
            name = type(event).__name__
            if step.direction == "c2s":
                if name == "Request":
                    exchange = Exchange(conn, servers.get(conn), Request(
                        list(event.headers.raw_items()), time, method=event.method, target=event.target,
                        version=event.http_version))
                    sending[conn] = exchange
                    waiting.setdefault(conn, []).append(exchange)
                    done.append(exchange)
                elif name == "Data" and conn in sending:
                    sending[conn].request.body += event.data
                elif name == "EndOfMessage" and conn in sending:
                    sending.pop(conn).request.ended = time
                continue
            queue = waiting.get(conn)
            if not queue:
                continue
            current = queue[0]
            if name == "InformationalResponse":
                if current.response is None:
                    current.response = Response([], time)
                current.response.interim += 1
            elif name == "Response":
                started = current.response.started if current.response is not None else time
                interim = current.response.interim if current.response is not None else 0
                current.response = Response(list(event.headers.raw_items()), started, status=event.status_code,
                                            reason=event.reason, version=event.http_version, interim=interim)
            elif name == "Data" and current.response is not None:
                current.response.body += event.data
            elif name == "EndOfMessage" and current.response is not None:
                current.response.ended = time
                queue.pop(0)
    replayer.finish()
    for exchange in done:
        if exchange.response is not None and not exchange.response.status:  # only interim responses came
            exchange.response = None
    yield from done
