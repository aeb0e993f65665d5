"""End to end: the committed captures through ``h11dbg replay`` (a real subprocess)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from support.captures import CAPTURES

from h11dbg.engines import ENGINE_NAMES

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
    """The replay's lines but its timing lines (tests/replay/test_timing.py looks at those)."""
    return [line for line in map(json.loads, stdout.splitlines()) if line["event"] != "timing"]


def names(lines: list[dict]) -> list[str]:
    return [f"{e['direction']} {e['event']}" if e["direction"] else e["event"] for e in lines]


@pytest.mark.parametrize("name", ["http-lo.pcap", "http-lo.pcapng", "http-ipv6.pcap", "http-trace.txt"])
@pytest.mark.parametrize("engine", ENGINE_NAMES)
def test_replay_of_the_keep_alive_connection(name: str, engine: str) -> None:
    result = replay("--json", "--port", "8765", "--engine", engine, str(CAPTURES / name))
    assert result.returncode == EXIT_OK, result.stderr
    lines = events(result.stdout)
    closing = ["end"] if name.endswith(".txt") else CLOSED_BY_FINS
    assert names(lines) == KEEP_ALIVE_EVENTS + closing
    assert {e["conn"] for e in lines} == {1}
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
    assert [(e["conn"], e["server"]) for e in opens] == [(1, "127.0.0.1:8765"), (2, "127.0.0.1:8766")]
    # the second connection: one HTTP/1.0 response, then both sides close
    conn1 = names([e for e in lines if e["conn"] == 2])
    assert conn1[:6] == ["open", "c2s Request", "c2s EndOfMessage", "s2c Response", "s2c Data",
                         "s2c EndOfMessage"]
    assert sorted(conn1[6:-1]) == ["c2s ConnectionClosed", "c2s close", "s2c ConnectionClosed", "s2c close"]
    assert conn1[-1] == "end"
    file_request = next(e for e in lines if e["conn"] == 2 and e["event"] == "Request")
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
    from support.captures import CLIENT, SERVER

    from bench.pcapsynth import tcp_frame, write_pcap
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


GAP_NOTE = "note: pcap input is lossy: connection 1 client→server: bytes missing at stream offset 48 (5 bytes)"


def test_a_gap_in_a_capture_is_noted_where_replay_finds_it(tmp_path: Path) -> None:
    # one pass over the capture: the note comes between the events before the gap and those after it
    result = replay(str(_gappy_capture(tmp_path)))
    assert result.returncode == EXIT_OK, result.stderr
    lines = result.stdout.splitlines()
    notes = [i for i, line in enumerate(lines) if line.startswith("note:")]
    assert len(notes) == 1 and lines[notes[0]].startswith(GAP_NOTE)
    request = next(i for i, line in enumerate(lines) if "c2s Request POST /" in line)
    response = next(i for i, line in enumerate(lines) if "s2c Response HTTP/1.1 200" in line)
    assert request < notes[0] < response
    assert "pcap input is lossy (1 note(s) above)" in result.stderr


def test_a_gap_in_a_capture_is_a_json_lossy_line_where_it_is_found(tmp_path: Path) -> None:
    result = replay("--json", str(_gappy_capture(tmp_path)))
    assert result.returncode == EXIT_OK, result.stderr
    lines = events(result.stdout)
    assert [e["event"] for e in lines] == ["open", "Request", "lossy", "Response", "EndOfMessage", "end"]
    lossy = lines[2]
    assert lossy["conn"] is None and lossy["source_format"] == "pcap" and set(lossy) == {
        "conn", "event", "source_format", "lossy"}
    assert "stream offset 48 (5 bytes)" in lossy["lossy"]


def test_a_capture_without_gaps_has_no_note(tmp_path: Path) -> None:
    result = replay("--port", "8765", str(CAPTURES / "http-lo.pcap"))
    assert result.returncode == EXIT_OK, result.stderr
    assert "lossy" not in result.stdout and "lossy" not in result.stderr


def test_convert_keeps_a_capture_gap_in_the_file_header(tmp_path: Path) -> None:
    out = tmp_path / "gap.txt"
    converted = subprocess.run([sys.executable, "-m", "h11dbg", "convert", str(_gappy_capture(tmp_path)), str(out)],
                               capture_output=True, text=True, timeout=60, check=False)
    assert converted.returncode == EXIT_OK, converted.stderr
    header = out.read_text().split("\n\n", 1)[0]
    assert "lossy:" in header and "stream offset 48 (5 bytes)" in header
    # the converted file is lossy as a whole: its replay says so before the first event
    assert replay(str(out)).stdout.splitlines()[0].startswith("note: pcap input is lossy: connection 1")


def test_diff_names_a_capture_gap(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "h11dbg", "diff", str(_gappy_capture(tmp_path))],
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == EXIT_OK, result.stderr
    assert result.stderr.splitlines()[0].startswith(GAP_NOTE)
    assert "connection 1: identical" in result.stdout


def test_convert_of_a_truncated_capture_is_one_located_line_and_no_file(tmp_path: Path) -> None:
    cut = tmp_path / "cut.pcap"
    cut.write_bytes((CAPTURES / "http-lo.pcap").read_bytes()[:1000])
    out = tmp_path / "cut.txt"
    result = subprocess.run([sys.executable, "-m", "h11dbg", "convert", str(cut), str(out)],
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == EXIT_USAGE
    assert result.stderr.count("\n") == 1 and f"{cut}: byte " in result.stderr and "ends inside" in result.stderr
    assert not out.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["cut.pcap"]
