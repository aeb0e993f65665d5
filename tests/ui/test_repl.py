"""The REPL driven in-process: keystrokes through prompt_toolkit's pipe input, a real session.

Sessions are real: loopback socket pairs, or a TCP connection to the demo server on 127.0.0.1.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from prompt_toolkit.application import create_app_session
from prompt_toolkit.completion import CompleteEvent
from prompt_toolkit.document import Document
from prompt_toolkit.history import InMemoryHistory
from prompt_toolkit.input import create_pipe_input
from prompt_toolkit.output import DummyOutput
from rich.console import Console

from h11dbg.demo.server import DemoServer
from h11dbg.session.commands import execute
from h11dbg.session.core import Session
from h11dbg.transcript.files import create_new
from h11dbg.ui.repl import CommandCompleter, history_path, prompt_text, run_repl, toolbar_text


def drive(session: Session, keys: str, *, hint: str | None = None, history: bool = False,
          width: int = 100) -> tuple[int, str]:
    """Type ``keys`` into the REPL; returns the exit code and everything it printed."""
    out = io.StringIO()
    console = Console(file=out, width=width, force_terminal=False, highlight=False)
    with create_pipe_input() as pipe:
        pipe.send_text(keys)
        with create_app_session(input=pipe, output=DummyOutput()):
            code = run_repl(session, hint=hint, console=console, history=None if history else InMemoryHistory())
    return code, out.getvalue()


@pytest.fixture
def loopback() -> Iterator[Session]:
    session = Session.loopback("h11")
    yield session
    session.close()


@pytest.fixture
def demo_session() -> Iterator[Session]:
    with DemoServer("h11") as server:
        session = Session.connect("h11", server.host, server.port, timeout=5.0)
        yield session
        session.close()


def test_a_request_to_the_demo_server_is_rendered(demo_session: Session) -> None:
    code, out = drive(demo_session, "request GET /chunked\reom\rrun\rquit\r", hint="try: request GET /")
    assert code == 0
    assert out.startswith("try: request GET /\n")
    assert "client → server  Request  sent by client" in out
    assert "  GET /chunked HTTP/1.1\n" in out
    assert "server → client  Response  received by client" in out
    assert "  Transfer-Encoding: chunked\n" in out
    assert "    in pieces\\n\n" in out
    assert "states: client DONE   server SEND_BODY → DONE" in out


def test_loopback_plays_both_sides_and_output_lines_are_printed(loopback: Session) -> None:
    keys = "request POST /x Content-Length: 2\rdata hi\reom\ras server\rrun\rresponse 204\reom\rstates\rquit\r"
    code, out = drive(loopback, keys)
    assert code == 0
    assert "acting as the server\n" in out
    assert "client → server  Data  received by server" in out
    assert "server → client  Response  sent by server" in out
    assert "  HTTP/1.1 204 No Content\n" in out
    assert "server's connection: client DONE, server (us) DONE" in out


def test_usage_error_is_one_red_line_and_the_session_goes_on(loopback: Session) -> None:
    code, out = drive(loopback, "frobnicate\rrequest\rstates\r\x04")
    assert code == 0
    assert "error: unknown command 'frobnicate' (`help` lists the commands)\n" in out
    assert "error: usage: request " in out
    assert "client's connection: client (us) IDLE, server IDLE" in out


def test_protocol_error_makes_the_exit_code_1(loopback: Session) -> None:
    code, out = drive(loopback, "raw GET / HTTP/1.1\\r\\nBad Header : x\\r\\n\\r\\n\ras server\rrun\rquit\r")
    assert code == 1
    assert "✗ protocol error" in out
    assert "RemoteProtocolError" in out
    assert "states: client IDLE → ERROR   server IDLE" in out


def test_ctrl_c_drops_the_line_and_ctrl_d_quits(loopback: Session) -> None:
    # a half-typed request abandoned with Ctrl-C must not be sent
    code, out = drive(loopback, "request GET /never\x03states\r\x04")
    assert code == 0
    assert "/never" not in out
    assert "client (us) IDLE" in out


def test_hex_toggle_and_coloured_log(loopback: Session) -> None:
    code, out = drive(loopback, "hex\rrequest GET /\rhex off\rlog\rhex sideways\rquit\r")
    assert code == 0
    assert "hex dumps on\n" in out
    assert "    00000000  47 45 54 20 2f 20 48 54 54 50 2f 31 2e 31 0d 0a  GET / HTTP/1.1.." in out
    assert "hex dumps off\n" in out
    # `log` redraws the whole log, so the request appears twice: first as hex, then escaped
    assert out.count("client → server  Request") == 2
    assert "    GET / HTTP/1.1\\r\\n\n" in out
    assert "error: usage: hex [on|off]" in out


@pytest.mark.parametrize("width", [120, 80])
def test_help_fits_the_terminal_syntax_above_what_it_does(width: int) -> None:
    session = Session.loopback("h11dbg", timeout=0.05)
    try:
        code, out = drive(session, "help\rquit\r", width=width)
    finally:
        session.close()
    lines = out.splitlines()
    assert code == 0 and all(len(line) <= width for line in lines)
    # each command's syntax on its own line, what it does under it, indented: never a narrow column
    start = lines.index("request [--http 1.0] [--no-host] METHOD TARGET [Name: value ...]")
    assert lines[start + 1].startswith("    send a Request (Host is filled in from the address")
    assert "hex [on|off]" in lines and "    show the bytes of each entry as a hex dump from here on" in out


def test_history_is_kept_in_the_user_data_dir(
    loopback: Session, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    assert history_path() == tmp_path / "data" / "h11dbg" / "history"
    drive(loopback, "states\rquit\r", history=True)
    saved = history_path().read_text()
    assert "+states\n" in saved and "+quit\n" in saved


def test_prompt_and_toolbar_show_role_and_states(loopback: Session, demo_session: Session) -> None:
    def plain(fragments: object) -> str:
        return "".join(text for _, text, *_ in fragments)  # type: ignore[attr-defined]

    assert plain(prompt_text(loopback)) == "loopback:client IDLE/IDLE> "
    loopback.actor = "server"
    assert plain(prompt_text(loopback)).startswith("loopback:server ")
    assert plain(prompt_text(demo_session)) == "client IDLE/IDLE> "
    bar = plain(toolbar_text(demo_session.toolbar()))
    assert bar.startswith(f"as client  peer {demo_session.address}  ours IDLE  theirs IDLE  buffered 0 B")
    assert "engine h11  t " in bar


def completions(text: str, targets: tuple[str, ...] = ()) -> list[str]:
    completer = CommandCompleter(targets)
    return [c.text for c in completer.get_completions(Document(text), CompleteEvent(completion_requested=True))]


def test_completion_of_commands_methods_headers_and_status_codes() -> None:
    assert "request " in completions("re")
    assert "recv " in completions("re")
    assert completions("request ")[:2] == ["GET ", "HEAD "]
    assert completions("request p") == ["POST ", "PUT ", "PATCH "]
    assert "Content-Length: " in completions("request POST /x Content-")
    assert "Transfer-Encoding: " in completions("response 200 tr")
    assert completions("response 30") == ["300 ", "301 ", "302 ", "303 ", "304 ", "305 ", "307 ", "308 "]
    assert completions("info 1") == ["100 ", "101 ", "102 ", "103 "]
    assert completions("as s") == ["server"]
    assert completions("help ex") == ["explain", "export"]
    assert completions("eom X") == []  # no common header starts with X


def test_completion_of_targets_and_data_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert completions("request GET ") == ["/"]
    assert completions("request GET /ch", ("/", "/chunked", "/close")) == ["/chunked "]
    (tmp_path / "body.bin").write_bytes(b"x")
    monkeypatch.chdir(tmp_path)
    assert completions("data @bo") == ["dy.bin"]


def test_ladder_draws_each_message_once_in_loopback(loopback: Session) -> None:
    keys = (
        "request POST /x Content-Length: 5\rdata hello\reom\ras server\rrun\r"
        "response 200 Transfer-Encoding: chunked\rdata abc\reom\ras client\rrun\rcycle\rladder\rquit\r"
    )
    code, out = drive(loopback, keys)
    assert code == 0
    rows = out[out.index("time client") :].splitlines()
    assert rows[0].split() == ["time", "client", "server"]
    # each row: its time, then the states and the arrow (as wide as the terminal allows)
    arrows = [re.sub("┄+", "┄", re.sub("─+", "─", " ".join(row.split()[1:]))) for row in rows[1:8]]
    assert arrows == [
        "SEND_BODY ─ POST /x ─▶ SEND_RESPONSE",
        "SEND_BODY ─ Data 5 B ─▶ SEND_RESPONSE",
        "DONE ─ EndOfMessage ─▶ SEND_RESPONSE",
        "DONE ◀─ 200 OK ─ SEND_BODY",
        "DONE ◀─ Data 3 B ─ SEND_BODY",
        "DONE ◀─ EndOfMessage ─ DONE",
        "IDLE ┄ start_next_cycle() ┄ IDLE",
    ]


def test_the_toolbar_names_the_file_being_recorded(tmp_path: Path) -> None:
    session = Session.loopback("h11", timeout=0.3)
    try:
        assert "recording" not in session.toolbar()
        path = tmp_path / "bar.h11t"
        session.start_recording(create_new(path, force=False), path)
        assert session.toolbar()["recording"] == str(path)
        text = "".join(fragment[1] for fragment in toolbar_text(session.toolbar()))
        assert text.endswith(f"  rec {path}")
    finally:
        session.close()
    assert "recording" not in session.toolbar()  # the file is closed with the session


def test_diagram_in_the_repl_marks_where_each_side_is(loopback: Session) -> None:
    # the h11 engine does not explain its moves: the last one is read from the states before and after
    code, out = drive(loopback, "request GET /\rdiagram\rquit\r")
    assert code == 0
    drawn = out[out.index("CLIENT   (● now, ★ last move)") :].splitlines()
    client = drawn[: drawn.index("SERVER   (● now, ★ last move)")]
    assert [line.split()[1] for line in client if line.startswith("  ●")] == ["SEND_BODY"]
    assert [line for line in client[1:] if "★" in line] == [
        "    IDLE                  ★ Request → SEND_BODY · ConnectionClosed → CLOSED"
    ]


def test_the_repl_says_what_a_head_means_for_the_connection(loopback: Session) -> None:
    code, out = drive(loopback, "request GET /chat Connection: Upgrade Upgrade: websocket\rquit\r")
    assert code == 0
    assert "note: Upgrade proposes a protocol switch: a 101 accepts it" in " ".join(out.split())


def commands_offered(session: Session, text: str = "") -> list[str]:
    completer = CommandCompleter(session=session)
    found = completer.get_completions(Document(text), CompleteEvent(completion_requested=True))
    return [c.text.strip() for c in found]


def test_completion_offers_only_the_commands_legal_in_each_state() -> None:
    session = Session.loopback("h11dbg", timeout=0.05)
    sends = {"request", "response", "info", "data", "eom", "close", "cycle", "recv", "next", "run"}
    try:
        # a client in IDLE may start a request (or close); nothing is owed to it, so no reads
        offered = commands_offered(session)
        assert offered[0] == "request" and sends & set(offered) == {"request", "close"}
        assert {"states", "explain", "log", "save", "as", "help", "quit", "hex", "raw"} <= set(offered)
        execute(session, "request POST / Content-Length: 3")
        # SEND_BODY: the body and its end, and reading the response that may come early; no request
        assert commands_offered(session)[:1] == ["data"]
        assert sends & set(commands_offered(session)) == {"data", "eom", "recv", "next", "run"}
        execute(session, "as server")
        assert commands_offered(session)[0] == "as"  # the client still owes the body: its move
        assert sends & set(commands_offered(session)) == {"close", "recv", "next", "run"}
        for line in ("as client", "data abc", "eom", "as server", "run"):
            execute(session, line)
        # a server owing a response: response (suggested first) or a 1xx, not request, not reads
        assert commands_offered(session)[0] == "response"
        assert sends & set(commands_offered(session)) == {"response", "info"}
        for line in ("response 200 Content-Length: 0", "eom", "as client", "run"):
            execute(session, line)
        assert commands_offered(session)[0] == "cycle"
        assert sends & set(commands_offered(session)) == {"cycle", "close"}
        assert commands_offered(session, "cy") == ["cycle"]
        assert commands_offered(session, "req") == []  # DONE: no request before `cycle`
    finally:
        session.close()


def test_completion_of_header_values_and_status_reasons() -> None:
    assert completions("request POST / Transfer-Encoding: ") == ["chunked "]
    assert completions("request GET / Connection: ") == ["close ", "keep-alive ", "Upgrade "]
    assert completions("request GET / connection: k") == ["keep-alive "]
    assert completions("request POST / Expect: ") == ["100-continue "]
    assert "application/json " in completions("response 200 Content-Type: app")
    assert completions("response 200 X-Custom: ") == []  # not a known set: nothing to offer
    found = CommandCompleter().get_completions(Document("response 404"), CompleteEvent(completion_requested=True))
    assert [(c.text, c.display_meta_text) for c in found] == [("404 ", "Not Found")]


def test_the_toolbar_gives_way_in_its_fixed_order_until_it_fits() -> None:
    bar = {"role": "server", "peer": "[2001:db8::1234]:54321", "our_state": "SEND_RESPONSE",
           "their_state": "MIGHT_SWITCH_PROTOCOL", "buffered": 12345, "engine": "h11dbg", "elapsed": 123.4,
           "recording": "/tmp/a/long/directory/session.txt"}
    said = {width: "".join(text for _, text, *_ in toolbar_text(bar, width)) for width in range(40, 200)}
    assert said[199].startswith("as server  peer [2001:db8::1234]:54321  ours SEND_RESPONSE")
    assert said[79] == "server  us SEND_RESPONSE  them MIGHT_SWITCH_PROTOCOL  rec session.txt"
    # what is left when everything has given way: narrower than this, the terminal cuts the end
    floor = "server  SEND_RESP/MIGHT_SWITCH  rec session.txt"
    assert all(len(text) <= width for width, text in said.items() if width >= len(floor))
    assert said[40] == floor
