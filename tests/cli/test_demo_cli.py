"""``h11dbg demo`` from the outside: batch runs as subprocesses, and the REPL on a real pty.

The command runs as the installed ``h11dbg demo`` script, next to this interpreter.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pexpect
import pytest

from h11dbg.cli import main
from h11dbg.engines import ENGINE_NAMES

ROOT = Path(__file__).resolve().parents[2]
H11DBG = Path(sys.executable).with_name("h11dbg")


def demo_command() -> list[str]:
    return [str(H11DBG), "demo"]


def run_demo(
    *args: str, stdin: str | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*demo_command(), *args],
        input=stdin if stdin is not None else "",
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        cwd=ROOT,
    )


def records(stdout: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stdout.splitlines()]


def events(lines: list[dict[str, Any]]) -> list[str]:
    return [r["event"] for r in lines if r["kind"] in ("event", "error")]


@pytest.mark.parametrize("engine", ENGINE_NAMES)
def test_empty_stdin_runs_the_tour_as_json(engine: str) -> None:
    result = run_demo("--engine", engine, "--json")
    assert result.returncode == 0, result.stderr
    lines = records(result.stdout)
    assert lines[0]["kind"] == "note" and lines[0]["text"].startswith("connected to 127.0.0.1:")
    assert events(lines) == [
        "Request", "EndOfMessage", "Response", "Data", "EndOfMessage",
        "Request", "EndOfMessage", "Response", "Data", "Data", "Data", "Data", "EndOfMessage",
    ]  # fmt: skip
    requests = [r for r in lines if r.get("event") == "Request"]
    assert [r["target"] for r in requests] == ["/", "/chunked"]
    responses = [r for r in lines if r.get("event") == "Response"]
    assert ["Transfer-Encoding", "chunked"] in responses[1]["headers"]
    chunks = [r["data"] for r in lines if r.get("event") == "Data"][1:]
    assert "".join(chunks) == "HTTP/1.1 can send a body in pieces\\n"
    # one connection, reused: start_next_cycle() took both sides back to IDLE in between
    cycle = next(r for r in lines if r["kind"] == "state")
    assert cycle["states_before"] == {"client": "DONE", "server": "DONE"}
    assert cycle["states"] == {"client": "IDLE", "server": "IDLE"}
    assert {r["conn"] for r in lines} == {1}
    # each completed response is followed by its exchange's times (the second on a reused connection)
    assert [r["timing"]["connect"] is None for r in lines if r["kind"] == "timing"] == [False, True]
    assert lines[-2]["event"] == "EndOfMessage" and lines[-1]["event"] == "timing"
    assert lines[-2]["states"] == {"client": "DONE", "server": "DONE"}


def test_empty_stdin_tour_as_text_says_where_the_server_is() -> None:
    result = run_demo("--engine", "h11")
    assert result.returncode == 0, result.stderr
    first = result.stdout.splitlines()[0]
    assert first.startswith("demo server on http://127.0.0.1:") and first.endswith("running <tour>")
    assert "client received Response HTTP/1.1 200 OK" in result.stdout
    assert "client (us) DONE, server DONE" in result.stdout  # the tour's closing `states`


def test_script_file_drives_100_continue_and_a_304(tmp_path: Path) -> None:
    script = tmp_path / "tour.h11dbg"
    script.write_text(
        "request POST /upload Content-Length: 5 Expect: 100-continue\n"
        "run\n"
        "data hello\n"
        "eom\n"
        "run\n"
        "cycle\n"
        "request GET /cached If-None-Match: '\"h11dbg-demo-1\"'\n"
        "eom\n"
        "run\n"
    )
    result = run_demo("--engine", "h11", "--script", str(script), "--json")
    assert result.returncode == 0, result.stderr
    lines = records(result.stdout)
    received = [r for r in lines if r["kind"] == "event" and r["direction"] == "s2c"]
    assert received[0]["event"] == "InformationalResponse" and received[0]["status_code"] == 100
    upload = next(r for r in lines if r.get("event") == "Data" and r["direction"] == "s2c")
    assert upload["data"].startswith("received 5 bytes after 100 Continue; sha256 ")
    statuses = [r["status_code"] for r in received if r["event"] == "Response"]
    assert statuses == [200, 304]


def test_commands_piped_on_stdin_are_run() -> None:
    result = run_demo("--engine", "h11", "--json", stdin="request HEAD /trailers\neom\nrun\n")
    assert result.returncode == 0, result.stderr
    lines = records(result.stdout)
    assert events(lines) == ["Request", "EndOfMessage", "Response", "EndOfMessage"]
    assert lines[-2]["headers"] == []  # a HEAD response has no body, so no trailers either


def test_a_bad_script_line_is_reported_with_its_location(tmp_path: Path) -> None:
    script = tmp_path / "bad.h11dbg"
    script.write_text("request GET /\nfrobnicate\neom\n")
    result = run_demo("--engine", "h11", "--script", str(script))
    assert result.returncode == 2
    assert result.stderr.strip() == f"{script}:2: unknown command 'frobnicate' (`help` lists the commands)"
    assert "Traceback" not in result.stderr


def test_a_script_that_is_not_utf8_is_refused_with_its_location(tmp_path: Path) -> None:
    script = tmp_path / "latin1.h11dbg"
    script.write_bytes(b"request GET /\ndata caf\xe9\n")
    result = run_demo("--engine", "h11", "--script", str(script))
    assert result.returncode == 2
    assert result.stderr.strip() == f"h11dbg: {script}:2: not UTF-8 text (byte 8 of the line is \\xe9)"
    assert result.stdout == ""


def test_a_protocol_error_exits_1(tmp_path: Path) -> None:
    script = tmp_path / "error.h11dbg"
    script.write_text("request GET / Content-Length: 1\ndata too long\n")
    result = run_demo("--engine", "h11", "--script", str(script), "--json")
    assert result.returncode == 1
    assert records(result.stdout)[-1]["event"] == "error"


def test_usage_errors_exit_2() -> None:
    missing = run_demo("--script", "/nonexistent/script.h11dbg")
    assert missing.returncode == 2
    assert missing.stderr == "h11dbg: cannot read script /nonexistent/script.h11dbg: No such file or directory\n"
    engine = run_demo("--engine", "nope")
    assert engine.returncode == 2
    assert "Traceback" not in engine.stderr


def test_registered_as_h11dbg_demo() -> None:
    assert "demo" in main.commands
    result = subprocess.run([str(H11DBG), "demo", "--help"], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0
    assert "--script" in result.stdout and "--engine" in result.stdout


_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b[()][A-Z0-9]|\r")


class Screen:
    """What a pty child printed, with terminal escape sequences taken out, searched for plain text.

    Like a terminal, it answers cursor position requests (prompt_toolkit shows its bottom toolbar only
    once it knows where the cursor is).
    """

    def __init__(self, child: pexpect.spawn) -> None:
        self.child = child
        self.seen = ""  # plain text not yet consumed by expect()

    def expect(self, text: str, timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.seen:
            if time.monotonic() > deadline:
                raise AssertionError(f"{text!r} not on screen; last output: {self.seen[-400:]!r}")
            try:
                raw = self.child.read_nonblocking(4096, timeout=0.2)
            except pexpect.TIMEOUT:
                continue
            if "\x1b[6n" in raw:
                self.child.send("\x1b[5;1R")  # the cursor is on row 5 of 40: room for the toolbar
            self.seen += _ANSI.sub("", raw)
        self.seen = self.seen[self.seen.index(text) + len(text) :]


def test_repl_on_a_pty(tmp_path: Path) -> None:
    env = dict(os.environ, XDG_DATA_HOME=str(tmp_path / "data"), TERM="xterm")
    command = demo_command()
    child = pexpect.spawn(
        command[0], [*command[1:], "--engine", "h11"], env=env, cwd=str(ROOT), timeout=20,
        encoding="utf-8", dimensions=(40, 120),
    )  # fmt: skip
    screen = Screen(child)
    try:
        screen.expect("you are the client")
        screen.expect("IDLE/IDLE>")
        screen.expect("as client  peer 127.0.0.1:")  # the bottom toolbar
        child.send("request GET /chu\t")  # Tab offers the demo's routes
        child.send("\r")
        screen.expect("GET /chunked HTTP/1.1")
        screen.expect("SEND_BODY/SEND_RESPONSE>")
        child.sendline("eom")
        screen.expect("SEND_BODY → DONE")
        child.sendline("run")
        screen.expect("Transfer-Encoding: chunked")
        screen.expect("in pieces\\n")
        screen.expect("DONE/DONE>")
        child.send("stat\t")  # Tab completes the command name: `stat` alone is no command
        child.send("\r")
        screen.expect("client (us) DONE, server DONE")
        screen.expect("DONE/DONE>")
        child.sendcontrol("d")
        child.expect(pexpect.EOF)
    finally:
        child.close()
    assert child.exitstatus == 0
    history = (tmp_path / "data" / "h11dbg" / "history").read_text()
    assert "+request GET /chunked \n" in history
    assert "+states \n" in history
