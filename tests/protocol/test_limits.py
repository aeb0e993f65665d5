"""Bounds on what a peer can make the engine hold or compute: numbers from the wire and
``max_incomplete_event_size``, which must decide the same however the bytes are split.

The rule (docs/differences-from-h11.md, "Size limit independent of how bytes arrive"): a head,
a chunk-size line (with its extensions) or a trailer section longer than the limit, counting its
final line end, is refused with 431; an error its first ``limit + 1`` bytes already show wins
over the limit, as when the bytes come one at a time.
"""

from __future__ import annotations

import gc
import tracemalloc
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from support.engine import drain
from test_properties import SETTINGS, split

import h11dbg.protocol as h

CHUNKED_POST = b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
CHUNKED_RESPONSE = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"


def outcome(role: str, pieces: list[bytes], **kwargs: Any) -> tuple[Any, ...]:
    """Everything the engine says about a stream: events (Data merged), then the error's class,
    status hint, rule, offset and message, and the peer's state."""
    conn = h.Connection(h.SERVER if role == "server" else h.CLIENT, **kwargs)
    if role == "client":
        conn.send(h.Request(method=b"GET", target=b"/", headers=[(b"Host", b"h")]))
        conn.send(h.EndOfMessage())
    read: list[Any] = []
    error: tuple[Any, ...] = ()
    try:
        for piece in pieces:
            drain(conn, piece, into=read)
    except h.RemoteProtocolError as exc:
        error = (exc.error_status_hint, exc.rule, exc.offset, str(exc))
    except BaseException as exc:  # anything else is a crash: show it as a difference, not a traceback
        error = ("crash", repr(exc))
    events: list[Any] = []
    for event in read:
        if type(event) is h.Data and events and events[-1][0] == "Data":
            events[-1] = ("Data", events[-1][1] + bytes(event.data))
        elif type(event) is h.Data:
            events.append(("Data", bytes(event.data)))
        else:
            events.append((type(event).__name__, list(getattr(event, "headers", []))))
    return (events, error, repr(conn.their_state))


def bytewise(data: bytes) -> list[bytes]:
    return [data[i : i + 1] for i in range(len(data))]


def refused_as_too_big(result: tuple[Any, ...]) -> bool:
    return result[1][:2] == (431, "max-incomplete-event-size")


# -- the chunk-size line, as found ----------------------------------------------------------------

def test_a_long_chunk_extension_is_refused_whole_and_byte_by_byte() -> None:
    stream = CHUNKED_POST + b"5;e=" + b"a" * 100 + b"\r\nhello\r\n0\r\n\r\n"
    whole = outcome("server", [stream], max_incomplete_event_size=64)
    assert refused_as_too_big(whole), whole
    assert outcome("server", bytewise(stream), max_incomplete_event_size=64) == whole
    assert whole[1][2] == len(CHUNKED_POST)  # the offset of the line that grew too long


@pytest.mark.parametrize("role", ["server", "client"])
def test_a_megabyte_chunk_extension_is_refused_under_the_default_limit(role: str) -> None:
    head = CHUNKED_POST if role == "server" else CHUNKED_RESPONSE
    stream = head + b"5;e=" + b"a" * 1_000_000 + b"\r\nhello\r\n0\r\n\r\n"
    whole = outcome(role, [stream])
    assert refused_as_too_big(whole), whole
    assert outcome(role, split(stream, [len(head) + 10, len(head) + 70_000])) == whole


# -- every line kind at the boundary: exactly the limit is accepted, one byte more is refused -------

KINDS = {  # kind -> (role, bytes before the event, the event's start and end around "a" padding)
    "request head": ("server", b"", b"GET /", b" HTTP/1.1\r\nHost: h\r\n\r\n"),
    "status line": ("client", b"", b"HTTP/1.1 200 ", b"\r\nContent-Length: 0\r\n\r\n"),
    "header line": ("server", b"", b"GET / HTTP/1.1\r\nHost: h\r\nX: ", b"\r\n\r\n"),
    "chunk-size line": ("server", CHUNKED_POST, b"1;e=", b"\r\nx\r\n0\r\n\r\n"),
    "trailer section": ("client", CHUNKED_RESPONSE + b"0\r\n", b"X: ", b"\r\n\r\n"),
}


@pytest.mark.parametrize("kind", list(KINDS))
def test_each_line_kind_at_the_limit(kind: str) -> None:
    limit = 100
    role, before, start, end = KINDS[kind]
    event_end = len(b"\r\n") if kind == "chunk-size line" else len(end)  # the chunk's data is not the line
    for extra, refused in ((0, False), (1, True)):
        stream = before + start + b"a" * (limit - len(start) - event_end + extra) + end
        results = [outcome(role, pieces, max_incomplete_event_size=limit)
                   for pieces in ([stream], bytewise(stream), split(stream, [len(before) + limit - 1]))]
        assert results[0] == results[1] == results[2], (kind, refused, results)
        assert refused_as_too_big(results[0]) is refused, (kind, results[0])


def test_a_bare_lf_in_trailers_is_judged_as_it_arrives() -> None:
    """Before the limit, a bare LF is a 400 (it arrives first); past it, the section is too long."""
    early = CHUNKED_POST + b"0\r\nX: a\nY: " + b"b" * 100 + b"\r\n\r\n"
    late = CHUNKED_POST + b"0\r\nY: " + b"b" * 100 + b"\nX: a\r\n\r\n"
    for stream, rule in ((early, "chunk-line-crlf"), (late, "max-incomplete-event-size")):
        whole = outcome("server", [stream], max_incomplete_event_size=64)
        assert whole[1][1] == rule, whole
        assert outcome("server", bytewise(stream), max_incomplete_event_size=64) == whole


# -- the property: any input, however split, gives the same outcome --------------------------------

TOKENS = st.text("abcXYZ09-!", min_size=1, max_size=12).map(str.encode)
NOISE = [b"\r", b"\n", b"\r\n", b" ", b"\t", b"\x00", b"\x7f", b";", b"=", b":", b'"', b"\xff"]


@st.composite
def long_lines(draw: st.DrawFn) -> bytes:
    """A run of bytes of any length up to a few hundred, mostly valid in a value."""
    return b"a" * draw(st.integers(0, 300)) + draw(TOKENS)


@st.composite
def chunk_lines(draw: st.DrawFn) -> bytes:
    size = draw(st.sampled_from([b"5", b"05", b"0" * draw(st.integers(0, 200)) + b"5", b"5 ", b"x"]))
    extensions = b"".join(
        draw(st.sampled_from([b";", b" ;", b"; "])) + draw(TOKENS)
        + draw(st.sampled_from([b"", b"=" + draw(long_lines()), b'="' + draw(long_lines()) + b'"']))
        for _ in range(draw(st.integers(0, 3)))
    )
    return size + extensions + b"\r\nhello\r\n"


@st.composite
def trailer_sections(draw: st.DrawFn) -> bytes:
    lines = [draw(TOKENS) + b": " + draw(long_lines()) for _ in range(draw(st.integers(0, 3)))]
    return b"0\r\n" + b"".join(line + b"\r\n" for line in lines) + b"\r\n"


@st.composite
def streams(draw: st.DrawFn) -> tuple[str, bytes]:
    """One peer's bytes aimed at one line kind: a request head, a status line and headers, or a
    chunked body with long chunk-size lines and trailers; then some bytes spliced in anywhere."""
    kind = draw(st.sampled_from(["request", "response", "chunked-request", "chunked-response"]))
    role = "server" if "request" in kind else "client"
    if kind == "request":
        data = b"GET /" + draw(long_lines()) + b" HTTP/1.1\r\nHost: h\r\nX: " + draw(long_lines()) + b"\r\n\r\n"
    elif kind == "response":
        data = b"HTTP/1.1 200 " + draw(long_lines()) + b"\r\nX: " + draw(long_lines()) + b"\r\n\r\n"
    else:
        head = CHUNKED_POST if role == "server" else CHUNKED_RESPONSE
        body = b"".join(draw(st.lists(chunk_lines(), max_size=3)))
        data = head + body + draw(trailer_sections())
    for _ in range(draw(st.integers(0, 2))):
        at = draw(st.integers(0, len(data)))
        data = data[:at] + draw(st.sampled_from(NOISE)) + data[at:]
    return role, data


@settings(SETTINGS, max_examples=300)
@given(stream=streams(), limit=st.integers(8, 400), cuts=st.lists(st.integers(0, 1500), max_size=6))
def test_the_size_limit_does_not_depend_on_splits(stream: tuple[str, bytes], limit: int, cuts: list[int]) -> None:
    role, data = stream
    whole = outcome(role, [data], max_incomplete_event_size=limit)
    assert whole[1][:1] != ("crash",), whole
    assert outcome(role, split(data, cuts), max_incomplete_event_size=limit) == whole
    assert outcome(role, bytewise(data), max_incomplete_event_size=limit) == whole


# -- numbers from the wire ------------------------------------------------------------------------

ZEROS = b"0" * 4300  # past Python's int() digit limit (4300) with one more digit


@pytest.mark.parametrize("role", ["server", "client"])
def test_content_length_with_4300_leading_zeros_is_five(role: str) -> None:
    head = b"POST / HTTP/1.1\r\nHost: h\r\n" if role == "server" else b"HTTP/1.1 200 OK\r\n"
    stream = head + b"Content-Length: " + ZEROS + b"5\r\n\r\nhello"
    events, error, state = outcome(role, [stream])
    assert error == () and [name for name, *_ in events] == [
        "Request" if role == "server" else "Response", "Data", "EndOfMessage"]
    assert events[1] == ("Data", b"hello") and state == "DONE"


@pytest.mark.parametrize("role", ["server", "client"])
@pytest.mark.parametrize(("value", "accepted"), [
    (b"18446744073709551615", True),  # 2**64 - 1: fits in 64 bits
    (b"10000000000000000000", True),
    (b"18446744073709551616", False),  # 2**64
    (b"99999999999999999999", False),
    (ZEROS + b"18446744073709551616", False),
    (ZEROS * 2 + b"9" * 5000, False),
])
def test_content_length_must_fit_in_64_bits(role: str, value: bytes, accepted: bool) -> None:
    head = b"POST / HTTP/1.1\r\nHost: h\r\n" if role == "server" else b"HTTP/1.1 200 OK\r\n"
    events, error, _ = outcome(role, [head + b"Content-Length: " + value + b"\r\n\r\nab"])
    if accepted:
        assert error == () and events[-1] == ("Data", b"ab")
    else:
        assert error[:2] == (400, "content-length-overflow"), error


def test_content_length_with_leading_zeros_can_be_sent() -> None:
    server = h.Connection(h.SERVER)
    server.receive_data(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n")
    server.next_event()
    wire = server.send(h.Response(status_code=200, headers=[(b"Content-Length", ZEROS + b"2")]))
    assert wire is not None and wire.endswith(ZEROS + b"2\r\n\r\n")
    assert server.send(h.Data(data=b"ok")) == b"ok"
    with pytest.raises(h.LocalProtocolError):
        h.Response(status_code=200, headers=[(b"Content-Length", ZEROS + b"18446744073709551616")])


@pytest.mark.parametrize("role", ["server", "client"])
def test_chunk_size_with_thousands_of_leading_zeros(role: str) -> None:
    head = CHUNKED_POST if role == "server" else CHUNKED_RESPONSE
    stream = head + b"0" * 5000 + b"5\r\nhello\r\n" + b"0" * 5000 + b"\r\n\r\n"
    events, error, _ = outcome(role, [stream])
    assert error == () and events[1:] == [("Data", b"hello"), ("EndOfMessage", [])]
    too_big = head + b"0" * 5000 + b"1" + b"0" * 16 + b"\r\n"
    assert outcome(role, [too_big])[1][:2] == (400, "chunk-size-overflow")


@pytest.mark.parametrize("role", ["server", "client"])
def test_a_large_head_is_held_twice_at_most_and_not_after(role: str) -> None:
    """A 1 MB field value under a raised limit: the engine's peak is the buffer and the parsed head
    (h11's too), not four copies, and nothing of it stays buffered once the event is out.  Found
    by the bounds table (bench/bounds.py, row 1b: 3.7 MiB peak RSS growth for a 1 MB value where
    h11 had 1.8 MiB, and the megabyte kept in the receive buffer until the next read)."""
    value = 1_000_000
    start = b"GET / HTTP/1.1\r\nHost: h\r\n" if role == "server" else b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n"
    head = start + b"X-Big: " + b"v" * value + b"\r\n\r\n"
    conn = h.Connection(h.SERVER if role == "server" else h.CLIENT, max_incomplete_event_size=2 * value)
    if role == "client":
        conn.send(h.Request(method=b"GET", target=b"/", headers=[(b"Host", b"h")]))
        conn.send(h.EndOfMessage())
    gc.collect()
    tracemalloc.start()
    try:
        conn.receive_data(head)  # the buffer: one copy
        event = conn.next_event()
        peak = tracemalloc.get_traced_memory()[1]
        del event  # what stays is the connection's own
        held = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    assert peak < 2.2 * value  # the buffer, then the head and the value taken from it
    assert held < 16 * 1024
