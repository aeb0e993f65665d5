"""The live commands on a real terminal (pexpect pty): the CLI hands the session to the REPL."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import pexpect
import pytest
from support.terminal import spawn

CURL = "/usr/bin/curl"


def test_loopback_repl_on_a_pty_with_tab_completion(tmp_path: Path) -> None:
    child = spawn(tmp_path, "loopback")
    try:
        child.expect("loopback:client")
        child.send("request POST /pty Transfer-Encoding: ch\t")
        child.expect("unked")  # the terminal is sent only what Tab added after "ch"
        child.send("\r")
        child.expect("Transfer-Encoding: chunked")
        child.expect("SEND_BODY/SEND_RESPONSE")  # the prompt after the request
        child.sendline("data body-is-fine")
        child.expect("body-is-fine")
        child.send("eo\t")
        child.expect("m")  # completion runs in the background: Enter only once it has filled in
        child.send("\r")
        child.expect("EndOfMessage")
        child.expect("DONE/SEND_RESPONSE")
        child.sendline("quit")
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)
    assert child.exitstatus == 0


@pytest.mark.skipif(not Path(CURL).exists(), reason="curl is not installed")
def test_listen_repl_serves_curl(tmp_path: Path) -> None:
    child = spawn(tmp_path, "listen", "127.0.0.1:0")
    curl = None
    try:
        child.expect(r"listening on 127\.0\.0\.1:(\d+)")
        port = int(child.match.group(1))
        curl = subprocess.Popen([CURL, "-s", "--max-time", "10", f"http://127.0.0.1:{port}/from-curl"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        child.expect("connection 1 from 127.0.0.1")
        child.sendline("run")
        child.expect("/from-curl")
        child.expect("DONE")
        child.sendline("response 200 Content-Length: 6")
        child.expect("SEND_BODY")
        child.sendline(r"data hi pty")
        child.sendline("eom")
        out, _ = curl.communicate(timeout=10)
        assert out == b"hi pty"
        child.sendline("quit")
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)
        if curl is not None and curl.poll() is None:
            curl.kill()
            curl.wait()
    assert child.exitstatus == 0


def test_ctrl_c_while_listen_waits_for_a_client_exits_130(tmp_path: Path) -> None:
    child = spawn(tmp_path, "listen", "127.0.0.1:0")
    try:
        child.expect(r"listening on 127\.0\.0\.1:\d+; waiting for a client")
        child.sendintr()
        child.expect("h11dbg: interrupted")
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)
    assert child.exitstatus == 130
    assert "Traceback" not in (child.before or "")



def _on_screen(text: str) -> str:
    """A pattern for ``text`` as a terminal receives it: style changes may come between characters."""
    return r"(?:\x1b\[[0-9;?]*[A-Za-z])*".join(re.escape(char) for char in text)


@pytest.mark.parametrize(("columns", "toolbar"), [
    (80, "as client  peer loopback  ours IDLE  theirs IDLE  buffered 0 B  t "),  # the engine gave way
    (40, "client  us IDLE  them IDLE  buf 0"),
])
def test_the_toolbar_fits_the_terminal(tmp_path: Path, columns: int, toolbar: str) -> None:
    # the toolbar is drawn once prompt_toolkit knows where the cursor is: answer its position query
    env = {key: value for key, value in os.environ.items() if key != "PROMPT_TOOLKIT_NO_CPR"}
    child = pexpect.spawn(sys.executable, ["-m", "h11dbg", "loopback"], encoding="utf-8", timeout=10,
                          dimensions=(24, columns), env={**env, "XDG_DATA_HOME": str(tmp_path / "data")})
    try:
        child.expect(re.escape("\x1b[6n"))
        child.send("\x1b[3;1R")
        child.expect(_on_screen(toolbar))
        child.sendeof()
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)


def test_listen_tls_says_a_failed_handshake_while_it_waits_at_the_terminal(tmp_path: Path) -> None:
    # before the prompt, listen waits for a client that completes a handshake; one that fails is said
    # then (it was said only once a client got through), and the wait goes on
    child = spawn(tmp_path, "listen", "127.0.0.1:0", "--tls")
    try:
        child.expect(r"listening on 127\.0\.0\.1:(\d+); waiting for a client")
        port = int(child.match.group(1))
        with socket.create_connection(("127.0.0.1", port), timeout=10) as plain:
            plain.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            child.expect("the client sent plain HTTP to a TLS port .*; waiting for the next client")
        child.sendintr()
        child.expect("h11dbg: interrupted")
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)
    assert child.exitstatus == 130
