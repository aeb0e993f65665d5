"""An error's offending bytes and the value its message quotes are cut to a readable line (issue 14,
nits 4): a 4302-byte Content-Length value used to be printed whole, twice (message and offending bytes),
and three times in the transition line; in JSON a 13 KB line. Now the first 64 bytes, "…" and the length,
in text and JSON alike (the offset stays exact)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from h11dbg.transcript.model import Chunk, Meta, Open
from h11dbg.transcript.textformat import TextWriter

VALUE = b"0" * 4300 + b"x5"
REQUEST = b"POST /upload HTTP/1.1\r\nHost: h\r\nContent-Length: " + VALUE + b"\r\n\r\nhello"
SHOWN = "0" * 64 + "… (4302 bytes)"
MESSAGE = f"bad Content-Length b'{'0' * 64}'… (4302 bytes): only digits are allowed"


def transcript(tmp_path: Path) -> Path:
    path = tmp_path / "long.h11t"
    with open(path, "wb") as stream:
        writer = TextWriter(stream, Meta())
        writer.write(Open(1, 0.0, "127.0.0.1:1", "127.0.0.1:2"))
        writer.write(Chunk(1, "c2s", REQUEST, 0.1))
    return path


def replay(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "h11dbg", "replay", *args], capture_output=True, text=True,
                          timeout=60, stdin=subprocess.DEVNULL)


def test_text_output_stays_readable(tmp_path: Path) -> None:
    result = replay(str(transcript(tmp_path)))
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert max(map(len, lines)) < 300
    assert f"c2s ERROR RemoteProtocolError: {MESSAGE} (at byte 48)" in result.stdout
    assert f"offending bytes: {SHOWN}" in [line.strip() for line in lines]


def test_json_keeps_the_offset_and_an_excerpt(tmp_path: Path) -> None:
    result = replay(str(transcript(tmp_path)), "--json")
    assert result.returncode == 1
    assert max(map(len, result.stdout.splitlines())) < 1000
    error, = (record for record in map(json.loads, result.stdout.splitlines()) if record["event"] == "error")
    assert (error["message"], error["offset"], error["offending"]) == (MESSAGE, 48, SHOWN)
    assert error["rule"] == "content-length-digits"


def test_short_values_are_shown_whole(tmp_path: Path) -> None:
    path = tmp_path / "short.h11t"
    with open(path, "wb") as stream:
        writer = TextWriter(stream, Meta())
        writer.write(Open(1, 0.0, "127.0.0.1:1", "127.0.0.1:2"))
        writer.write(Chunk(1, "c2s", b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5x\r\n\r\n", 0.1))
    error, = (r for r in map(json.loads, replay(str(path), "--json").stdout.splitlines()) if r["event"] == "error")
    assert (error["message"], error["offending"]) == ("bad Content-Length b'5x': only digits are allowed", "5x")
