"""Per-exchange timing in a replay of a timestamped capture: request sent -> first response byte ->
last response byte, a timing line after each completed response, the slowest exchanges in the
summary; on real recordings (ours, pcap, curl --trace --trace-time, HAR)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CAPTURES = ROOT / "tests" / "data" / "captures"
PIPELINING = ROOT / "transcripts" / "pipelining-raw-node.h11t"


def _replay(path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "h11dbg", "replay", str(path), *args], capture_output=True,
                          text=True, timeout=60)


def test_each_pipelined_response_gets_its_timing_from_its_request(engine_name: str) -> None:
    done = _replay(PIPELINING, "--json", "--engine", engine_name)
    assert done.returncode == 0
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    timings = [line for line in lines if line["event"] == "timing"]
    # the three requests arrived at 0.004785 in one write; the responses at .006205, .006633, .006965
    assert timings == [
        {"event": "timing", "conn": 1, "timing": {"dns": None, "connect": None, "tls": None,
                                                  "first_byte": first, "total": first}, "time": at}
        for first, at in ((0.00142, 0.006205), (0.001848, 0.006633), (0.00218, 0.006965))]
    # each right after the response's EndOfMessage
    for timing in timings:
        before = lines[lines.index(timing) - 1]
        assert (before["event"], before["direction"]) == ("EndOfMessage", "s2c")


def test_plain_text_and_the_slowest_exchanges(engine_name: str) -> None:
    done = _replay(PIPELINING, "--no-headers", "--engine", engine_name)
    assert done.returncode == 0
    assert ("[1]   0.006205 s2c timing: GET /p1: first byte after 0.001420 s, last byte after 0.001420 s   "
            "client=DONE server=DONE") in done.stdout
    assert done.stderr == (
        "1 connection(s), all parsed cleanly\n"
        "slowest exchanges: [1] GET /p3 0.002180 s (first byte after 0.002180 s); "
        "[1] GET /p2 0.001848 s (first byte after 0.001848 s); [1] GET /p1 0.001420 s (first byte after 0.001420 s)\n")


@pytest.mark.parametrize("name", ["http-lo.pcap", "http-trace-ascii.txt", "http.har"])
def test_captures_with_times_get_timings(name: str) -> None:
    done = _replay(CAPTURES / name, "--json")
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    timings = [line["timing"] for line in lines if line["event"] == "timing"]
    responses = [line for line in lines if line["event"] == "Response"]
    # /hello twice, /echo, /chunked, /file.txt (and the HAR's own /data?x=1&y=2)
    assert len(timings) == len(responses) == (6 if name == "http.har" else 5)
    assert all(0 <= t["first_byte"] <= t["total"] < 5 for t in timings)
    if name != "http.har":  # GET /chunked writes its chunks 0.1 s apart: its last byte comes late
        chunked = timings[3]
        assert chunked["total"] >= 0.2 > chunked["first_byte"]
        assert "slowest exchanges: [1] GET /chunked " in _replay(CAPTURES / name).stderr


def test_a_trace_without_times_has_no_timing() -> None:
    done = _replay(CAPTURES / "http-trace.txt", "--json")  # curl --trace without --trace-time: all at 0.0
    assert done.returncode == 0
    assert '"timing"' not in done.stdout
    assert "slowest" not in _replay(CAPTURES / "http-trace.txt").stderr
