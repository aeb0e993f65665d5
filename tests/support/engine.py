"""Small drivers shared by the engine's rule tests."""

from __future__ import annotations

from typing import Any

import h11dbg.protocol as h


def drain(conn: h.Connection, data: bytes, *, eof: bool = False, split: int | None = None,
          into: list[Any] | None = None) -> list[Any]:
    """Feed ``data`` (in pieces of ``split`` bytes, or whole) and collect events until NEED_DATA/PAUSED
    (appended to ``into`` if given, so they are kept when an error ends the feeding)."""
    pieces = [data] if split is None else [data[i : i + split] for i in range(0, len(data), split)]
    pieces = [piece for piece in pieces if piece]  # b"" would mean EOF: only ``eof`` sends that
    if eof:
        pieces.append(b"")
    events: list[Any] = [] if into is None else into
    for piece in pieces:
        conn.receive_data(piece)
        while True:
            event = conn.next_event()
            if event is h.NEED_DATA or event is h.PAUSED:
                break
            events.append(event)
            if type(event) is h.ConnectionClosed:
                return events
    return events


def server_events(data: bytes, **kwargs: Any) -> list[Any]:
    return drain(h.Connection(h.SERVER), data, **kwargs)


def client_after_request(method: bytes = b"GET", headers: list[tuple[bytes, bytes]] | None = None,
                         **conn_kwargs: Any) -> h.Connection:
    conn = h.Connection(h.CLIENT, **conn_kwargs)
    conn.send(h.Request(method=method, target=b"/", headers=[(b"Host", b"example.com"), *(headers or [])]))
    conn.send(h.EndOfMessage())
    return conn


def remote_error(conn: h.Connection, data: bytes, **kwargs: Any) -> h.RemoteProtocolError:
    try:
        drain(conn, data, **kwargs)
    except h.RemoteProtocolError as exc:
        assert conn.their_state is h.ERROR
        return exc
    raise AssertionError("no RemoteProtocolError")


def server_error(data: bytes, **kwargs: Any) -> h.RemoteProtocolError:
    return remote_error(h.Connection(h.SERVER), data, **kwargs)
