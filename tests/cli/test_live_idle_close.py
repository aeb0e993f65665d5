"""A server closing an idle keep-alive connection, noticed when it happens (issue 12 item 1).

Real uvicorn with a 1-second keep-alive timeout; the pipe is fed slowly, as a person would, so the close
happens while the run waits for its next line; the REPL case runs on a pty and nothing is typed while
the server closes.  The race itself (a request meeting the close) is played by a real server on
127.0.0.1 that answers one request and closes the connection on the next without answering.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pexpect
import pytest
from support.asgi_echo import uvicorn_command
from support.servers import Server, free_port, read_head, start_server, stop_process

from h11dbg.transcript import Open, open_transcript

KEEP_ALIVE = 1  # uvicorn's --timeout-keep-alive, seconds
FIRST = "request GET /one\neom\nrun\ncycle\n"
SECOND = "request GET /two\neom\nrun\n"


@pytest.fixture(scope="module")
def impatient_uvicorn(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """uvicorn closing a keep-alive connection after KEEP_ALIVE idle seconds."""
    port = free_port()
    server = start_server(uvicorn_command(port, "--timeout-keep-alive", str(KEEP_ALIVE)), "127.0.0.1", port,
                          tmp_path_factory.mktemp("impatient"))
    yield server
    stop_process(server.proc)


def slow_pipe(args: list[str], first: str, pause: float, second: str) -> subprocess.CompletedProcess[str]:
    """``(printf FIRST; sleep PAUSE; printf SECOND) | h11dbg ARGS``."""
    proc = subprocess.Popen([sys.executable, "-m", "h11dbg", *args], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdin is not None
    try:
        proc.stdin.write(first)
        proc.stdin.flush()
        time.sleep(pause)
        out, err = proc.communicate(second, timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def test_an_idle_close_is_shown_when_it_happens_and_a_request_after_it_exits_3(impatient_uvicorn: Server) -> None:
    started = time.monotonic()
    result = slow_pipe(["connect", impatient_uvicorn.address], FIRST, KEEP_ALIVE + 1.5, SECOND)
    assert result.returncode == 3, result.stderr
    assert re.fullmatch(r"h11dbg: the server closed this connection at \d+\.\d{3} s: nothing was sent; "
                        r"`reconnect` opens a new one\n", result.stderr), result.stderr
    out = result.stdout
    closed = re.search(r"\[\s*(\d+\.\d+)s\] #1 s2c the server closed the idle connection after (\d\.\d) s\n", out)
    assert closed is not None, out
    # said when it happened (about KEEP_ALIVE after the response), not when the next line came
    assert float(closed.group(1)) < KEEP_ALIVE + 1.0
    assert 0.9 <= float(closed.group(2)) <= KEEP_ALIVE + 0.5
    assert "states: client CLOSED, server CLOSED" in out[closed.end():]
    assert "keep-alive race" in out and "RFC 9112 §9.3.1" in out
    assert "RemoteProtocolError" not in out  # the normal race is no protocol error
    assert "Request GET /two" not in out  # nothing was sent into the closed connection
    assert time.monotonic() - started < 20


def test_the_close_as_json(impatient_uvicorn: Server) -> None:
    result = slow_pipe(["connect", impatient_uvicorn.address, "--json"], FIRST, KEEP_ALIVE + 1.5, "")
    assert result.returncode == 0, result.stderr  # a close between messages is no failure
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    closed = [line for line in lines if line["kind"] == "closed"]
    assert len(closed) == 1
    close = closed[0]
    assert close["conn"] == 1 and close["direction"] == "s2c" and close["actor"] == "client"
    assert close["peer"] == "server" and close["situation"] == "idle" and close["reset"] is False
    assert 0.9 <= close["idle"] <= KEEP_ALIVE + 0.5
    assert close["reconnect"] is True and close["request"] is None
    assert close["text"] == f"the server closed the idle connection after {close['idle']:.1f} s"
    assert close["section"] == "RFC 9112 §9.3.1" and "keep-alive race" in close["explanation"]
    assert close["states"] == {"client": "CLOSED", "server": "CLOSED"}
    # the engine's own events come first: EOF, the server's ConnectionClosed, ours
    before = lines[lines.index(close) - 3 : lines.index(close)]
    assert [(b["kind"], b.get("event"), b.get("direction")) for b in before] == [
        ("eof", None, "s2c"), ("event", "ConnectionClosed", "s2c"), ("event", "ConnectionClosed", "c2s")]


def test_reconnect_then_a_second_request_succeeds_and_is_recorded_as_connection_2(
        impatient_uvicorn: Server, tmp_path: Path) -> None:
    path = tmp_path / "two.h11t"
    result = slow_pipe(["connect", impatient_uvicorn.address, "--record", str(path)], FIRST,
                       KEEP_ALIVE + 1.5, "reconnect\n" + SECOND)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "the server closed the idle connection" in out
    assert re.search(r"#2 connection 2: connected to 127\.0\.0\.1:\d+ from 127\.0\.0\.1:\d+\n", out), out
    assert "s2c client received Data 17 bytes: GET /two 0 bytes\\n" in out
    records = list(open_transcript(path))
    opens = [record for record in records if isinstance(record, Open)]
    assert [record.conn for record in opens] == [1, 2]
    assert opens[0].client != opens[1].client  # a new connection, from a new port
    replay = subprocess.run([sys.executable, "-m", "h11dbg", "replay", str(path)], capture_output=True,
                            text=True, timeout=30)
    assert replay.returncode == 0, replay.stderr


class AnswersOnce:
    """A keep-alive server that answers the first request, then takes the second and closes without
    answering: what a request meets when it goes out just as the server's idle timeout fires."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self) -> None:
        self.listener.settimeout(20)
        conn, _ = self.listener.accept()
        with conn:
            conn.settimeout(20)
            read_head(conn)
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\none")
            read_head(conn)

    def close(self) -> None:
        self.thread.join(timeout=20)
        self.listener.close()


@pytest.mark.parametrize(("method", "retry"), [("GET", "GET is idempotent"), ("POST", "POST is not idempotent")])
def test_a_request_the_server_closes_on_is_the_keep_alive_race_not_a_protocol_error(method: str, retry: str) -> None:
    server = AnswersOnce()
    try:
        script = f"request GET /one\neom\nrun\ncycle\nrequest {method} /two\neom\nrun\n"
        result = subprocess.run([sys.executable, "-m", "h11dbg", "connect", f"127.0.0.1:{server.port}"],
                                input=script, capture_output=True, text=True, timeout=30)
    finally:
        server.close()
    assert result.returncode == 3, result.stderr
    assert result.stderr == "h11dbg: network error: the server closed the connection without answering\n"
    out = result.stdout
    assert f"the server closed the connection without answering {method} /two" in out
    assert "keep-alive race, not a protocol error (RFC 9112 §9.3.1)" in out
    assert retry in out
    assert "`reconnect` opens a new connection to the same server, then send the request again." in out
    assert "ERROR RemoteProtocolError" not in out


def on_screen(text: str) -> str:
    """A pattern for ``text`` as a terminal receives it: style changes may come between characters."""
    return r"(?:\x1b\[[0-9;?]*[A-Za-z])*".join(re.escape(char) for char in text)


def test_the_repl_shows_the_close_while_the_prompt_waits(impatient_uvicorn: Server, tmp_path: Path) -> None:
    # the toolbar is drawn once prompt_toolkit knows where the cursor is: every prompt asks, and is answered
    env = {key: value for key, value in os.environ.items() if key != "PROMPT_TOOLKIT_NO_CPR"}
    child = pexpect.spawn(sys.executable, ["-m", "h11dbg", "connect", impatient_uvicorn.address], encoding="utf-8",
                          timeout=15, dimensions=(40, 160), env={**env, "XDG_DATA_HOME": str(tmp_path / "data")})

    def expect(pattern: str, timeout: float = 15) -> None:
        while child.expect([re.escape("\x1b[6n"), pattern], timeout=timeout) == 0:
            child.send("\x1b[40;1R")

    try:
        expect(on_screen("ours IDLE  theirs IDLE"))
        for line in ("request GET /one", "eom", "run"):
            child.sendline(line)
        expect("GET /one 0 bytes")
        child.sendline("cycle")
        expect("both sides back to IDLE")
        # nothing typed from here: the close must come to the screen by itself, and the toolbar with it
        expect(r"the server closed the idle connection after \d\.\d s", timeout=KEEP_ALIVE + 5)
        expect("keep-alive race")
        expect(on_screen("ours CLOSED  theirs CLOSED"), timeout=5)
        child.sendline("request GET /two")
        expect("the server closed this connection at")
        child.sendline("reconnect")
        expect("connection 2: connected to")
        for line in ("request GET /two", "eom", "run"):
            child.sendline(line)
        expect("GET /two 0 bytes")
        child.sendline("quit")
        expect(pexpect.EOF)
    finally:
        child.close(force=True)
    assert child.exitstatus == 0
