"""Absurd record times, refused where they are read (issue 14, nits 2).

A transcript time of thousands of digits was read as infinity, and a merely huge one (300 digits)
replayed and then crashed `convert` (pcap's 32-bit seconds, HAR's dates). A record's time is seconds
since the transcript's start, under 10**9 either way: each reader refuses a time past that as one line
with its place (file:line, byte offset, JSON path), exit 2, and `convert` writes nothing.
"""

from __future__ import annotations

import json
import struct
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CAPTURES = ROOT / "tests" / "data" / "captures"
TRANSCRIPT = ROOT / "transcripts" / "204-304-curl-node.h11t"
WITHIN = "is not within 1000000000 s (about 31 years) of the transcript's start"


def h11dbg(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "h11dbg", *args], capture_output=True, text=True, timeout=60,
                          stdin=subprocess.DEVNULL)


def with_time(tmp_path: Path, time: str) -> Path:
    """The 204/304 transcript with its first chunk (line 8) at ``time``."""
    text = TRANSCRIPT.read_text()
    assert text.splitlines()[7] == "c2s 1 at 0.013426 len 109"
    path = tmp_path / "absurd.h11t"
    path.write_text(text.replace("c2s 1 at 0.013426 len", f"c2s 1 at {time} len", 1))
    return path


@pytest.mark.parametrize("digits", [5000, 300, 10])
@pytest.mark.parametrize("command", [["replay"], ["replay", "--json"], ["convert", "out.pcap"],
                                     ["convert", "out.har"], ["diff", "--engines"]])
def test_a_transcript_time_of_many_digits(tmp_path: Path, digits: int, command: list[str]) -> None:
    path = with_time(tmp_path, "9" * digits + ".5")
    args = [command[0], str(path), *(arg if arg.startswith("-") else str(tmp_path / arg) for arg in command[1:])]
    result = h11dbg(*args)
    assert result.returncode == 2, result.stderr
    shown = "'" + "9" * 60 + "...'" if digits > 60 else f"'{'9' * digits}.5'"
    assert result.stderr.splitlines()[-1] == f"h11dbg: {path}:8: the time {shown} {WITHIN}"
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "out.pcap").exists() and not (tmp_path / "out.har").exists()


def test_times_within_the_bound_replay(tmp_path: Path) -> None:
    for time in ("999999999.999", "-999999999", "0." + "0" * 5000 + "1"):
        result = h11dbg("replay", str(with_time(tmp_path, time)))
        assert result.returncode == 0, result.stderr


def har(started: list[str], wait: str = "2") -> str:
    entries = [{"startedDateTime": moment,
                "request": {"method": "GET", "url": "http://127.0.0.1:8765/", "headers": []},
                "response": {"status": 204, "headers": []},
                "timings": {"send": 1, "wait": 2}} for moment in started]
    return json.dumps({"log": {"version": "1.2", "entries": entries}}).replace('"wait": 2', f'"wait": {wait}')


@pytest.mark.parametrize(("content", "error"), [
    (har(["2026-01-01T00:00:00Z"], "Infinity"), "log.entries[0].timings.wait: the time Infinity ms"),
    (har(["2026-01-01T00:00:00Z"], "1e400"), "log.entries[0].timings.wait: the time Infinity ms"),
    (har(["2026-01-01T00:00:00Z"], "NaN"), "log.entries[0].timings.wait: the time NaN ms"),
    (har(["2026-01-01T00:00:00Z"], "1" * 5000), "log.entries[0].timings.wait: the time Infinity ms"),
    (har(["2026-01-01T00:00:00Z"], "-2e12"), "log.entries[0].timings.wait: the time -2000000000000.0 ms"),
    (har(["2026-01-01T00:00:00Z", "9999-12-31T23:59:59Z"]), "log.entries[1].startedDateTime: the time 251635075199 s"),
    (har(["9999-12-31T23:59:59+14:00", "0001-01-01T00:00:00-14:00"]),
     "log.entries[0].startedDateTime: the time 315537796799 s"),
])
def test_a_har_time_out_of_bounds(tmp_path: Path, content: str, error: str) -> None:
    path = tmp_path / "absurd.har"
    path.write_text(content)
    result = h11dbg("replay", str(path))
    assert result.returncode == 2
    assert result.stderr.splitlines() == [f"h11dbg: {path}: {error} {WITHIN}"]


def test_a_pcap_time_stamp_out_of_bounds(tmp_path: Path) -> None:
    capture = bytearray((CAPTURES / "http-lo.pcap").read_bytes())
    seconds, _, captured, _ = struct.unpack_from("<IIII", capture, 24)
    second = 24 + 16 + captured  # the second record
    struct.pack_into("<I", capture, second, seconds + 2_000_000_000)
    path = tmp_path / "late.pcap"
    path.write_bytes(capture)
    result = h11dbg("convert", str(path), str(tmp_path / "out.har"))
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        f"h11dbg: {path}: byte {second}: corrupt time stamp: the time 2000000000 s after the first packet {WITHIN}"]
    assert not (tmp_path / "out.har").exists()


def test_a_pcapng_time_stamp_out_of_bounds(tmp_path: Path) -> None:
    capture = bytearray((CAPTURES / "http-lo.pcapng").read_bytes())
    blocks, at = [], 0
    while at < len(capture):
        kind, length = struct.unpack_from("<II", capture, at)
        if kind == 6:  # an enhanced packet block: interface, time stamp (high, low), ...
            blocks.append(at)
        at += length
    struct.pack_into("<I", capture, blocks[1] + 12, 0xFFFFFFFF)
    path = tmp_path / "late.pcapng"
    path.write_bytes(capture)
    result = h11dbg("replay", str(path))
    assert result.returncode == 2
    line, = result.stderr.splitlines()
    assert line.startswith(f"h11dbg: {path}: byte {blocks[1]}: corrupt time stamp: the time ")
    assert line.endswith(f" s after the first packet {WITHIN}")


def test_a_curl_trace_that_crosses_midnight_for_ever(tmp_path: Path) -> None:
    """--trace-time stamps only say the time of day: each step back counts as a new day, so 11 575
    steps back run past the bound."""
    lines = ["23:00:00.000000 == Info: Connected to h (127.0.0.1) port 80 (#0)"]
    lines += ["01:00:00.000000 == Info: x\n23:00:00.000000 == Info: x"] * 11_575
    path = tmp_path / "trace.txt"
    path.write_text("\n".join(lines) + "\n")
    result = h11dbg("replay", str(path))
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        f"h11dbg: {path}:23150: the time 1000000800 s {WITHIN}: 01:00:00.000000 == Info: x"]
