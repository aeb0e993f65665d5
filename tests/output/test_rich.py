"""The rich renderers, rendered to a recording console and read back as text.

Entries are built from real engine activity (events the engine produced or parsed, errors it raised),
so these tests also pin how h11's objects look on screen.
"""

from __future__ import annotations

from typing import Any

import h11
import pytest
from rich.console import Console, RenderableType

from h11dbg.engines import load_engine
from h11dbg.output.rich import error_line, escaped, hex_dump, render_entries, render_entry, states_line
from h11dbg.session.log import LogEntry
from h11dbg.transcript.escaping import escape


def text_of(renderable: RenderableType, *, styles: bool = False, width: int = 100) -> str:
    console = Console(record=True, width=width, force_terminal=styles, color_system="truecolor")
    console.print(renderable)
    return console.export_text(styles=styles)


def states(conn: Any) -> dict[str, str]:
    return {"client": str(conn.states[h11.CLIENT]), "server": str(conn.states[h11.SERVER])}


def sent(conn: Any, event: Any, seq: int = 1, time: float = 0.0) -> LogEntry:
    before = states(conn)
    data = conn.send(event)
    return LogEntry(
        seq=seq,
        time=time,
        conn=1,
        kind="event",
        direction="c2s" if conn.our_role is h11.CLIENT else "s2c",
        actor="client" if conn.our_role is h11.CLIENT else "server",
        event=event,
        data=data or b"",
        states_before=before,
        states_after=states(conn),
    )


def received(conn: Any, wire: bytes, time: float = 0.1) -> list[LogEntry]:
    conn.receive_data(wire)
    entries = []
    while True:
        before = states(conn)
        buffered = bytes(conn.trailing_data[0])
        event = conn.next_event()
        if event is h11.NEED_DATA or event is h11.PAUSED:
            return entries
        consumed = len(buffered) - len(conn.trailing_data[0])
        entries.append(
            LogEntry(
                seq=len(entries) + 2,
                time=time,
                conn=1,
                kind="event",
                direction="s2c",
                actor="client",
                event=event,
                data=buffered[:consumed],
                states_before=before,
                states_after=states(conn),
            )
        )


def test_request_shows_arrow_start_line_headers_in_wire_order_and_case_and_bytes() -> None:
    conn = h11.Connection(h11.CLIENT)
    request = h11.Request(
        method="GET", target="/chunked", headers=[("Host", "demo"), ("X-Mixed-CASE", "v"), ("accept", "*/*")]
    )
    out = text_of(render_entry(sent(conn, request, time=0.0123)))
    lines = out.splitlines()
    assert lines[0].startswith("client → server  Request  sent by client  +0.012s")
    assert lines[1] == "  GET /chunked HTTP/1.1"
    assert lines[2:5] == ["  Host: demo", "  X-Mixed-CASE: v", "  accept: */*"]
    assert "  wire: 67 bytes" in lines
    assert "    GET /chunked HTTP/1.1\\r\\n" in lines
    assert "    X-Mixed-CASE: v\\r\\n" in lines
    assert lines[-1] == "  states: client IDLE → SEND_BODY   server IDLE → SEND_RESPONSE"


def test_changed_states_are_highlighted_and_unchanged_are_not() -> None:
    out = text_of(
        states_line({"client": "DONE", "server": "SEND_BODY"}, {"client": "SEND_BODY", "server": "SEND_BODY"}),
        styles=True,
    )
    # bold yellow on the changed client state only
    assert "\x1b[1;33mDONE\x1b[0m" in out
    assert "\x1b[1;33mSEND_BODY" not in out
    assert "SEND_BODY\x1b[0m\x1b[2m → " in out  # the old state, dim, before the arrow


def test_response_and_chunked_body_parsed_from_the_wire() -> None:
    conn = h11.Connection(h11.CLIENT)
    sent(conn, h11.Request(method="GET", target="/", headers=[("Host", "demo")]))
    sent(conn, h11.EndOfMessage())
    wire = (
        b'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nETag: "v1"\r\n\r\n'
        b"c\r\nhello\nworld\x00\r\n0\r\nX-Checksum: abc\r\n\r\n"
    )
    entries = received(conn, wire)
    assert [type(e.event).__name__ for e in entries] == ["Response", "Data", "EndOfMessage"]
    out = text_of(render_entries(entries))
    assert "server → client  Response  received by client  +0.100s" in out
    assert '  HTTP/1.1 200 OK\n  Transfer-Encoding: chunked\n  ETag: "v1"\n' in out
    assert "server → client  Data  received by client" in out
    assert "  body: 12 bytes (chunk_start, chunk_end)\n    hello\\n\n    world\\x00\n" in out
    # h11 consumes the chunk's closing CRLF with the next event, so it is not in this one
    assert "  wire: 15 bytes\n    c\\r\\n\n    hello\\n\n    world\\x00\n" in out
    assert "  trailers:\n    X-Checksum: abc\n" in out
    assert out.rstrip().endswith("states: client DONE   server SEND_BODY → DONE")


def test_long_body_is_cut_with_a_count_and_hex_dump_on_request() -> None:
    conn = h11.Connection(h11.CLIENT)
    sent(conn, h11.Request(method="POST", target="/upload", headers=[("Host", "d"), ("Content-Length", "600")]))
    entry = sent(conn, h11.Data(data=b"\xff" * 600))
    out = text_of(render_entry(entry, body_limit=10))
    assert "    \\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff … 590 more bytes" in out
    dumped = text_of(render_entry(entry, hexdump=True))
    assert "    00000000  ff ff ff ff ff ff ff ff ff ff ff ff ff ff ff ff  ................" in dumped
    assert "    00000250  ff ff ff ff ff ff ff ff" in dumped  # 600 bytes: the last row starts at 0x250


def test_hex_dump_rows() -> None:
    out = text_of(hex_dump(b"GET / HTTP/1.1\r\nHost: x\r\n"))
    assert out.splitlines() == [
        "  00000000  47 45 54 20 2f 20 48 54 54 50 2f 31 2e 31 0d 0a  GET / HTTP/1.1..",
        "  00000010  48 6f 73 74 3a 20 78 0d 0a                       Host: x..",
    ]


def test_escaped_keeps_bare_lf_and_binary_visible() -> None:
    assert text_of(escaped(b"a\nb\r\nc\\d\x01", indent="")).splitlines() == ["a\\n", "b\\r\\n", "c\\\\d\\x01"]


def test_real_h11_error_shows_message_bytes_and_error_state() -> None:
    conn = h11.Connection(h11.SERVER)
    wire = b"GET / HTTP/1.1\r\nHost : x\r\n\r\n"
    conn.receive_data(wire)
    before = states(conn)
    with pytest.raises(h11.RemoteProtocolError) as caught:
        conn.next_event()
    entry = LogEntry(
        seq=1,
        time=0.5,
        conn=1,
        kind="error",
        direction="c2s",
        actor="server",
        error=caught.value,
        data=wire,
        states_before=before,
        states_after=states(conn),
    )
    out = text_of(render_entry(entry))
    assert out.startswith("client → server  ✗ protocol error  received by server  +0.500s")
    assert "  RemoteProtocolError: illegal header line" in out
    assert "  a server would answer 400" in out
    assert "    Host : x\\r\\n" in out
    assert out.rstrip().endswith("states: client IDLE → ERROR   server IDLE")
    assert "\x1b[1;31mERROR" in text_of(render_entry(entry), styles=True)


class _ExplainedError(Exception):
    """An error shaped like h11dbg.protocol's: the explain attributes are plain instance data."""

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.__dict__.update(details)


def test_error_with_explain_details_shows_rule_section_offset_and_offending_bytes() -> None:
    error = _ExplainedError(
        "whitespace between a field name and the colon",
        rule="field-name-whitespace",
        section="RFC 9112 §5.1",
        explanation="A server must reject a request with whitespace between the field name and the colon.",
        offset=20,
        offending=b"Host :",
    )
    entry = LogEntry(
        seq=1,
        time=0.0,
        conn=1,
        kind="error",
        direction="c2s",
        actor="server",
        error=error,
        states_before={"client": "IDLE", "server": "IDLE"},
        states_after={"client": "ERROR", "server": "IDLE"},
    )
    out = text_of(render_entry(entry))
    assert "  _ExplainedError: whitespace between a field name and the colon (at byte 20)\n" in out
    assert "\n  rule: field-name-whitespace\n  section: RFC 9112 §5.1\n" in out
    assert "\n  explanation: A server must reject a request with whitespace" in out
    assert "\n  offending bytes: Host :\n" in out


def test_h11dbg_engine_error_shows_its_rule_section_and_offending_bytes() -> None:
    engine = load_engine("h11dbg")
    conn = engine.Connection(engine.SERVER)
    conn.receive_data(b"GET / HTTP/1.1\r\nHost : x\r\n\r\n")
    with pytest.raises(engine.RemoteProtocolError) as caught:
        conn.next_event()
    error = caught.value
    entry = LogEntry(seq=1, time=0.0, conn=1, kind="error", direction="c2s", actor="server", error=error)
    out = text_of(render_entry(entry), width=300)  # wide: the error on one line
    assert f"  RemoteProtocolError: {error} (at byte {error.offset})\n" in out
    assert f"\n  rule: {error.rule}\n  section: {error.section}\n" in out
    assert f"\n  offending bytes: {escape(error.offending)}\n" in out


def test_h11dbg_engine_transitions_are_explained_under_the_event() -> None:
    engine = load_engine("h11dbg")
    conn = engine.Connection(engine.CLIENT)
    seen: list[Any] = []
    conn.add_observer(seen.append)
    before = {"client": str(conn.our_state), "server": str(conn.their_state)}
    request = engine.Request(method="GET", target="/", headers=[("Host", "x")])
    data = conn.send(request)
    assert [(t.role, t.old_state, t.new_state) for t in seen] == [
        (engine.CLIENT, engine.IDLE, engine.SEND_BODY), (engine.SERVER, engine.IDLE, engine.SEND_RESPONSE)]
    entry = LogEntry(
        seq=1,
        time=0.0,
        conn=1,
        kind="event",
        direction="c2s",
        actor="client",
        event=request,
        data=data,
        states_before=before,
        states_after={"client": str(conn.our_state), "server": str(conn.their_state)},
        transitions=tuple(seen),
    )
    out = text_of(render_entry(entry), width=300)  # wide: one line per transition
    first = seen[0]
    assert f"\n    client: IDLE -> SEND_BODY ({first.rule}) {first.explanation} [{first.section}]\n" in out


def test_notes_raw_bytes_eof_and_state_entries() -> None:
    note = LogEntry(seq=1, time=0.0, conn=1, kind="note", text="connected to 127.0.0.1:8080")
    raw = LogEntry(
        seq=2,
        time=0.25,
        conn=1,
        kind="sent",
        direction="c2s",
        actor="client",
        data=b"GET / HTTP/1.0\n\n",
        states_before={"client": "IDLE", "server": "IDLE"},
        states_after={"client": "IDLE", "server": "IDLE"},
        text="raw bytes: the state machine did not see them",
    )
    eof = LogEntry(seq=3, time=1.0, conn=1, kind="eof", direction="s2c", actor="client")
    cycle = LogEntry(
        seq=4,
        time=1.5,
        conn=1,
        kind="state",
        actor="client",
        text="start_next_cycle()",
        states_before={"client": "DONE", "server": "DONE"},
        states_after={"client": "IDLE", "server": "IDLE"},
    )
    out = text_of(render_entries([note, raw, eof, cycle]))
    assert "· connected to 127.0.0.1:8080  +0.000s" in out
    assert "client → server  raw bytes (past the state machine)  sent by client  +0.250s" in out
    assert "  sent: 16 bytes\n    GET / HTTP/1.0\\n\n    \\n\n" in out
    assert "server → client  end of stream: the peer closed its sending side  received by client" in out
    assert "states: client DONE → IDLE   server DONE → IDLE" in out


def test_error_line_is_one_red_line() -> None:
    assert text_of(error_line("unknown command 'foo'")) == "error: unknown command 'foo'\n"
    assert "\x1b[1;31merror: unknown command" in text_of(error_line("unknown command 'foo'"), styles=True)


def test_a_client_that_got_a_broken_response_is_not_told_what_a_server_would_answer() -> None:
    import h11

    conn = h11.Connection(h11.CLIENT)
    conn.send(h11.Request(method="GET", target="/", headers=[("Host", "x")]))
    conn.send(h11.EndOfMessage())
    conn.receive_data(b"HTTP/1.1 200 OK\r\nBad Header : x\r\n\r\n")
    with pytest.raises(h11.RemoteProtocolError) as caught:
        conn.next_event()
    assert caught.value.error_status_hint == 400  # h11 sets it whoever parsed
    entry = LogEntry(seq=1, time=0.0, conn=1, kind="error", direction="s2c", actor="client", error=caught.value)
    out = text_of(render_entry(entry), width=300)
    assert "RemoteProtocolError: illegal header line" in out
    assert "would answer" not in out
