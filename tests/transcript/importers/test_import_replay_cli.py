"""End to end: the committed captures through ``h11dbg replay`` (a real subprocess)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from capture_helpers import CAPTURES

EXIT_OK, EXIT_USAGE = 0, 2

KEEP_ALIVE_EVENTS = [
    "open",
    "c2s Request", "c2s EndOfMessage", "s2c Response", "s2c Data", "s2c EndOfMessage", "cycle",
    "c2s Request", "c2s EndOfMessage", "s2c Response", "s2c Data", "s2c EndOfMessage", "cycle",
    "c2s Request", "c2s Data", "c2s EndOfMessage", "s2c Response", "s2c Data", "s2c EndOfMessage", "cycle",
    "c2s Request", "c2s EndOfMessage", "s2c Response", "s2c Data", "s2c Data", "s2c Data",
    "s2c EndOfMessage", "cycle",
]
# the capture saw both FINs (curl closed first); curl's trace logs no close for a kept-alive connection
CLOSED_BY_FINS = ["c2s close", "c2s ConnectionClosed", "s2c close", "s2c ConnectionClosed", "end"]


def replay(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "h11dbg", "replay", *args],
        capture_output=True, text=True, timeout=60, check=False,
    )


def events(stdout: str) -> list[dict]:
    return [json.loads(line) for line in stdout.splitlines()]


def names(lines: list[dict]) -> list[str]:
    return [f"{e['direction']} {e['event']}" if e["direction"] else e["event"] for e in lines]


@pytest.mark.parametrize("name", ["http-lo.pcap", "http-lo.pcapng", "http-ipv6.pcap", "http-trace.txt"])
@pytest.mark.parametrize("engine", ["h11dbg", "h11"])
def test_replay_of_the_keep_alive_connection(name: str, engine: str) -> None:
    result = replay("--json", "--port", "8765", "--engine", engine, str(CAPTURES / name))
    assert result.returncode == EXIT_OK, result.stderr
    lines = events(result.stdout)
    closing = ["end"] if name.endswith(".txt") else CLOSED_BY_FINS
    assert names(lines) == KEEP_ALIVE_EVENTS + closing
    assert {e["conn"] for e in lines} == {0}
    post = next(e for e in lines if e["event"] == "Request" and e["method"] == "POST")
    assert post["target"] == "/echo"
    bodies = [e["data"] for e in lines if e["event"] == "Data" and e["direction"] == "s2c"]
    assert bodies == ["hello, world\\n", "hello, world\\n", "line one\\r\\nline two\\nNUL:\\x00:end",
                      "first\\n", "second chunk\\n", "third\\n"]
    final = "IDLE" if name.endswith(".txt") else "CLOSED"
    assert lines[-1]["states"] == {"client": final, "server": final}


@pytest.mark.parametrize("name", ["http-lo.pcap", "http-any-sll.pcap", "http-trace.txt"])
def test_replay_of_the_whole_capture_sees_both_connections(name: str) -> None:
    result = replay("--json", str(CAPTURES / name))
    assert result.returncode == EXIT_OK, result.stderr
    lines = events(result.stdout)
    opens = [e for e in lines if e["event"] == "open"]
    assert [(e["conn"], e["server"]) for e in opens] == [(0, "127.0.0.1:8765"), (1, "127.0.0.1:8766")]
    # the second connection: one HTTP/1.0 response, then both sides close
    conn1 = names([e for e in lines if e["conn"] == 1])
    assert conn1[:6] == ["open", "c2s Request", "c2s EndOfMessage", "s2c Response", "s2c Data",
                         "s2c EndOfMessage"]
    assert sorted(conn1[6:-1]) == ["c2s ConnectionClosed", "c2s close", "s2c ConnectionClosed", "s2c close"]
    assert conn1[-1] == "end"
    file_request = next(e for e in lines if e["conn"] == 1 and e["event"] == "Request")
    assert file_request["target"] == "/file.txt"


def test_replay_of_a_har_file() -> None:
    result = replay("--json", "--port", "8765", str(CAPTURES / "http.har"))
    assert result.returncode == EXIT_OK, result.stderr
    lines = events(result.stdout)
    # the HAR keeps the chunked body decoded: it comes back as one chunk
    assert [e["data"] for e in lines if e["event"] == "Data" and e["direction"] == "s2c"][-1] == (
        "first\\nsecond chunk\\nthird\\n")


def test_replay_of_a_truncated_capture_is_one_located_line(tmp_path: Path) -> None:
    data = (CAPTURES / "http-lo.pcap").read_bytes()
    cut = tmp_path / "cut.pcap"
    cut.write_bytes(data[:1000])
    result = replay("--json", str(cut))
    assert result.returncode == EXIT_USAGE
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and f"{cut}: byte " in lines[0] and "ends inside a record" in lines[0]
    assert "Traceback" not in result.stderr


def test_replay_of_an_ascii_trace_says_it_is_lossy() -> None:
    result = replay("--port", "8765", str(CAPTURES / "http-trace-ascii.txt"))
    assert result.returncode == EXIT_OK, result.stderr
    first = result.stdout.splitlines()[0]
    assert "lossy" in first and "'.'" in first
    assert "POST /echo" in result.stdout


def _gappy_capture(tmp_path: Path) -> Path:
    from capture_helpers import CLIENT, SERVER, tcp_frame, write_pcap

    from h11dbg.transcript.importers.tcp import ACK, SYN

    head = b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n"
    n = len(head)
    return write_pcap(tmp_path / "gap.pcap", [
        tcp_frame(CLIENT, SERVER, 1000, 0, SYN),
        tcp_frame(SERVER, CLIENT, 5000, 1001, SYN | ACK),
        tcp_frame(CLIENT, SERVER, 1001, 5001, ACK, head),
        tcp_frame(CLIENT, SERVER, 1001 + n + 5, 5001, ACK, b"67890"),  # 5 body bytes never captured
        tcp_frame(SERVER, CLIENT, 5001, 1001 + n + 10, ACK, b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"),
    ])


def test_a_gap_in_a_capture_is_announced_by_replay_and_kept_by_convert(tmp_path: Path) -> None:
    path = _gappy_capture(tmp_path)
    result = replay(str(path))
    assert "lossy" in result.stdout.splitlines()[0] and "stream offset 48" in result.stdout.splitlines()[0]
    out = tmp_path / "gap.txt"
    converted = subprocess.run([sys.executable, "-m", "h11dbg", "convert", str(path), str(out)],
                               capture_output=True, text=True, timeout=60, check=False)
    assert converted.returncode == EXIT_OK, converted.stderr
    header = out.read_text().split("\n\n", 1)[0]
    assert "lossy:" in header and "stream offset 48 (5 bytes)" in header
