"""Hostile numbers from the wire, the way they were found (issue 14): a client socket sending them to
`h11dbg listen`, a transcript holding them given to `replay` and `diff`.

A Content-Length of 4300 zeros and a `5` used to make the engine raise ValueError (Python's limit on
the digits int() converts): `listen` died with a traceback, `replay` said "the engine itself failed"
and `diff` called the engines identical.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from h11dbg.replay.diff import _step_key
from h11dbg.replay.steps import ReplayStep
from h11dbg.transcript.model import Chunk, Close, Meta, Open
from h11dbg.transcript.textformat import TextWriter

ZEROS = b"0" * 4300
HEAD = b"POST /upload HTTP/1.1\r\nHost: h\r\nContent-Length: "
VALUE_AT = len(HEAD)  # the offset of the Content-Length value in the client's stream
FIVE = HEAD + ZEROS + b"5\r\n\r\nhello"  # 5, with more zeros than int() takes digits
OVER_64_BITS = HEAD + ZEROS + b"18446744073709551616\r\n\r\nhello"


def run_h11dbg(*args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "h11dbg", *args], capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL)


def listen_and_send(tmp_path: Path, request: bytes, script: str) -> tuple[int, list[dict[str, Any]], str, bytes]:
    """`h11dbg listen --json --script` with a real client socket sending ``request``; returns the
    exit status, the JSON lines, stderr and what the client received."""
    script_file = tmp_path / "serve.h11"
    script_file.write_text(script)
    proc = subprocess.Popen([sys.executable, "-m", "h11dbg", "listen", "127.0.0.1:0", "--json", "--timeout", "5",
                             "--script", str(script_file)],
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        note = json.loads(proc.stdout.readline())
        port = int(note["text"].split()[2].rsplit(":", 1)[1])
        received = b""
        with socket.create_connection(("127.0.0.1", port), timeout=10) as client:
            client.sendall(request)
            client.shutdown(socket.SHUT_WR)
            while chunk := client.recv(65536):
                received += chunk
        out, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    return proc.returncode, [note, *map(json.loads, out.splitlines())], err, received


def test_listen_reads_a_content_length_of_4300_zeros_and_a_5(tmp_path: Path) -> None:
    code, lines, err, received = listen_and_send(
        tmp_path, FIVE, "run\nresponse 200 Content-Length: 2\ndata ok\neom\n")
    assert "Traceback" not in err and code == 0, err
    request = next(line for line in lines if line.get("event") == "Request")
    assert ["Content-Length", (ZEROS + b"5").decode()] in request["headers"]
    assert any(line.get("event") == "Data" and line["data"] == "hello" for line in lines), lines
    assert received.startswith(b"HTTP/1.1 200 OK\r\n") and received.endswith(b"\r\n\r\nok")


def test_listen_refuses_a_content_length_past_64_bits_at_its_byte(tmp_path: Path) -> None:
    code, lines, err, _ = listen_and_send(tmp_path, OVER_64_BITS, "run\n")
    assert "Traceback" not in err and code == 1, err
    error = next(line for line in lines if line.get("event") == "error")
    assert (error["error"], error["rule"], error["offset"]) == (
        "RemoteProtocolError", "content-length-overflow", VALUE_AT)


def transcript(tmp_path: Path, request: bytes) -> Path:
    path = tmp_path / "hostile.h11t"
    response = b"HTTP/1.1 200 OK\r\nContent-Length: " + ZEROS + b"2\r\n\r\nok"
    with open(path, "wb") as stream:
        writer = TextWriter(stream, Meta(tool="test"))
        for record in (Open(1), Chunk(1, "c2s", request), Chunk(1, "s2c", response), Close(1, "c2s"),
                       Close(1, "s2c")):
            writer.write(record)
    return path


def test_replay_of_4300_zeros_and_a_5_parses_cleanly(tmp_path: Path) -> None:
    result = run_h11dbg("replay", str(transcript(tmp_path, FIVE)), "--json")
    assert result.returncode == 0, result.stderr
    events = [json.loads(line) for line in result.stdout.splitlines()]
    assert [e["event"] for e in events if e.get("direction")][:6] == [
        "Request", "Data", "EndOfMessage", "Response", "Data", "EndOfMessage"]
    assert "itself failed" not in result.stdout and "Traceback" not in result.stderr


def test_replay_refuses_a_content_length_past_64_bits_as_a_protocol_error(tmp_path: Path) -> None:
    result = run_h11dbg("replay", str(transcript(tmp_path, OVER_64_BITS)))
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert f"RemoteProtocolError: Content-Length too large: more than 2**64 - 1 (at byte {VALUE_AT})" in result.stdout
    assert "rule: content-length-overflow" in result.stdout
    assert "itself failed" not in result.stdout


@pytest.mark.parametrize(("request_bytes", "h11_says"), [(FIVE, "bad Content-Length"),
                                                         (OVER_64_BITS, "bad Content-Length")])
def test_diff_tells_the_engines_apart(tmp_path: Path, request_bytes: bytes, h11_says: str) -> None:
    """4300 zeros and a 5: ours reads 5, h11 refuses.  Past 64 bits both refuse, for different
    reasons in different words: that is a difference too (it used to be called identical)."""
    result = run_h11dbg("diff", str(transcript(tmp_path, request_bytes)))
    assert result.returncode == 1, result.stdout + result.stderr
    assert result.stdout.startswith("connection 1: the engines differ at step 2\n")
    assert f"RemoteProtocolError: {h11_says}" in result.stdout
    assert "1 connection(s) differ, 0 identical" in result.stderr


def test_diff_json_shows_both_errors(tmp_path: Path) -> None:
    result = run_h11dbg("diff", str(transcript(tmp_path, OVER_64_BITS)), "--json")
    assert result.returncode == 1
    found = json.loads(result.stdout.splitlines()[0])
    assert found["event"] == "diff" and found["index"] == 1
    assert (found["h11dbg"]["rule"], found["h11dbg"]["message"]) == (
        "content-length-overflow", "Content-Length too large: more than 2**64 - 1")
    assert found["h11"]["message"] == "bad Content-Length"


def error_step(error: BaseException, text: str | None = None) -> ReplayStep:
    return ReplayStep("error", 1, 0.0, "c2s", states={"client": "ERROR", "server": "IDLE"}, error=error, text=text)


def test_an_engine_crash_is_not_a_protocol_error() -> None:
    """No engine crashes on bytes any more, so this case is built by hand: a crash step, as
    replay records it, against a protocol error at the same place with the same states."""
    import h11dbg.protocol as h

    refused = error_step(h.RemoteProtocolError("bad Content-Length", rule="content-length-digits"))
    crashed = error_step(ValueError("Exceeds the limit (4300 digits)"),
                         "the engine itself failed with ValueError (an engine bug, met on bytes it should "
                         "have refused)")
    assert _step_key(refused) != _step_key(crashed)
    other_rule = error_step(h.RemoteProtocolError("bad Content-Length", rule="content-length-overflow"))
    other_words = error_step(h.RemoteProtocolError("Content-Length too large", rule="content-length-digits"))
    other_hint = error_step(h.RemoteProtocolError("bad Content-Length", 431, rule="content-length-digits"))
    for other in (other_rule, other_words, other_hint):
        assert _step_key(refused) != _step_key(other)
    again = error_step(h.RemoteProtocolError("bad Content-Length", rule="content-length-digits"))
    assert _step_key(refused) == _step_key(again)


# -- numbers in a transcript file: thousands of digits are a located error or not a port, never a crash

HUGE = "9" * 5000


@pytest.mark.parametrize(("text", "said"), [
    (f"h11dbg-transcript {HUGE}\n\n", ":1: expected 'h11dbg-transcript 1' as the first line"),
    (f"h11dbg-transcript 1\n\nc2s 1 at 0.0 len {HUGE}\n| GET\n", ":3: expected a record line"),
    (f"h11dbg-transcript 1\n\nc2s {HUGE} at 0.0 len 3\n| GET\n", ":3: expected a record line"),
])
def test_a_transcript_number_of_thousands_of_digits_is_a_located_error(tmp_path: Path, text: str,
                                                                        said: str) -> None:
    path = tmp_path / "huge.h11t"
    path.write_text(text)
    for command in (["replay", str(path)], ["diff", str(path)], ["convert", str(path), str(tmp_path / "out.h11t")]):
        result = run_h11dbg(*command)
        assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr[-300:]
        assert result.stderr.startswith(f"h11dbg: {path}{said}"), result.stderr[:200]


@pytest.mark.parametrize("port", [HUGE, "\u00b2"])
def test_a_server_port_that_cannot_be_one(tmp_path: Path, port: str) -> None:
    path = tmp_path / "port.h11t"
    path.write_text(f"h11dbg-transcript 1\n\nopen 1 at 0.0 client 127.0.0.1:1 server 127.0.0.1:{port}\n"
                    "c2s 1 at 0.0 len 3\n| GET\n")
    filtered = run_h11dbg("replay", "--server-port", "80", str(path))
    assert filtered.returncode == 2 and "Traceback" not in filtered.stderr
    assert "no connection in it names its server port" in filtered.stderr
    converted = run_h11dbg("convert", str(path), str(tmp_path / "out.pcap"))
    assert converted.returncode == 0 and "Traceback" not in converted.stderr, converted.stderr[-300:]
    assert "written as 10.0.0.2:80" in converted.stderr
