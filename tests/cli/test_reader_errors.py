"""Unreadable files as `h11dbg replay FILE` meets them: every reader's error says where (file:line for
text formats, byte offset for captures, JSON path for HAR), one line, exit 2 — never the catch-all
"cannot read as FMT: ValueError: ..." with no location (issue 14, nits 1).

Each input was crafted against a path that reached the catch-all: Python's limit on the digits int()
converts (a HAR number, a curl block size), JSON nested past the decoder's stack, lone surrogates that
no bytes encode (HAR strings), a dump offset of thousands of hex digits.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from h11dbg.transcript import formats, open_transcript
from h11dbg.transcript.formats import TranscriptError
from h11dbg.transcript.model import Chunk, Meta, Transcript

CAPTURES = Path(__file__).resolve().parents[1] / "data" / "captures"


def replay(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "h11dbg", "replay", str(path)], capture_output=True, text=True,
                          timeout=60, stdin=subprocess.DEVNULL)


def har(**changes: Any) -> str:
    entry: dict[str, Any] = {
        "startedDateTime": "2026-11-25T08:48:08.211Z",
        "request": {"method": "GET", "url": "http://127.0.0.1:8765/hello", "httpVersion": "HTTP/1.1",
                    "headers": [{"name": "Host", "value": "127.0.0.1:8765"}]},
        "response": {"status": 200, "statusText": "OK", "httpVersion": "HTTP/1.1", "headers": [],
                     "content": {"size": 5, "text": "hello"}},
        "timings": {"send": 1, "wait": 2},
    }
    entry.update(changes)
    return json.dumps({"log": {"version": "1.2", "creator": {"name": "test", "version": "1"}, "entries": [entry]}})


TRACE = (CAPTURES / "http-trace.txt").read_text(encoding="latin-1")

# (file name, content, the error after "h11dbg: FILE")
CASES = [
    ("status-digits.har", har().replace('"status": 200', '"status": ' + "2" * 5000),
     ": log.entries[0].response.status: expected int, got Infinity"),
    ("deep.har", '{"log": ' + "[" * 100_000 + "]" * 100_000 + "}",
     ": byte 207: JSON nested more than 200 levels deep"),
    ("surrogate-method.har", har().replace('"GET"', '"G\\ud800T"'),
     ": log.entries[0].request.method: a lone surrogate \\ud800 at character 1 (not text)"),
    ("surrogate-header.har", har().replace('"value": "127.0.0.1:8765"', '"value": "\\udc00"'),
     ": log.entries[0].request.headers[0].value: a lone surrogate \\udc00 at character 0 (not text)"),
    ("surrogate-body.har", har().replace('"text": "hello"', '"text": "hi \\udfff"'),
     ": log.entries[0].response.content.text: a lone surrogate \\udfff at character 3 (not text)"),
    ("surrogate-param.har",
     har(request={"method": "POST", "url": "http://h/", "postData": {"params": [{"name": "a", "value": "\\udc01"}]}}
         ).replace("\\\\udc01", "\\udc01"),
     ": log.entries[0].request.postData.params[0].value: a lone surrogate \\udc01 at character 0 (not text)"),
    ("surrogate-ip.har", har(serverIPAddress="\\ud83d").replace("\\\\ud83d", "\\ud83d"),
     ": log.entries[0].serverIPAddress: a lone surrogate \\ud83d at character 0 (not text)"),
    ("surrogate-creator.har", har().replace('"name": "test"', '"name": "\\ud800"'),
     ": log.creator.name: a lone surrogate \\ud800 at character 0 (not text)"),
    ("block-size.txt", TRACE.replace("83 bytes (0x53)", "9" * 5000 + " bytes (0x53)"),
     ":3: a block size of more than 16 digits: => Send header, " + "9" * 48 + "… (5029 bytes)"),
    ("dump-offset.txt", TRACE.replace("0010: 31 2e 31", "f" * 5000 + ": 31 2e 31", 1),
     ":5: a dump offset of more than 16 hex digits: " + "f" * 64 + "… (5066 bytes)"),
]


@pytest.mark.parametrize(("name", "content", "error"), CASES, ids=[case[0] for case in CASES])
def test_an_unreadable_file_is_one_located_line(tmp_path: Path, name: str, content: str, error: str) -> None:
    path = tmp_path / name
    path.write_text(content, encoding="latin-1" if name.endswith(".txt") else "utf-8")
    result = replay(path)
    assert result.returncode == 2
    assert result.stderr.splitlines() == [f"h11dbg: {path}{error}"]
    assert result.stdout == ""


def test_the_last_resort_names_the_file_and_asks_for_a_report(tmp_path: Path) -> None:
    """A reader that raises something other than TranscriptError is a bug: the catch-all still makes it
    one line naming the file, and says so."""
    def read(path: Path) -> Transcript:
        def records() -> Any:
            yield Chunk(1, "c2s", b"GET")
            raise ValueError("an unforeseen case")

        return Transcript(Meta(), records())

    formats.register("nits-test", lambda head: head.startswith(b"NITS"), read)
    try:
        path = tmp_path / "x.nits"
        path.write_bytes(b"NITS")
        with pytest.raises(TranscriptError) as caught:
            list(open_transcript(path))
    finally:
        formats._FORMATS.pop("nits-test")
    assert str(caught.value) == (f"{path}: cannot read as nits-test: ValueError: an unforeseen case (a bug in "
                                 "h11dbg's nits-test reader: please report it with this file)")
