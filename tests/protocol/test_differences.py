"""Four behaviours at the edge of the grammar, each asserted for our engine and for h11 0.16.0
(docs/differences-from-h11.md says why each is what it is)."""

from __future__ import annotations

from types import ModuleType
from typing import Any

import pytest

CHUNKED_POST = b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"


def read(e: ModuleType, role: str, data: bytes) -> list[Any]:
    """What next_event gives for ``data``: events as (name, fields...), or the error's class last."""
    conn = e.Connection(e.SERVER if role == "server" else e.CLIENT)
    if role == "client":
        conn.send(e.Request(method=b"GET", target=b"/", headers=[(b"Host", b"h")]))
        conn.send(e.EndOfMessage())
    conn.receive_data(data)
    out: list[Any] = []
    try:
        while True:
            event = conn.next_event()
            if event is e.NEED_DATA or event is e.PAUSED:
                return out
            if isinstance(event, e.Data):
                out.append(("Data", bytes(event.data)))
            else:
                out.append((type(event).__name__, [(n, bytes(v)) for n, v in event.headers]))
    except e.RemoteProtocolError:
        return [*out, "RemoteProtocolError"]


@pytest.mark.parametrize(("fold", "value"), [
    (b"X: a \r\n b", b"a  b"),
    (b"X: a\t\r\n\tb \r\n c", b"a\t b  c"),
    (b"X: a\r\n \r\n b", b"a  b"),
    (b"X:\r\n b", b"b"),
    (b"X: a\r\n  ", b"a"),
])
def test_obs_fold_in_a_response_reads_as_in_h11(candidate: ModuleType, h11_ref: ModuleType, fold: bytes,
                                                value: bytes) -> None:
    """Aligned: each obs-fold becomes at least one SP, whitespace before the line end stays."""
    stream = b"HTTP/1.1 200 OK\r\n" + fold + b"\r\nContent-Length: 0\r\n\r\n"
    for e in (candidate, h11_ref):
        assert read(e, "client", stream)[0] == ("Response", [(b"x", value), (b"content-length", b"0")]), e


@pytest.mark.parametrize("role", ["server", "client"])
def test_content_length_with_more_than_20_characters_of_leading_zeros(
        candidate: ModuleType, h11_ref: ModuleType, role: str) -> None:
    """Kept (`content-length-leading-zeros`): 1*DIGIT allows the zeros; h11 refuses past 20 characters."""
    head = b"POST / HTTP/1.1\r\nHost: h\r\n" if role == "server" else b"HTTP/1.1 200 OK\r\n"
    stream = head + b"Content-Length: " + b"0" * 21 + b"5\r\n\r\nhello"
    ours = read(candidate, role, stream)
    assert ours[1:] == [("Data", b"hello"), ("EndOfMessage", [])]
    assert read(h11_ref, role, stream) == ["RemoteProtocolError"]
    twenty = head + b"Content-Length: " + b"0" * 19 + b"5\r\n\r\nhello"  # both accept 20 characters
    assert read(candidate, role, twenty)[1:] == read(h11_ref, role, twenty)[1:] == ours[1:]


@pytest.mark.parametrize("role", ["server", "client"])
def test_a_20_digit_content_length_above_2_to_the_64(candidate: ModuleType, h11_ref: ModuleType,
                                                     role: str) -> None:
    """Kept (`content-length-over-64-bits`): refused; h11 waits for 2**64 bytes."""
    head = b"POST / HTTP/1.1\r\nHost: h\r\n" if role == "server" else b"HTTP/1.1 200 OK\r\n"
    over = head + b"Content-Length: 18446744073709551616\r\n\r\nhello"
    assert read(candidate, role, over) == ["RemoteProtocolError"]
    assert read(h11_ref, role, over)[1:] == [("Data", b"hello")]
    fits = head + b"Content-Length: 18446744073709551615\r\n\r\nhello"
    assert read(candidate, role, fits)[1:] == read(h11_ref, role, fits)[1:] == [("Data", b"hello")]


@pytest.mark.parametrize("ending", [b"0\r\n\n", b"0\r\nX: y\r\n\n", b"0\r\nX: y\nZ: w\r\n\r\n"])
def test_a_bare_lf_in_the_trailer_section(candidate: ModuleType, h11_ref: ModuleType, ending: bytes) -> None:
    """Kept (`strict-chunked-framing`): the chunked body's last line ends in CRLF; h11 takes a bare LF."""
    assert read(candidate, "server", CHUNKED_POST + ending)[1:] == ["RemoteProtocolError"]
    assert read(h11_ref, "server", CHUNKED_POST + ending)[-1][0] == "EndOfMessage"
