"""curl 7.88's --trace and --trace-ascii leave out the empty line after an interim ``100 Continue``
head when curl sends the body before the final response; the importer puts it back and says so.

The fixtures are real: transcripts/record_all.py ran curl (``-H 'Expect: 100-continue'
--data-binary @64k.bin``, under --trace, then under --trace-ascii) through ``h11dbg record`` to
uvicorn, so transcripts/expect-100-continue-64k-curl-uvicorn.h11t holds the bytes that crossed the
wire for the same two connections (conn 1 traced with --trace, conn 2 with --trace-ascii)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from h11dbg.transcript import open_transcript
from h11dbg.transcript.model import Chunk

ROOT = Path(__file__).resolve().parents[2]
CAPTURES = ROOT / "tests" / "data" / "captures"
TRACE = CAPTURES / "expect-100-curl-trace.txt"
TRACE_ASCII = CAPTURES / "expect-100-curl-trace-ascii.txt"
RECORDED = ROOT / "transcripts" / "expect-100-continue-64k-curl-uvicorn.h11t"
H11DBG = [sys.executable, "-m", "h11dbg"]
RESTORED = ("curl did not record the empty line (CRLF) that ends an interim 1xx header block when it sent the "
            "body before the final response; restored 1 time(s) (connection 1 at ")


def _streams(path: Path, conn: int) -> dict[str, bytes]:
    streams = {"c2s": b"", "s2c": b""}
    for record in open_transcript(path):
        if isinstance(record, Chunk) and record.conn == conn:
            streams[record.direction] += record.data
    return streams


def test_the_trace_misses_the_empty_line_the_wire_had() -> None:
    """What the fix is for: the 100's head in curl's trace ends after its status line."""
    trace = TRACE.read_text()
    head = trace.split("<= Recv header, 23 bytes (0x17)\n", 1)[1].split("\n", 3)
    assert head[1].startswith("0010: 74 69 6e 75 65 0d 0a ") and "=> Send data, 65536 bytes" in head[2]
    assert _streams(RECORDED, 1)["s2c"].startswith(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n")


@pytest.mark.parametrize("trace", [TRACE, TRACE_ASCII], ids=["trace", "trace-ascii"])
def test_replay_reads_the_100_the_200_and_its_body_cleanly(trace: Path, engine_name: str) -> None:
    done = subprocess.run([*H11DBG, "replay", str(trace), "--json", "--engine", engine_name],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    assert lines[0]["event"] == "lossy" and RESTORED in lines[0]["lossy"]
    assert [(line.get("direction"), line["event"]) for line in lines[1:]] == [
        (None, "open"), ("c2s", "Request"), ("s2c", "InformationalResponse"), ("c2s", "Data"),
        ("c2s", "EndOfMessage"), ("s2c", "Response"), ("s2c", "Data"), ("s2c", "EndOfMessage"), (None, "timing"),
        (None, "cycle"), (None, "end")]
    assert lines[3]["status_code"] == 100 and lines[6]["status_code"] == 200
    assert lines[4]["data"].startswith("line 00000 of a 64 KiB request body ......")  # the whole 64 KiB: one Data
    assert lines[7]["data"].startswith("POST /upload 65536 bytes")
    plain = subprocess.run([*H11DBG, "replay", str(trace), "--no-headers"], capture_output=True, text=True,
                           timeout=60)
    assert plain.returncode == 0
    assert plain.stdout.startswith(f"note: {'curl-trace' if trace is TRACE else 'curl-trace-ascii'} input is "
                                   "lossy: ")
    assert RESTORED in plain.stdout.splitlines()[0]
    assert "all parsed cleanly; " in plain.stderr


def test_the_restored_trace_holds_the_bytes_that_crossed_the_wire(tmp_path: Path) -> None:
    """--trace is exact: with the CRLF put back, each direction is byte for byte what the proxy saw."""
    converted = tmp_path / "trace.h11t"
    done = subprocess.run([*H11DBG, "convert", str(TRACE), str(converted)], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    assert _streams(converted, 1) == _streams(RECORDED, 1)
    assert RESTORED in converted.read_text().split("\n\n", 1)[0]  # the note is kept in the file's header
    # --trace-ascii shows the body's LF as '.', but the lengths and the heads are right again
    ascii_streams, wire = _streams(TRACE_ASCII, 1), _streams(RECORDED, 2)
    assert {d: len(b) for d, b in ascii_streams.items()} == {d: len(b) for d, b in wire.items()}
    assert ascii_streams["s2c"][:40] == wire["s2c"][:40]


def test_a_head_that_has_its_empty_line_is_left_alone(tmp_path: Path) -> None:
    """Only a 1xx head that the next status line or the client's bytes show to be over is mended."""
    whole = tmp_path / "whole.txt"
    whole.write_text(TRACE.read_text().replace(
        "<= Recv header, 23 bytes (0x17)\n0000: 48 54 54 50 2f 31 2e 31 20 31 30 30 20 43 6f 6e HTTP/1.1 100 Con\n"
        "0010: 74 69 6e 75 65 0d 0a                            tinue..\n",
        "<= Recv header, 23 bytes (0x17)\n0000: 48 54 54 50 2f 31 2e 31 20 31 30 30 20 43 6f 6e HTTP/1.1 100 Con\n"
        "0010: 74 69 6e 75 65 0d 0a                            tinue..\n"
        "17:56:18.208352 <= Recv header, 2 bytes (0x2)\n0000: 0d 0a                                           ..\n"))
    done = subprocess.run([*H11DBG, "replay", str(whole), "--json"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "lossy" not in done.stdout
    assert _streams(whole, 1) == _streams(RECORDED, 1)
