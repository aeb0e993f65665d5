"""``h11dbg replay --step`` on a real terminal (pexpect pty): the live REPL's prompt machinery
(completion, history, toolbar) around the step commands."""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

import pexpect

from h11dbg.transcript import Chunk, Meta, write_transcript

TRANSCRIPT = Path(__file__).resolve().parents[2] / "transcripts" / "keepalive-curl-uvicorn.h11t"
SMUGGLE = Path(__file__).resolve().parents[2] / "transcripts" / "smuggle-cl-te-raw-node.h11t"
# prompt_toolkit colours each fragment of the prompt and the toolbar: allow escape codes between them
_ESCAPES = r"(?:\x1b\[[0-9;?]*[A-Za-z])*"
_CPR_REQUEST = "\x1b[6n"


def styled(*fragments: str) -> str:
    """A pattern for ``fragments`` drawn one after the other, whatever styles lie between them."""
    return _ESCAPES.join(re.escape(fragment) for fragment in fragments)


def typed(line: str) -> str:
    """A pattern for ``line`` at the prompt: it may be redrawn piecemeal as the keys are read, and a
    space last on the line is drawn by moving the cursor."""
    return _ESCAPES.join(r"(?: |\x1b\[\d*C)" if char == " " else re.escape(char) for char in line)


class Terminal:
    """A pty running h11dbg that answers prompt_toolkit's cursor position requests as a terminal does
    (the bottom toolbar is only drawn once the rows below the cursor are known)."""

    def __init__(self, tmp_path: Path, *args: str) -> None:
        # history goes to the user's data directory: keep the tests' out of $HOME
        env = {**os.environ, "XDG_DATA_HOME": str(tmp_path / "data")}
        env.pop("PROMPT_TOOLKIT_NO_CPR", None)
        self.child = pexpect.spawn(sys.executable, ["-m", "h11dbg", *args], encoding="utf-8", timeout=10,
                                   dimensions=(50, 160), env=env)

    def expect(self, pattern: str | type) -> None:
        while self.child.expect([pattern, re.escape(_CPR_REQUEST)]) == 1:
            self.child.send("\x1b[1;1R")  # the cursor is at the top left: the screen is ours

    def send(self, keys: str) -> None:
        self.child.send(keys)

    def close(self) -> int | None:
        self.child.close(force=True)
        return self.child.exitstatus


def step(tmp_path: Path, transcript: Path = TRANSCRIPT) -> Terminal:
    """``replay --step`` with its first prompt on screen (keys typed earlier would reach a terminal
    that is not yet in raw mode: a Ctrl-C there is a SIGINT that ends the program)."""
    term = Terminal(tmp_path, "replay", str(transcript), "--step")
    term.expect("stepping: type help")
    term.expect(styled("replay", ">"))
    return term


def test_tab_toolbar_breakpoint_explain_and_quit(tmp_path: Path) -> None:
    term = step(tmp_path)
    try:
        # before the first step: nothing in the toolbar but the defaults
        term.expect(styled("conn ", "-", "  client ", "-", "  server ", "-", "  step ", "0",
                           "  breaks ", "error", "  engine ", "h11dbg"))
        term.send("ne\t")  # a command completes
        term.expect(typed("next"))
        term.send("\r")
        term.expect("open 127.0.0.1")
        term.expect(styled("replay", " ", "#1", " ", "IDLE/IDLE", ">"))
        term.expect(styled("conn ", "#1", "  client ", "IDLE", "  server ", "IDLE", "  step ", "1"))
        term.send("break Resp\t")  # a breakpoint name completes, whatever its case
        term.expect(typed("break Response"))
        term.send("\r")
        term.expect("breakpoints: error, response")
        term.send("continue\r")
        term.expect(r"s2c Response [^\r\n]*200 OK")
        term.expect(styled("replay", " ", "#1", " ", "DONE/SEND_BODY", ">"))
        term.expect(styled("  client ", "DONE", "  server ", "SEND_BODY", "  step ", "4",
                           "  breaks ", "error,Response"))
        term.send("explain\r")
        term.expect("connection 1, after: ")
        term.expect("server may send next: Data, EndOfMessage")
        term.send("next x\r")
        term.expect("usage: next \\[N\\]")
        term.send("quit\r")
        term.expect(pexpect.EOF)
    finally:
        status = term.close()
    assert status == 0


def test_delete_completes_the_breakpoints_that_are_set(tmp_path: Path) -> None:
    term = step(tmp_path)
    try:
        term.send("break Data\r")
        term.expect("breakpoints: data, error")
        term.send("delete D\t")
        term.expect(typed("delete Data"))
        term.send("\r")
        term.expect("breakpoints: error\r\n")
        term.send("q\r")
        term.expect(pexpect.EOF)
    finally:
        status = term.close()
    assert status == 0


def test_history_is_kept_across_runs_in_its_own_file(tmp_path: Path) -> None:
    term = step(tmp_path)
    try:
        term.send("break InformationalResponse\r")
        term.expect("breakpoints: error, informationalresponse")
        term.send("quit\r")
        term.expect(pexpect.EOF)
    finally:
        term.close()
    data = tmp_path / "data" / "h11dbg"
    assert "+break InformationalResponse\n" in (data / "replay-history").read_text()
    assert not (data / "history").exists()  # the live REPL's history is not mixed with it

    term = step(tmp_path)
    try:
        term.send("\x1b[A")  # up: the last run's last command but one (quit came after it)
        term.send("\x1b[A")
        term.expect(typed("break InformationalResponse"))
        term.send("\r")
        term.expect("breakpoints: error, informationalresponse")
        term.send("quit\r")
        term.expect(pexpect.EOF)
    finally:
        status = term.close()
    assert status == 0


def test_ctrl_c_abandons_the_line_and_ctrl_d_replays_the_rest(tmp_path: Path) -> None:
    term = step(tmp_path, SMUGGLE)
    try:
        term.send("quit")  # typed, then abandoned: the replay goes on
        term.send("\x03")
        term.send("next\r")
        term.expect("open 127.0.0.1")
        term.send("\x04")  # Ctrl-D: as at the end of a pipe, the rest without stopping
        term.expect("end of transcript")
        term.expect(pexpect.EOF)
    finally:
        status = term.close()
    assert status == 1  # the smuggling attempt is a protocol error, and the replay got to it


def test_ctrl_c_stops_a_long_continue_at_a_step(tmp_path: Path) -> None:
    request = Chunk(1, "c2s", b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    response = Chunk(1, "s2c", b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
    records = [request, response] * 20_000
    long = tmp_path / "long.h11t"
    write_transcript(records, long, Meta(tool="test"))
    term = step(tmp_path, long)
    try:
        term.send("delete all\r")
        term.expect("breakpoints: \\(none\\)")
        term.send("continue\r")
        term.expect("cycle")  # well under way (some 100 000 steps to go)
        term.send("\x03")
        term.expect(r"interrupted after step (\d+)")
        stopped = int(term.child.match.group(1))
        term.expect(styled("  step ", str(stopped)))  # back at the prompt, where it stopped
        term.send("quit\r")
        term.expect(pexpect.EOF)
    finally:
        status = term.close()
    assert status == 0 and stopped < 100_000
