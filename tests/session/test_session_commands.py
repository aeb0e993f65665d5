"""The command language: header syntax, options, user mistakes, and commands driving a loopback session."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from h11dbg.session.commands import COMMANDS, CommandError, execute, help_for, parse_headers, split_words
from h11dbg.session.core import Session


def headers(text: str) -> list[tuple[bytes, bytes]]:
    return parse_headers(split_words(text))


def test_header_syntax() -> None:
    assert headers("Accept: */* X-A: b c") == [(b"Accept", b"*/*"), (b"X-A", b"b c")]
    assert headers("host:example.com") == [(b"host", b"example.com")]
    assert headers("Location: http://example.com/a:b") == [(b"Location", b"http://example.com/a:b")]
    assert headers('X-Q: "a: b" X-R: \'c d\'') == [(b"X-Q", b"a: b"), (b"X-R", b"c d")]
    assert headers("X-Empty: X-Next: 1") == [(b"X-Empty", b""), (b"X-Next", b"1")]
    assert headers(r"X-Bad: a\r\nInjected: yes") == [(b"X-Bad", b"a\r\nInjected: yes")]


@pytest.mark.parametrize(
    ("text", "message"),
    [("just words", "expected a header"), ('X: "unclosed', "unclosed"), (r"X: a\q", "unknown escape")],
)
def test_header_syntax_errors(text: str, message: str) -> None:
    with pytest.raises(CommandError, match=message):
        headers(text)


@pytest.fixture
def session(each_engine: str) -> Iterator[Session]:
    s = Session.loopback(each_engine, timeout=0.3)
    yield s
    s.close()


def test_request_fills_host_and_keeps_wire_order(session: Session) -> None:
    result = execute(session, "request GET /search?q=a:b Accept: */* X-A: b c")
    assert result.error is None
    [entry] = result.entries
    assert entry.data == b"GET /search?q=a:b HTTP/1.1\r\nHost: localhost\r\nAccept: */*\r\nX-A: b c\r\n\r\n"


def test_request_options(session: Session) -> None:
    # h11's API refuses to *send* HTTP/1.0 and a 1.1 request without Host: both are protocol errors
    [entry] = execute(session, "request --no-host HEAD /").entries
    assert entry.kind == "error" and "Host" in str(entry.error)
    assert execute(session, "request --http 2 GET /").error == "--http must be 1.0 or 1.1, not '2'"


def test_response_reason_trailers_and_data_file(session: Session, tmp_path: Path) -> None:
    body = tmp_path / "body.bin"
    body.write_bytes(b"\x00\x01binary\r\n")
    for line in ["request GET /", "eom", "as server", "run"]:
        execute(session, line)
    head = execute(session, "response 200 Transfer-Encoding: chunked Trailer: X-Sum").entries[0].data
    assert head.startswith(b"HTTP/1.1 200 OK\r\n") and b"Trailer: X-Sum\r\n" in head
    assert b"Transfer-Encoding: chunked\r\n" in head
    assert execute(session, f"data @{body}").entries[0].data == b"a\r\n\x00\x01binary\r\n\r\n"
    assert execute(session, r"data  two\tspaces").entries[0].event.data == b" two\tspaces"
    assert execute(session, "eom X-Sum: 42").entries[0].data == b"0\r\nX-Sum: 42\r\n\r\n"
    execute(session, "as client")
    events = [type(e.event).__name__ for e in execute(session, "run").entries if e.kind == "event"]
    assert events == ["Response", "Data", "Data", "EndOfMessage"]
    assert session.log[-1].event.headers.raw_items() == [(b"X-Sum", b"42")]


def test_info_and_custom_reason(session: Session) -> None:
    execute(session, "request POST / Expect: 100-continue Content-Length: 1")
    execute(session, "as server")
    execute(session, "run")
    assert execute(session, "info 100").entries[0].data == b"HTTP/1.1 100 Continue\r\n\r\n"
    [entry] = execute(session, "response --reason 'Very Fine' 200 Content-Length: 0").entries
    assert entry.data.startswith(b"HTTP/1.1 200 Very Fine\r\n")


def test_user_mistakes_are_one_line_errors(session: Session, tmp_path: Path) -> None:
    cases = {
        "frob": "unknown command 'frob'",
        "request GET": "usage: request",
        "response abc": "STATUS must be a three-digit number",
        "as robot": "usage: as client|server",
        "accept": "accept only works in listen mode",
        f"data @{tmp_path}/missing": "cannot read",
        "raw \\": "lone backslash",
        "run soon": "SECONDS must be a number",
        "states now": "states takes no arguments",
        "help nothing": "no command 'nothing'",
    }
    for line, message in cases.items():
        result = execute(session, line)
        assert result.error_kind == "usage", line
        assert message in (result.error or ""), (line, result.error)
        assert "\n" not in (result.error or "")
    assert session.log[-1].kind == "note"  # nothing was sent


def test_invalid_event_is_a_protocol_error_entry(session: Session) -> None:
    # a field name with a space never reaches the engine: the command line cannot be read as headers
    refused = execute(session, "request GET / Bad Name: x")
    assert (refused.entries, refused.error_kind) == ([], "usage")
    assert refused.error == "expected a header like 'Name: value', got 'Bad'"
    [entry] = execute(session, r"request GET / X-Bad: a\r\nInjected: yes").entries
    assert entry.kind == "error" and type(entry.error).__name__ == "LocalProtocolError"


def test_output_commands(session: Session) -> None:
    assert execute(session, "states").output == [
        "client's connection: client (us) IDLE, server IDLE",
        "server's connection: client IDLE, server (us) IDLE",
    ]
    execute(session, "request GET /")
    recap = execute(session, "log").recap
    assert recap == session.log and recap[-1].kind == "event" and type(recap[-1].event).__name__ == "Request"
    assert help_for() == list(COMMANDS.values())
    assert execute(session, "help data").help == [COMMANDS["data"]]
    assert execute(session, "# a comment").entries == []
    assert execute(session, "quit").quit
