"""One test (or a few) per RFC 9112 rule the engine enforces, with the rule id it reports."""

from __future__ import annotations

import pytest
from support.engine import client_after_request, drain, remote_error, server_error, server_events

import h11dbg.protocol as h

GET = b"GET / HTTP/1.1\r\nHost: example.com\r\n\r\n"


# -- start lines and empty lines (RFC 9112 §2.2, §3, §4) -------------------------------------

def test_empty_lines_before_a_request_are_ignored() -> None:
    events = server_events(b"\r\n\r\n" + GET)
    assert type(events[0]) is h.Request and events[0].target == b"/"


def test_empty_line_between_pipelined_requests_is_ignored() -> None:
    conn = h.Connection(h.SERVER)
    post = b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nhi\r\n"
    events = drain(conn, post + GET)
    assert [type(e) for e in events] == [h.Request, h.Data, h.EndOfMessage]
    conn.send(h.Response(status_code=200, headers=[(b"Content-Length", b"0")]))
    conn.send(h.EndOfMessage())
    conn.start_next_cycle()
    second = conn.next_event()
    assert type(second) is h.Request and second.method == b"GET"


@pytest.mark.parametrize(
    ("line", "rule", "index"),
    [
        (b"GET  / HTTP/1.1", "request-target-chars", 4),
        (b"GET / HTTP/1.1 ", "http-version", 6),
        (b"GET /a\x7fb HTTP/1.1", "request-target-chars", 6),
        (b"G(T / HTTP/1.1", "request-line-syntax", 1),
        (b"GET / ICE/1.0", "http-version", 6),
    ],
)
def test_bad_request_line_points_at_the_byte(line: bytes, rule: str, index: int) -> None:
    exc = server_error(line + b"\r\nHost: a\r\n\r\n")
    assert exc.rule == rule
    assert exc.offset == index
    assert exc.offending == line
    assert exc.section and exc.section.startswith("RFC 911")


def test_bad_request_line_is_refused_before_the_head_is_complete() -> None:
    conn = h.Connection(h.SERVER)
    conn.receive_data(b"GET /x\x00 HTTP/1.1\r\n")
    with pytest.raises(h.RemoteProtocolError) as info:
        conn.next_event()
    assert info.value.offset == 6


def test_status_line_rules() -> None:
    exc = remote_error(client_after_request(), b"HTTP/1.1  200 OK\r\n\r\n")
    assert exc.rule == "status-code-syntax"
    events = drain(client_after_request(), b"HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n")
    assert events[0].status_code == 200 and events[0].reason == b""


# -- field lines (RFC 9112 §5, RFC 9110 §5.5) ---------------------------------------------------

def test_whitespace_before_the_colon_is_refused_with_its_offset() -> None:
    data = b"GET / HTTP/1.1\r\nHost: a\r\nContent-Length : 4\r\n\r\n"
    exc = server_error(data)
    assert exc.rule == "field-name-whitespace"
    assert exc.section == "RFC 9112 §5.1"
    assert exc.offset == data.index(b" :")
    assert exc.error_status_hint == 400


@pytest.mark.parametrize("bad", [b"\x00", b"\x01", b"\x7f", b"\x0c", b"\rx"])
def test_control_bytes_in_field_values_are_refused(bad: bytes) -> None:
    data = b"GET / HTTP/1.1\r\nHost: a\r\nX: a" + bad + b"b\r\n\r\n"
    exc = server_error(data)
    assert exc.rule == ("bare-cr" if bad.startswith(b"\r") else "field-value-chars")
    assert exc.offset == data.index(b"X: a") + 4


def test_obs_fold_is_refused_in_requests() -> None:
    exc = server_error(b"GET / HTTP/1.1\r\nHost: a\r\nX: one\r\n  two\r\n\r\n")
    assert exc.rule == "obs-fold"
    assert exc.section == "RFC 9112 §5.2"


def test_obs_fold_in_responses_becomes_a_space() -> None:
    events = drain(client_after_request(), b"HTTP/1.1 200 OK\r\nX: one\r\n\t two\r\nContent-Length: 0\r\n\r\n")
    assert (b"x", b"one two") in list(events[0].headers)


def test_whitespace_line_after_the_start_line_is_refused() -> None:
    exc = server_error(b"GET / HTTP/1.1\r\n Host: a\r\n\r\n")
    assert exc.rule == "whitespace-after-start-line"


def test_bare_lf_line_endings_are_accepted_in_the_head() -> None:
    # RFC 9112 §2.2 lets a recipient accept a bare LF as a line terminator; h11 does too.
    events = server_events(b"GET / HTTP/1.1\nHost: a\n\n")
    assert type(events[0]) is h.Request


# -- Host (RFC 9112 §3.2) -------------------------------------------------------------------

def test_host_rules() -> None:
    assert server_error(b"GET / HTTP/1.1\r\n\r\n").rule == "host-missing"
    assert server_error(b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n").rule == "host-duplicate"
    assert server_error(b"GET / HTTP/1.1\r\nHost: a b\r\n\r\n").rule == "host-invalid"
    assert server_error(b"GET / HTTP/1.1\r\nHost: a/b\r\n\r\n").rule == "host-invalid"
    for host in (b"example.com:8080", b"[::1]:80", b"127.0.0.1", b""):
        assert type(server_events(b"GET / HTTP/1.1\r\nHost: " + host + b"\r\n\r\n")[0]) is h.Request
    # HTTP/1.0 needs no Host
    assert type(server_events(b"GET / HTTP/1.0\r\n\r\n")[0]) is h.Request


# -- framing (RFC 9112 §6) --------------------------------------------------------------------

def test_content_length_and_transfer_encoding_together_are_refused() -> None:
    exc = server_error(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n")
    assert exc.rule == "content-length-and-transfer-encoding"
    assert exc.section == "RFC 9112 §6.3"
    exc = remote_error(client_after_request(),
                       b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n")
    assert exc.rule == "content-length-and-transfer-encoding"


@pytest.mark.parametrize("coding", [b"gzip", b"chunked, gzip", b"gzip, chunked", b"identity", b""])
def test_transfer_encoding_other_than_chunked_is_refused(coding: bytes) -> None:
    exc = server_error(b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: " + coding + b"\r\n\r\n")
    assert exc.rule == "transfer-encoding-unsupported"
    assert exc.error_status_hint == 501


def test_transfer_encoding_in_http10_is_refused() -> None:
    assert server_error(b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n").rule == "transfer-encoding-http10"


def test_content_length_rules() -> None:
    events = server_events(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3, 3\r\nContent-Length: 3\r\n\r\nabc")
    assert [type(e) for e in events] == [h.Request, h.Data, h.EndOfMessage]
    assert events[0].headers.raw_items() == [(b"Host", b"a"), (b"Content-Length", b"3")]
    assert server_error(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3, 4\r\n\r\n").rule == "content-length-conflict"
    assert server_error(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +3\r\n\r\n").rule == "content-length-digits"
    assert server_error(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0x3\r\n\r\n").rule == "content-length-digits"
    big = b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999\r\n\r\n"
    assert server_error(big).rule == "content-length-overflow"


def test_response_without_framing_reads_until_close() -> None:
    conn = client_after_request()
    events = drain(conn, b"HTTP/1.1 200 OK\r\n\r\nhello", eof=True)
    assert [type(e) for e in events] == [h.Response, h.Data, h.EndOfMessage, h.ConnectionClosed]
    assert conn.their_state is h.CLOSED


@pytest.mark.parametrize(("method", "status"), [(b"HEAD", 200), (b"GET", 204), (b"GET", 304)])
def test_responses_without_a_body(method: bytes, status: int) -> None:
    conn = client_after_request(method)
    events = drain(conn, b"HTTP/1.1 %d X\r\nContent-Length: 10\r\n\r\n" % status)
    assert [type(e) for e in events] == [h.Response, h.EndOfMessage]
    assert conn.states == {h.CLIENT: h.DONE, h.SERVER: h.DONE}


def test_body_cut_short_is_an_error() -> None:
    exc = remote_error(client_after_request(), b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", eof=True)
    assert exc.rule == "incomplete-body"
    assert "received 3 bytes, expected 10" in str(exc)


# -- chunked (RFC 9112 §7.1) ------------------------------------------------------------------

CHUNKED = b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"


def test_chunked_with_extensions_and_trailers() -> None:
    body = b'5;name=value;q="a;b\\"c"\r\nhello\r\n3 ; x\r\nabc\r\n0\r\nX-Sum: 8\r\nX-Other: y\r\n\r\n'
    events = server_events(CHUNKED + body)
    assert [type(e) for e in events] == [h.Request, h.Data, h.Data, h.EndOfMessage]
    assert (events[1].data, events[1].chunk_start, events[1].chunk_end) == (b"hello", True, True)
    assert list(events[3].headers) == [(b"x-sum", b"8"), (b"x-other", b"y")]


def test_chunk_start_survives_a_split_after_the_size_line() -> None:
    events = server_events(CHUNKED + b"5\r\nhello\r\n0\r\n\r\n", split=1)
    pieces = [e for e in events if type(e) is h.Data]
    assert b"".join(p.data for p in pieces) == b"hello"
    assert pieces[0].chunk_start and not any(p.chunk_start for p in pieces[1:])
    assert pieces[-1].chunk_end and not any(p.chunk_end for p in pieces[:-1])


# Where each body below goes wrong (the error's offset), counted from the body's first byte.
CHUNKED_ERROR_AT = {
    b"5\nhello\r\n0\r\n\r\n": 1,
    b"5\r\nhello\n0\r\n\r\n": 8,
    b"5\r\nhelloXX0\r\n\r\n": 8,
    b"5\r\nhello\r0\r\n\r\n": 8,
    b"5\r\r\nhello\r\n0\r\n\r\n": 1,
    b"0x5\r\nhello\r\n0\r\n\r\n": 1,
    b"+5\r\nhello\r\n0\r\n\r\n": 0,
    b"5_0\r\nhello\r\n0\r\n\r\n": 1,
    b" 5\r\nhello\r\n0\r\n\r\n": 0,
    b"5 \r\nhello\r\n0\r\n\r\n": 1,
    b"5;\r\nhello\r\n0\r\n\r\n": 1,
    b'5;a="b\r\nhello\r\n0\r\n\r\n': 1,
    b"10000000000000005\r\nhello\r\n0\r\n\r\n": 0,
    b"5\r\nhello\r\n0\r\nX: 1\n\r\n": 17,
    b"5\r\nhello\r\n0\r\nX : 1\r\n\r\n": 14,
}


@pytest.mark.parametrize(
    ("body", "rule"),
    [
        (b"5\nhello\r\n0\r\n\r\n", "chunk-line-crlf"),
        (b"5\r\nhello\n0\r\n\r\n", "chunk-data-crlf"),
        (b"5\r\nhelloXX0\r\n\r\n", "chunk-data-crlf"),
        (b"5\r\nhello\r0\r\n\r\n", "chunk-data-crlf"),
        (b"5\r\r\nhello\r\n0\r\n\r\n", "bare-cr"),
        (b"0x5\r\nhello\r\n0\r\n\r\n", "chunk-size-hex"),
        (b"+5\r\nhello\r\n0\r\n\r\n", "chunk-size-hex"),
        (b"5_0\r\nhello\r\n0\r\n\r\n", "chunk-size-hex"),
        (b" 5\r\nhello\r\n0\r\n\r\n", "chunk-size-hex"),
        (b"5 \r\nhello\r\n0\r\n\r\n", "chunk-size-hex"),
        (b"5;\r\nhello\r\n0\r\n\r\n", "chunk-extension-syntax"),
        (b'5;a="b\r\nhello\r\n0\r\n\r\n', "chunk-extension-syntax"),
        (b"10000000000000005\r\nhello\r\n0\r\n\r\n", "chunk-size-overflow"),
        (b"5\r\nhello\r\n0\r\nX: 1\n\r\n", "chunk-line-crlf"),
        (b"5\r\nhello\r\n0\r\nX : 1\r\n\r\n", "field-name-whitespace"),
    ],
)
def test_chunked_framing_is_strict(body: bytes, rule: str) -> None:
    for split in (None, 1):
        exc = server_error(CHUNKED + body, split=split)
        assert exc.rule == rule, (split, exc, exc.rule)
        assert exc.offset == len(CHUNKED) + CHUNKED_ERROR_AT[body], split


def test_leading_zeros_in_chunk_size_are_fine() -> None:
    events = server_events(CHUNKED + b"00000000000000000005\r\nhello\r\n0\r\n\r\n")
    assert events[1].data == b"hello"


def test_error_offsets_count_from_the_connection_start() -> None:
    conn = h.Connection(h.SERVER)
    drain(conn, GET)
    conn.send(h.Response(status_code=200, headers=[(b"Content-Length", b"0")]))
    conn.send(h.EndOfMessage())
    conn.start_next_cycle()
    second = b"GET / HTTP/1.1\r\nHost: a\r\nX\x00: y\r\n\r\n"
    exc = remote_error(conn, second)
    assert exc.offset == len(GET) + second.index(b"X\x00") + 1


# -- keep-alive (RFC 9112 §9.3) ---------------------------------------------------------------

def test_http10_and_connection_close_disable_keep_alive() -> None:
    conn = h.Connection(h.SERVER)
    drain(conn, b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
    conn.send(h.Response(status_code=200, headers=[(b"Content-Length", b"0")]))
    conn.send(h.EndOfMessage())
    assert conn.states == {h.CLIENT: h.MUST_CLOSE, h.SERVER: h.MUST_CLOSE}


def test_http10_keep_alive_is_an_opt_in() -> None:
    conn = h.Connection(h.SERVER, keep_alive_http10=True)
    drain(conn, b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
    data = conn.send(h.Response(status_code=200, headers=[(b"Content-Length", b"0")]))
    assert data is not None and b"Connection: keep-alive\r\n" in data
    conn.send(h.EndOfMessage())
    assert conn.states == {h.CLIENT: h.DONE, h.SERVER: h.DONE}
    conn.start_next_cycle()
    # without the keep-alive token HTTP/1.0 still closes
    events = drain(conn, b"GET / HTTP/1.0\r\n\r\n")
    assert type(events[0]) is h.Request
    conn.send(h.Response(status_code=200, headers=[(b"Content-Length", b"0")]))
    conn.send(h.EndOfMessage())
    assert conn.our_state is h.MUST_CLOSE


def test_http10_requests_can_be_sent() -> None:
    conn = h.Connection(h.CLIENT)
    data = conn.send(h.Request(method=b"GET", target=b"/", headers=[], http_version=b"1.0"))
    assert data == b"GET / HTTP/1.0\r\n\r\n"
    conn.send(h.EndOfMessage())
    assert conn.our_state is h.MUST_CLOSE


# -- switching protocols and 100-continue ----------------------------------------------------

def test_upgrade_accepted_leaves_the_rest_in_trailing_data() -> None:
    conn = h.Connection(h.SERVER)
    events = drain(conn, b"GET / HTTP/1.1\r\nHost: a\r\nUpgrade: echo\r\nConnection: upgrade\r\n\r\nRAW")
    assert [type(e) for e in events] == [h.Request, h.EndOfMessage]
    assert conn.their_state is h.MIGHT_SWITCH_PROTOCOL
    assert conn.next_event() is h.PAUSED
    conn.send(h.InformationalResponse(status_code=101, headers=[(b"Upgrade", b"echo")]))
    assert conn.states == {h.CLIENT: h.SWITCHED_PROTOCOL, h.SERVER: h.SWITCHED_PROTOCOL}
    assert conn.trailing_data == (b"RAW", False)


def test_connect_refused_goes_back_to_http() -> None:
    conn = client_after_request(b"CONNECT")
    assert conn.our_state is h.MIGHT_SWITCH_PROTOCOL
    events = drain(conn, b"HTTP/1.1 407 Auth\r\nContent-Length: 0\r\n\r\n")
    assert [type(e) for e in events] == [h.Response, h.EndOfMessage]
    assert conn.states == {h.CLIENT: h.DONE, h.SERVER: h.DONE}


def test_expect_100_continue_flags() -> None:
    conn = h.Connection(h.SERVER)
    drain(conn, b"POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n")
    assert conn.they_are_waiting_for_100_continue
    conn.send(h.InformationalResponse(status_code=100))
    assert not conn.they_are_waiting_for_100_continue


# -- max_incomplete_event_size holds however the bytes are split -------------------------------

@pytest.mark.parametrize("split", [None, 1, 7, 4096])
def test_max_incomplete_event_size_does_not_depend_on_the_split(split: int | None) -> None:
    head = b"GET / HTTP/1.1\r\nHost: a\r\nX: " + b"a" * 20000 + b"\r\n\r\n"
    exc = remote_error(h.Connection(h.SERVER), head, split=split)
    assert exc.error_status_hint == 431
    assert exc.rule == "max-incomplete-event-size"
    small = b"GET / HTTP/1.1\r\nHost: a\r\nX: " + b"a" * 16000 + b"\r\n\r\n"
    assert type(drain(h.Connection(h.SERVER), small, split=split)[0]) is h.Request
