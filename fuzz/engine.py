"""Coverage-guided harness for h11dbg.protocol: both roles, seven states, three size limits, three feedings.

The input's first byte picks the role and the state the connection is in before the rest arrives (a
:data:`PRELUDES` entry); the rest is the peer's bytes.  Each (limit) run feeds them whole, in a random split
seeded from the input, and one byte at a time, then end of stream.  A finding is: any exception other than
RemoteProtocolError/LocalProtocolError raised by reading (LocalProtocolError only from our own replies), a
loop that does not end (more than :data:`MAX_STEPS` events), or any difference between the three feedings
in the events (Data merged), the error (class, status hint, rule, offset, message) or the final states.

    python -m fuzz engine --seconds 600        # or: python -m fuzz.engine CORPUS_DIR [libFuzzer flags]
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import Any

import atheris

from fuzz.splits import random_split

with atheris.instrument_imports(include=["h11dbg.protocol"]):
    import h11dbg.protocol as h

LIMITS = (16 * 1024, 1024, 64)
MAX_STEPS = 50_000
HOST = (b"Host", b"example.com")


def _client(method: bytes, headers: list[tuple[bytes, bytes]], body: bytes | None = b"",
            version: bytes = b"1.1") -> Callable[[int], h.Connection]:
    """A client that has sent this request (``body`` None: the head only, waiting for a 100)."""

    def make(limit: int) -> h.Connection:
        conn = h.Connection(h.CLIENT, limit)
        conn.send(h.Request(method=method, target=b"/", headers=[HOST, *headers], http_version=version))
        if body is not None:
            if body:
                conn.send(h.Data(data=body))
            conn.send(h.EndOfMessage())
        return conn

    return make


def _server(limit: int) -> h.Connection:
    return h.Connection(h.SERVER, limit)


# (name, connection factory, bytes the peer sent before the input)
PRELUDES: list[tuple[str, Callable[[int], h.Connection], bytes]] = [
    ("client after GET", _client(b"GET", []), b""),
    ("client after HEAD", _client(b"HEAD", []), b""),
    ("client after POST", _client(b"POST", [(b"Content-Length", b"5")], b"hello"), b""),
    ("client after CONNECT", _client(b"CONNECT", []), b""),
    ("client after Upgrade", _client(b"GET", [(b"Connection", b"Upgrade"), (b"Upgrade", b"websocket")]), b""),
    ("client after Expect: 100-continue",
     _client(b"POST", [(b"Content-Length", b"5"), (b"Expect", b"100-continue")], None), b""),
    ("client after HTTP/1.0", _client(b"GET", [], version=b"1.0"), b""),
    ("server idle", _server, b""),
    ("server after GET", _server, b"GET / HTTP/1.1\r\nHost: h\r\n\r\n"),
    ("server after HEAD", _server, b"HEAD / HTTP/1.1\r\nHost: h\r\n\r\n"),
    ("server in a POST body", _server, b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 9\r\n\r\n"),
    ("server in a chunked body", _server, b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"),
    ("server after CONNECT", _server, b"CONNECT h:443 HTTP/1.1\r\nHost: h:443\r\n\r\n"),
    ("server after Upgrade", _server, b"GET / HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: x\r\n\r\n"),
    ("server after Expect: 100-continue", _server,
     b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n"),
    ("server after HTTP/1.0", _server, b"GET / HTTP/1.0\r\n\r\n"),
]


class Finding(Exception):
    """Something the engine must never do."""


def describe(event: Any) -> tuple[Any, ...]:
    headers = getattr(event, "headers", None)  # the repr shows names lower-cased: keep them as sent too
    return (repr(event), None if headers is None else headers.raw_items())


def _react(conn: h.Connection) -> bool:
    """What a program does at PAUSED so the connection can read on; False when it cannot."""
    if conn.our_role is h.SERVER and conn.our_state is h.SEND_RESPONSE:
        conn.send(h.Response(status_code=200, headers=[(b"Content-Length", b"0")]))
        conn.send(h.EndOfMessage())
        return True
    if conn.our_state is h.DONE and conn.their_state is h.DONE:
        conn.start_next_cycle()
        if conn.our_role is h.CLIENT:
            conn.send(h.Request(method=b"GET", target=b"/next", headers=[HOST]))
            conn.send(h.EndOfMessage())
        return True
    return False


def run(make: Callable[[int], h.Connection], limit: int, pieces: list[bytes]) -> tuple[Any, ...]:
    conn = make(limit)
    events: list[tuple[Any, ...]] = []
    ending: tuple[Any, ...] = ("NEED_DATA",)
    steps = 0

    def add(event: Any) -> None:
        if isinstance(event, h.Data) and events and events[-1][0] == "Data":
            events[-1] = ("Data", events[-1][1] + bytes(event.data))
        elif isinstance(event, h.Data):
            events.append(("Data", bytes(event.data)))
        else:
            events.append(describe(event))

    try:
        for piece in [*pieces, b""]:  # b"": the end of the stream
            if conn.their_state in (h.SWITCHED_PROTOCOL, h.CLOSED, h.ERROR):
                break
            conn.receive_data(piece)
            while True:
                steps += 1
                if steps > MAX_STEPS:
                    raise Finding(f"more than {MAX_STEPS} events from {sum(map(len, pieces))} bytes")
                event = conn.next_event()
                if event is h.NEED_DATA:
                    break
                if event is h.PAUSED:
                    if not _react(conn):
                        break
                    continue
                add(event)
                if isinstance(event, h.ConnectionClosed):
                    break
    except h.RemoteProtocolError as exc:
        ending = ("RemoteProtocolError", exc.error_status_hint, exc.rule, exc.offset, str(exc))
    except h.LocalProtocolError as exc:  # our own reply refused (say, a 200 to a CONNECT we did not wait for)
        ending = ("LocalProtocolError", str(exc))
    return (events, ending, repr(conn.our_state), repr(conn.their_state), conn.their_http_version)


def check(data: bytes) -> None:
    if not data:
        return
    _, make, prelude = PRELUDES[data[0] % len(PRELUDES)]
    stream = prelude + data[1:]
    for limit in LIMITS:
        feedings = {
            "whole": [stream] if stream else [],
            "random split": random_split(stream) if stream else [],
            "byte by byte": [stream[i:i + 1] for i in range(len(stream))],
        }
        outcomes = {how: run(make, limit, pieces) for how, pieces in feedings.items()}
        if len({repr(o) for o in outcomes.values()}) > 1:
            lines = "\n".join(f"  {how}: {outcome!r}"[:2000] for how, outcome in outcomes.items())
            raise Finding(f"the feedings differ (limit {limit}, {PRELUDES[data[0] % len(PRELUDES)][0]},"
                          f" stream {stream!r}):\n{lines}")


def main() -> None:
    atheris.Setup([os.environ.get("FUZZ_SELF", sys.argv[0]), *sys.argv[1:]], check)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
